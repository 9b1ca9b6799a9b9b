"""``unembed serve``: a local web application over the same Python API the command line uses.

- ``app``: the ASGI application (Starlette), its routes and :func:`create_app`;
- ``security``: loopback by default, the token off loopback, the Host and Origin checks, the CSP;
- ``jobs``: one model at work at a time (a worker thread with a bounded queue), inversion and
  audit jobs and their event streams;
- ``runs``: the audit, defend and glitch runs under the served folder and their headline figures;
- ``textdiff``: the word-level diff of a recovered text against its original;
- ``pages``: the server-rendered HTML; ``static/``: the stylesheet and the little plain JavaScript.

Starlette and uvicorn are the ``web`` extra (``pip install 'unembed[web]'``); nothing here is
imported until ``unembed serve`` (or :func:`create_app`) runs. Layer rule: the web app knows every
package; no package knows it.
"""
from __future__ import annotations

from ..errors import UnembedError

__all__ = ["create_app", "require_web"]


def require_web() -> None:
    """Raise a one-line error naming the extra when Starlette or uvicorn is missing."""
    missing = []
    for module in ("starlette", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise UnembedError(f"unembed serve needs {' and '.join(missing)}: pip install 'unembed[web]'")


def create_app(*args, **kwargs):
    """The web application (see :func:`unembed.web.app.create_app`)."""
    require_web()
    from .app import create_app as create

    return create(*args, **kwargs)
