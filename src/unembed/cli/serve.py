"""The serve command: the local web application (``unembed.web``) on 127.0.0.1 by default."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .app import PRECISION_HELP, app, console


def inverter_names(specs: list[str]) -> dict[str, str]:
    """Names for the page's inverter control: a shipped name as is, a folder by its own name."""
    names: dict[str, str] = {}
    for spec in specs:
        name = Path(spec).name or spec
        while name in names:
            name += "'"
        names[name] = spec
    return names


@app.command("serve")
def serve(
    folder: Path = typer.Option(Path("."), help="the folder whose audit, defend and glitch runs are listed, and where "
                                                "audits started from the page write"),
    inverter: List[str] = typer.Option(["minilm"], help="an inverter folder or a shipped name; repeat it to offer "
                                                        "several on the page (the first is the default)"),
    host: str = typer.Option("127.0.0.1", help="the address to bind; anything but loopback needs a token"),
    port: int = typer.Option(8000),
    token: Optional[str] = typer.Option(None, help="the token off loopback (default: one is generated and printed once)"),
    queue: int = typer.Option(8, help="inversions that may wait while one runs; beyond that the answer is 503 busy"),
    max_upload: float = typer.Option(8.0, help="largest vector upload, in MB"),
    embedder: Optional[str] = typer.Option(None, help="override the embedder used for re-embedding"),
    precision: str = typer.Option("auto", help=PRECISION_HELP),
):
    """Serve the web application: watch a sentence come back out of its vector, browse and start audits."""
    from ..web import require_web

    require_web()
    import uvicorn

    from ..web import create_app
    from ..web.security import is_loopback, new_token

    generated = False
    if not is_loopback(host):
        if not token:
            token, generated = new_token(), True
    elif token:
        console.print("[dim]note: bound to loopback, the token is required all the same[/dim]")
    application = create_app(folder, inverter_names(inverter), host=host, token=token, queue_size=queue,
                             max_upload=int(max_upload * 1e6), embedder=embedder, precision=precision)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    if generated:
        console.print("serving off loopback: every request needs the token, generated now and shown only here "
                      "(in the URL below; or send Authorization: Bearer TOKEN)", highlight=False, soft_wrap=True)
    console.print(f"unembed serve: {url} (folder {folder.resolve()}; Ctrl-C stops it)", highlight=False, soft_wrap=True)
    uvicorn.run(application, host=host, port=port, log_level="warning")
