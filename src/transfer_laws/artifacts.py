"""Pinned registry artifacts: fetch them with the registry's own client, verify
their sha256, and read the files inside them with Python alone.

An artifact is one file from one registry at one exact version:

- ``deb``: a Debian binary package, fetched with ``apt-get download NAME=VERSION``;
- ``wheel``: a PyPI pure-Python wheel, fetched with ``pip download --only-binary :all:``
  (a pure-Python wheel holds the package's source files and needs no build step);
- ``sdist``: a PyPI source distribution, fetched with ``pip download --no-binary :all:``;
- ``npm``: an npm tarball, fetched with ``npm pack NAME@VERSION``.

Machines without apt (or pip, or npm) can place the file in the artifact cache by
hand (the error message says where and under which name); the checksum in the
manifest decides whether it is accepted.

A Debian machine as it comes has empty package lists, so ``apt-get download`` knows
no package until ``apt-get update``. When apt answers that it does not know the
package or version, ``fetch`` runs ``apt-get update`` once (when running as root)
and retries; otherwise it stops with a message that says to run
``sudo apt-get update`` and then the build again.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


class ArtifactError(RuntimeError):
    """An artifact could not be fetched or does not match its pinned checksum."""


@dataclass(frozen=True)
class Artifact:
    registry: str  # deb | wheel | sdist | npm
    name: str
    version: str

    @classmethod
    def parse(cls, key: str) -> "Artifact":
        """``"deb:dict-gcide==0.48.5+nmu2"`` -> Artifact."""
        try:
            registry, rest = key.split(":", 1)
            name, version = rest.split("==", 1)
        except ValueError:
            raise ArtifactError(f"bad artifact key {key!r}; expected 'registry:name==version'") from None
        if registry not in ("deb", "wheel", "sdist", "npm"):
            raise ArtifactError(f"bad artifact key {key!r}: unknown registry {registry!r}")
        return cls(registry, name, version)

    @property
    def key(self) -> str:
        return f"{self.registry}:{self.name}=={self.version}"

    @property
    def filename(self) -> str:
        safe = self.version.replace(":", "%3a")
        ext = {"deb": ".deb", "wheel": ".whl", "sdist": ".sdist", "npm": ".tgz"}[self.registry]
        return f"{self.registry}-{self.name}-{safe}{ext}"

    def fetch_command(self, dest: Path) -> list[str]:
        if self.registry == "deb":
            return ["apt-get", "download", f"{self.name}={self.version}"]
        if self.registry == "wheel":
            return [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                    "-d", str(dest), f"{self.name}=={self.version}"]
        if self.registry == "sdist":
            return [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                    "--no-build-isolation", "-d", str(dest), f"{self.name}=={self.version}"]
        if self.registry == "npm":
            return ["npm", "pack", "--silent", f"{self.name}@{self.version}"]
        raise ArtifactError(f"unknown registry {self.registry!r} for {self.name}")


# What apt says when its package lists do not have the package or the version.
_APT_UNKNOWN = re.compile(r"Unable to locate package|Can't select candidate version|"
                          r"has no installation candidate|Version '.*' for '.*' was not found|"
                          r"Can't find a source to download")
_apt_updated = False  # apt-get update runs at most once per process


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _apt_update() -> None:
    global _apt_updated
    _apt_updated = True
    proc = subprocess.run(["apt-get", "update"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ArtifactError(f"`apt-get update` failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}\n"
                            f"Check that the Debian mirrors in /etc/apt/sources.list are reachable.")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(artifact: Artifact, cache: Path, expected_sha256: str | None) -> Path:
    """Return the cached file of ``artifact``, downloading it when absent or when
    its checksum differs from ``expected_sha256``."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / artifact.filename
    if path.exists() and (expected_sha256 is None or sha256_file(path) == expected_sha256):
        return path
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        cmd = artifact.fetch_command(Path(tmp).resolve())
        client = cmd[0]
        if shutil.which(client) is None:
            raise ArtifactError(
                f"cannot fetch {artifact.key}: the {client!r} client is not installed. "
                f"Download that exact file by hand and save it as {path} "
                f"(its sha256 must be {expected_sha256 or 'the one in the manifest'})."
            )
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        apt_unknown = artifact.registry == "deb" and proc.returncode != 0 and _APT_UNKNOWN.search(proc.stderr)
        if apt_unknown and not _apt_updated:
            if not _is_root():
                raise ArtifactError(
                    f"cannot fetch {artifact.key}: apt does not know {artifact.name}={artifact.version} "
                    f"({proc.stderr.strip().splitlines()[-1]}). This machine's package lists are probably empty "
                    f"or stale (a fresh Debian machine has none): run `sudo apt-get update`, then rerun "
                    f"`transfer-laws data build`. Or place the file by hand at {path} "
                    f"(its sha256 must be {expected_sha256 or 'the one in the manifest'}).")
            _apt_update()
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
            apt_unknown = proc.returncode != 0 and _APT_UNKNOWN.search(proc.stderr)
        files = [p for p in Path(tmp).iterdir() if p.is_file()]
        if apt_unknown:
            raise ArtifactError(
                f"cannot fetch {artifact.key}: even after `apt-get update`, apt does not know "
                f"{artifact.name}={artifact.version} ({proc.stderr.strip().splitlines()[-1]}). The pinned "
                f"versions are Debian 12 (bookworm) packages: add a bookworm mirror to /etc/apt/sources.list "
                f"and run `apt-get update`, or place the file by hand at {path} "
                f"(its sha256 must be {expected_sha256 or 'the one in the manifest'}).")
        if proc.returncode != 0 or len(files) != 1:
            raise ArtifactError(
                f"cannot fetch {artifact.key} with `{' '.join(cmd)}` "
                f"(exit {proc.returncode}): {proc.stderr.strip()[-400:]}\n"
                f"Check that the registry is reachable and still serves version {artifact.version}; "
                f"or place the file by hand at {path}."
            )
        got = sha256_file(files[0])
        if expected_sha256 is not None and got != expected_sha256:
            raise ArtifactError(
                f"{artifact.key}: the registry served a file with sha256 {got}, but the manifest "
                f"pins {expected_sha256}. The registry changed the artifact; update the recipe's "
                f"version (and rebuild the manifest) or place the pinned file at {path}."
            )
        files[0].replace(path)
    return path


