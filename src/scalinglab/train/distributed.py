"""Data parallelism: the same loop on one process or many (``torchrun``, DDP).

Under ``torchrun`` the environment carries ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``;
:func:`init_from_env` starts the process group (NCCL on CUDA, gloo on CPU) and returns a
:class:`DistContext`.  The loop then

* gives each rank a disjoint slice of every global batch (batches are a pure function of the
  step, so sharding is just arithmetic on sequence numbers),
* averages gradients with :class:`~torch.nn.parallel.DistributedDataParallel` (skipping the
  all-reduce on all but the last micro-batch of an accumulated step),
* splits the validation windows over ranks and sums losses and counts across them,
* lets rank 0 alone write records and checkpoints (every rank reads the checkpoint when
  resuming, so the checkpoint folder must be on a filesystem all ranks see).

FSDP (sharded parameters, for models that do not fit one device) would replace the DDP wrap in
:func:`wrap_model`; nothing else in the loop depends on how gradients are synchronised.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistContext:
    """Where this process sits among the data-parallel processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 writes records and checkpoints."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


SINGLE_PROCESS = DistContext()


def init_from_env(device_type: str) -> DistContext:
    """A context from torchrun's variables, starting the process group if needed."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return SINGLE_PROCESS
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                       local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def current_context() -> DistContext:
    """The context of an already started process group (single-process otherwise)."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                           local_rank=int(os.environ.get("LOCAL_RANK", str(dist.get_rank()))))
    return SINGLE_PROCESS


def wrap_model(model: nn.Module, context: DistContext, device: torch.device) -> nn.Module:
    """DDP-wrap ``model`` when there are several processes; the model itself otherwise."""
    if not context.enabled:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def all_reduce_sum(tensor: torch.Tensor, context: DistContext) -> torch.Tensor:
    """Sum ``tensor`` over ranks in place (a no-op on one process)."""
    if context.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier(context: DistContext) -> None:
    if context.enabled:
        dist.barrier()


def shutdown() -> None:
    """End the process group, if one was started (call once per process, at exit).

    All ranks meet at a barrier first: a rank that tears down its gloo group while another is
    still in a collective can abort ("terminate called without an active exception"), which
    CI hit once.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
