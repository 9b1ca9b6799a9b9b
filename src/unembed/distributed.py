"""Who this process is among those ``torchrun`` or ``accelerate launch`` started, on torch.distributed.

:func:`context` reads ``WORLD_SIZE`` and joins the process group (gloo, which works on CPUs and
beside NCCL) when there are several processes; :class:`Context` gives the rank, a barrier, and
gather / broadcast of Python objects. Sharded audits, evaluations and the corrector-data stage of
training use it; a single process gets ``Context(0, 1)`` and never touches torch.distributed.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

__all__ = ["Context", "context"]


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def sharded(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier(group=_group())

    def gather(self, obj) -> list | None:
        """Every rank's ``obj`` on the main rank (in rank order), None elsewhere."""
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world if self.main else None
        dist.gather_object(obj, out, dst=0, group=_group())
        return out

    def broadcast(self, obj):
        """The main rank's ``obj`` on every rank."""
        if self.world == 1:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0, group=_group())
        return box[0]


_GROUP = None


def _group():
    """A gloo group over every rank (the default group when it is gloo already)."""
    global _GROUP
    import torch.distributed as dist

    if _GROUP is None:
        _GROUP = dist.group.WORLD if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")
    return _GROUP


def context() -> Context:
    """This process's rank and the number of processes, from torch.distributed or the launcher's
    environment (``RANK``, ``WORLD_SIZE``); joins the process group when the launcher started one."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return Context()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="gloo", timeout=datetime.timedelta(hours=12))
    return Context(dist.get_rank(), dist.get_world_size())
