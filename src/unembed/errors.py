"""User-facing errors.

Every problem a user can cause (bad vectors, unknown embedder, corrupt checkpoint, unreachable
endpoint, unreadable corpus) is raised as an :class:`UnembedError` whose message is one line that
names the problem and what to do. The command line prints that line and exits with code 2; nothing
below the command line prints to the terminal.
"""
from __future__ import annotations


class UnembedError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class InputError(UnembedError, ValueError):
    """Bad vectors, texts or arguments."""


class EmbedderError(UnembedError):
    """An embedder could not be loaded, reached, or does not match an inverter."""


class CheckpointError(UnembedError):
    """A model folder or checkpoint is missing, truncated or corrupt."""


class CorpusError(UnembedError):
    """A corpus could not be built or read."""


class TargetError(UnembedError):
    """A language-model target could not be loaded or reached, is not a causal LM, or does not
    return what an access mode needs (for example an endpoint without logprobs)."""
