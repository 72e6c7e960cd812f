"""What a training run carries from step to step, and what ``last.pt`` keeps of it.

:class:`RunState` holds the model, its optimizer and schedule, the batch stream, the optional
outlier filter, the step and the counters. Its :meth:`~RunState.state_dict` is the checkpoint's
``trainer_state``; :meth:`~RunState.load_state_dict` puts a resumed run back where it was,
including every rank's data position and RNG streams when the layout (ranks x loader workers)
is unchanged.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from la_pose_core.training.data import BatchStream
from la_pose_core.training.distributed import DistContext
from la_pose_core.training.latent_cache import LatentCache
from la_pose_core.training.outliers import OutlierFilter
from la_pose_core.training.rng import capture_rng, restore_rng

# With the outlier filter on: clips with injected label noise (la-pose shards --label-noise)
# seen, and dropped by the filter (all ranks). They measure the filter; real data has none.
LABEL_NOISE_COUNTERS = ("label_noise_seen", "label_noise_dropped")


def new_counters() -> dict[str, int]:
    """The run's counters at step 0."""
    return {"nonfinite_steps": 0, "clips_seen": 0, **dict.fromkeys(LABEL_NOISE_COUNTERS, 0)}


@dataclass
class RunState:
    """The live objects of a run (see module docstring).

    ``model`` is the stage's module, ``parts`` the sub-modules its checkpoints hold, ``wrapped``
    the module the steps call (``model`` itself, or its ``DistributedDataParallel`` wrapper).
    """

    model: nn.Module
    parts: dict[str, nn.Module]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    stream: BatchStream
    outlier_filter: OutlierFilter | None
    wrapped: nn.Module | None = None
    step: int = 0
    counters: dict[str, int] = field(default_factory=new_counters)
    nonfinite_in_a_row: int = 0  # not saved: a resumed run starts a fresh streak
    # --cache-latents: the frozen backbone's output per clip (not saved here: RUN/latent_cache.pt)
    latent_cache: LatentCache | None = None

    @property
    def trainable(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def state_dict(self, context: DistContext, num_workers: int) -> dict[str, Any] | None:
        """The ``trainer_state`` of a checkpoint, on rank 0 (None elsewhere).

        Collective: every rank must call it (RNG states and data positions are gathered).
        """
        rng_states = context.gather_objects(capture_rng())
        data_states = context.gather_objects(self.stream.state())
        if not context.is_main:
            return None
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng_states,
            "data": data_states,
            "world_size": context.world_size,
            "num_workers": num_workers,
            "outlier_filter": (
                None if self.outlier_filter is None else self.outlier_filter.state_dict()
            ),
            "counters": dict(self.counters),
        }

    def load_state_dict(
        self, state: dict[str, Any], step: int, context: DistContext, num_workers: int
    ) -> None:
        """Continue from a ``trainer_state`` saved at ``step`` (model weights loaded apart)."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.outlier_filter is not None and state["outlier_filter"] is not None:
            self.outlier_filter.load_state_dict(state["outlier_filter"])
        self.step = step
        self.counters = {**new_counters(), **state["counters"]}
        if state["world_size"] == context.world_size and state["num_workers"] == num_workers:
            # data first: starting a DataLoader iterator draws from torch's global generator,
            # which the clip-length and virtual-clip draws use too
            self.stream.restore(state["data"][context.rank])
            restore_rng(state["rng"][context.rank])
            return
        if context.is_main:
            print(
                f"la-pose train: resuming with {context.world_size} ranks x {num_workers} "
                f"loader workers instead of {state['world_size']} x {state['num_workers']}: the "
                "data order and random streams differ from an uninterrupted run",
                file=sys.stderr,
            )
        next_epoch = 1 + max(int(data["epoch"]) for data in state["data"])
        self.stream.restore({"epoch": next_epoch, "batches_in_epoch": 0})
