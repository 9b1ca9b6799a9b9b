"""``python -m unembed`` is the ``unembed`` command."""
from .cli import app

app()
