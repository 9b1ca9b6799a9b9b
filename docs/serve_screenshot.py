"""Take docs/serve.png: the live inversion page of `unembed serve` with the shipped MiniLM inverter,
in Debian's headless Chromium, with the browser test's own code (tests/webserver.py).

    OMP_NUM_THREADS=1 python docs/serve_screenshot.py [--out docs/serve.png] [--steps 20] [--beam 4]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from webserver import live_inversion, running  # noqa: E402

from unembed import load_inverter  # noqa: E402
from unembed.web import create_app  # noqa: E402
from unembed.web.pages import EXAMPLE  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "serve.png")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--sentence", default=EXAMPLE)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    inverter = load_inverter("minilm")
    with tempfile.TemporaryDirectory() as folder, running(create_app(folder, {"minilm": inverter})) as url:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            t0 = time.perf_counter()
            png = live_inversion(page, url, args.sentence, args.steps, args.beam)
            seconds = time.perf_counter() - t0
            final, status = page.inner_text("#final .t"), page.inner_text("#status")
            browser.close()
    args.out.write_bytes(png)
    print(f"wrote {args.out} ({len(png) / 1024:.0f} KB); {status}; final text: {final!r} ({seconds:.1f}s in the page)")


if __name__ == "__main__":
    main()