def _ar_members(data: bytes) -> Iterator[tuple[str, bytes]]:
    if not data.startswith(b"!<arch>\n"):
        raise ArtifactError("not a Debian package (missing ar header)")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        pos += 60
        yield name, data[pos:pos + size]
        pos += size + (size % 2)


def _open_deb_data(path: Path) -> tarfile.TarFile:
    """The data tarball of a .deb, read without dpkg (works on any OS)."""
    for name, blob in _ar_members(path.read_bytes()):
        if name.startswith("data.tar"):
            if name.endswith(".zst"):
                raise ArtifactError(f"{path.name}: zstd-compressed .deb; install dpkg to read it")
            if name.endswith(".xz"):
                blob = lzma.decompress(blob)
                return tarfile.open(fileobj=io.BytesIO(blob), mode="r:")
            return tarfile.open(fileobj=io.BytesIO(blob), mode="r:*")
    raise ArtifactError(f"{path.name}: no data.tar member")


def iter_files(path: Path, registry: str, include: list[str], exclude: list[str]) -> Iterator[tuple[str, bytes]]:
    """Yield (member path, bytes) for every regular file inside the artifact whose
    path matches one of ``include`` and none of ``exclude`` (fnmatch globs), in a
    sorted order so that builds are deterministic."""

    def wanted(name: str) -> bool:
        return any(fnmatch.fnmatch(name, g) for g in include) and not any(
            fnmatch.fnmatch(name, g) for g in exclude)

    if registry in ("wheel", "sdist") and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for name in sorted(zf.namelist()):
                if not name.endswith("/") and wanted(name):
                    yield name, zf.read(name)
        return
    tar = _open_deb_data(path) if registry == "deb" else tarfile.open(path, mode="r:*")
    with tar:
        members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)
        for m in members:
            name = m.name.removeprefix("./")
            if wanted(name):
                f = tar.extractfile(m)
                if f is not None:
                    yield name, f.read()
