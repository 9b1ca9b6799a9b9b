"""How long jobs report progress: a small protocol that the command line fills with progress bars.

Training, audits, defence runs and glitch audits take a :class:`Reporter`; they never print. The
command line passes rich progress bars (``unembed.cli.progress.RichReporter``), the web page its
event stream, and everyone else gets :class:`LogReporter` (the ``logging`` module).

Layer rule: standard library only; any package may import this.
"""
from __future__ import annotations

import logging
from typing import Protocol

__all__ = ["Reporter", "LogReporter", "Relabel"]

log = logging.getLogger("unembed")


class Reporter(Protocol):
    """Where a long job reports progress: stages with a total, steps done, and one-line notes."""

    def start(self, stage: str, total: int, completed: int = 0) -> None: ...
    def advance(self, stage: str, n: int = 1, **info) -> None: ...
    def note(self, message: str) -> None: ...


class LogReporter:
    """A :class:`Reporter` that writes to the ``logging`` module (stage starts and notes)."""

    def start(self, stage, total, completed=0):
        log.info("%s: %d/%d", stage, completed, total)

    def advance(self, stage, n=1, **info):
        pass

    def note(self, message):
        log.info(message)


class Relabel:
    """A :class:`Reporter` that passes stages on under other names (``{"hypothesizer": "fine-tune"}``)."""

    def __init__(self, reporter: Reporter, names: dict[str, str]):
        self.reporter, self.names = reporter, names

    def start(self, stage, total, completed=0):
        self.reporter.start(self.names.get(stage, stage), total, completed)

    def advance(self, stage, n=1, **info):
        self.reporter.advance(self.names.get(stage, stage), n, **info)

    def note(self, message):
        self.reporter.note(message)
