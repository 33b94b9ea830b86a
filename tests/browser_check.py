"""Open every page of a built book from disk in headless Chromium with no network,
and report charts that did not render, console errors and requests that tried to
leave the machine. Used by tests/test_book.py; runnable by hand:

    .venv/bin/python tests/browser_check.py _build/html
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND"]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def ensure_chromium() -> str:
    path = chromium_path()
    if path:
        return path
    if shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        path = chromium_path()
        if path:
            return path
        subprocess.run(["apt-get", "update", "-q"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = chromium_path()
    if not path:
        raise RuntimeError("no Chromium: install Debian's `chromium` package (apt-get install chromium)")
    return path


def check_site(html_root: Path) -> dict[str, list[str]]:
    from playwright.sync_api import sync_playwright

    problems: dict[str, list[str]] = {}
    pages = sorted(p for p in html_root.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=ensure_chromium(), args=CHROMIUM_ARGS, headless=True)
        for page_path in pages:
            errors: list[str] = []
            page = browser.new_page()
            page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.on("request", lambda r: errors.append(f"request left the machine: {r.url}")
                    if not r.url.startswith(("file:", "data:", "blob:", "about:")) else None)
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            page.wait_for_timeout(300)
            charts = page.locator(".altair-chart")
            for i in range(charts.count()):
                c = charts.nth(i)
                try:
                    c.locator("svg, canvas").first.wait_for(state="attached", timeout=20000)
                except Exception:
                    errors.append(f"chart {i} ({c.get_attribute('id')}) did not render")
            math = page.locator(".math")
            if math.count():
                try:
                    page.locator("mjx-container").first.wait_for(state="attached", timeout=20000)
                except Exception:
                    errors.append("math did not render (no mjx-container)")
            if errors:
                problems[str(page_path.relative_to(html_root))] = errors
            page.close()
        browser.close()
    return problems


if __name__ == "__main__":
    found = check_site(Path(sys.argv[1] if len(sys.argv) > 1 else "_build/html"))
    for page, errs in found.items():
        print(page)
        for e in errs:
            print("   ", e)
    print("all pages clean" if not found else f"{len(found)} page(s) with problems")
    sys.exit(1 if found else 0)
