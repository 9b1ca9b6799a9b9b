"""Rich progress bars for long jobs, handed to training and inversion as callbacks."""
from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def bars(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console)


class RichReporter:
    """Training progress (``training.Reporter``) as rich bars, one per stage."""

    def __init__(self, progress: Progress):
        self.p, self.tasks = progress, {}

    def start(self, stage, total, completed=0):
        if stage in self.tasks:
            self.p.update(self.tasks[stage], total=total, completed=completed)
        else:
            self.tasks[stage] = self.p.add_task(stage, total=total, completed=completed, info="")

    def advance(self, stage, n=1, **info):
        text = " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items())
        self.p.update(self.tasks[stage], advance=n, info=text)

    def note(self, message):
        self.p.console.print(f"[dim]{message}[/dim]")


@contextmanager
def counting(console: Console, total: int, label: str = "inverting"):
    """A bar for ``total`` items; yields ``update(done)``."""
    with bars(console) as p:
        task = p.add_task(label, total=total, info="")
        yield lambda done: p.update(task, completed=done)
