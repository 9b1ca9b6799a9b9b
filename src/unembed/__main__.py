"""``python -m unembed`` is the ``unembed`` command (errors, signals and exit codes included)."""
from .cli import main

main()
