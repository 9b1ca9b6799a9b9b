"""The ``unembed`` command line. The only package that prints for the user.

Every known problem (an :class:`~unembed.errors.UnembedError`) becomes one line on stderr and exit
code 2; Ctrl-C and SIGTERM end any command with one line and exit code 130 (long jobs checkpoint
first, and temporary copies of user data are removed on the way out); nothing below this package
writes to the terminal. Layer rule: the command line knows every package; no package knows it.
"""
from __future__ import annotations

import logging
import signal
import sys

import click
from rich.markup import escape

from ..errors import UnembedError
from . import audit, defend, glitch, inversion, lm, serve  # noqa: F401  (each registers its commands on app)
from .app import app, console

__all__ = ["app", "main"]

INTERRUPTED = 130  # exit code of a command stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it)


def _terminate(signum, frame):
    # SIGTERM takes the same way out as Ctrl-C: finally blocks and context managers run.
    raise KeyboardInterrupt


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        # standalone_mode=False: click would turn Ctrl-C into "Aborted!" and exit code 1; typer (0.12 and later)
        # turns it into a silent return of 130 instead, which is the same way out as the except clause below
        code = app(standalone_mode=False)
        if code == INTERRUPTED:
            raise KeyboardInterrupt
    except UnembedError as exc:
        # the message may quote user input ("[/x]" is rich markup; a URI may hold a newline): escaped, one line
        console.print(f"[red]error:[/red] {escape(' '.join(str(exc).split()))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (KeyboardInterrupt, click.exceptions.Abort):
        console.print("[red]interrupted[/red]: stopped by a signal; rerun with --resume where the command has it")
        sys.exit(INTERRUPTED)
    except click.exceptions.ClickException as exc:  # usage errors: click's own message, exit code 2
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
