"""A Sphinx extension for an offline book: jupyter-book 1.x registers some scripts
twice (sphinx-thebe's inline `const THEBE_JS_URL`, togglebutton's settings, MathJax),
which throws "already declared" errors in the browser. Keep the first of each."""


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for js in context.get("script_files", []):
        filename = getattr(js, "filename", str(js))
        body = getattr(js, "attributes", {}).get("body")
        key = ("inline", body) if not filename else ("file", filename)
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
