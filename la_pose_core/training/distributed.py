"""Process group set-up for ``torchrun`` and the few collectives the trainer needs.

Without the ``torchrun`` environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) everything runs
in one plain process and the collectives are identities. Under ``torchrun`` the backend is
``nccl`` when the device is CUDA (each rank on ``cuda:LOCAL_RANK``) and ``gloo`` on CPU.

The process group must exist before any tokenizer is built: ``vector_quantize_pytorch``
decides (and caches) at construction whether its EMA codebook statistics are all-reduced.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from la_pose_core.model.precision import resolve_device

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class DistContext:
    """Where this process stands: rank, world size, its device, and whether it made the group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any rank."""
        if not self.distributed:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise mean over ranks of a float tensor (a copy on this rank's device)."""
        values = values.detach().to(self.device, torch.float32).clone()
        if self.distributed:
            dist.all_reduce(values)
            values /= self.world_size
        return values

    def gather(self, values: torch.Tensor) -> torch.Tensor:
        """Concatenation over ranks (rank order) of equally shaped 1-D tensors."""
        values = values.detach().to(self.device, torch.float32).contiguous()
        if not self.distributed:
            return values
        parts = [torch.empty_like(values) for _ in range(self.world_size)]
        dist.all_gather(parts, values)
        return torch.cat(parts)

    def gather_objects(self, value: Any) -> list[Any]:
        """Every rank's picklable ``value``, in rank order, on every rank."""
        if not self.distributed:
            return [value]
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def close(self) -> None:
        """Destroy the process group if this context created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup_distributed(device: str = "auto", timeout_s: float = 1800.0) -> DistContext:
    """Read the ``torchrun`` environment (if any), pick the device and join the process group.

    Args:
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        timeout_s: collective timeout of the process group.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    resolved = resolve_device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda but CUDA is not available")
    if not launched_by_torchrun():
        return DistContext(device=resolved)
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if resolved.type == "cuda":
        resolved = torch.device("cuda", local_rank)
        torch.cuda.set_device(resolved)
    context = DistContext(rank, world_size, local_rank, resolved)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if resolved.type == "cuda" else "gloo"
        dist.init_process_group(
            backend,
            timeout=datetime.timedelta(seconds=timeout_s),
            device_id=resolved if backend == "nccl" else None,
        )
        context.owns_group = True
    return context
