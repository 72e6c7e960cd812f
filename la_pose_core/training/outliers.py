"""3-sigma outlier-loss filtering for noisy pose labels (as in Unposed-to-3D).

A sliding window holds the most recent per-sample losses (of every rank: the trainer gathers
them, so all ranks share one window and one threshold). A sample whose loss exceeds
``mean + sigma * std`` of the window *before* its batch is left out of the backward pass.
The filter is inactive until the window holds ``min_samples`` losses. Every finite loss enters
the window, dropped ones included, so that a real shift of the loss level (a learning-rate
change, a new data mix) moves the threshold instead of locking samples out for good.
Non-finite losses are always dropped and never enter the window.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import torch


class OutlierFilter:
    """Sliding-window ``mean + sigma * std`` loss filter (see module docstring).

    Args:
        window: number of recent per-sample losses kept.
        sigma: threshold in standard deviations above the window mean.
        min_samples: losses needed in the window before anything is dropped (default:
            ``min(32, window)``).
    """

    def __init__(
        self, window: int = 512, sigma: float = 3.0, min_samples: int | None = None
    ) -> None:
        if min_samples is None:
            min_samples = min(32, window)
        if window < 2 or min_samples < 2 or min_samples > window:
            raise ValueError(f"need 2 <= min_samples <= window, got {min_samples}, {window}")
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.window, self.sigma, self.min_samples = window, sigma, min_samples
        self.losses: deque[float] = deque(maxlen=window)
        self.total_dropped = 0
        self.total_seen = 0

    def threshold(self) -> float:
        """Current threshold (``inf`` while the window is too short)."""
        if len(self.losses) < self.min_samples:
            return math.inf
        values = torch.tensor(list(self.losses), dtype=torch.float64)
        return float(values.mean() + self.sigma * values.std(correction=0))

    def keep_mask(self, losses: torch.Tensor, threshold: float | None = None) -> torch.Tensor:
        """Bool mask of the samples to keep: finite and not above ``threshold``."""
        threshold = self.threshold() if threshold is None else threshold
        detached = losses.detach()
        return torch.isfinite(detached) & (detached <= threshold)

    def update(self, losses: torch.Tensor, threshold: float) -> int:
        """Add a batch's losses (all ranks') to the window; returns how many were dropped."""
        values = losses.detach().double().cpu()
        dropped = int((~(torch.isfinite(values) & (values <= threshold))).sum())
        self.losses.extend(float(v) for v in values[torch.isfinite(values)])
        self.total_dropped += dropped
        self.total_seen += int(values.numel())
        return dropped

    def state_dict(self) -> dict:
        return {
            "losses": list(self.losses),
            "total_dropped": self.total_dropped,
            "total_seen": self.total_seen,
        }

    def load_state_dict(self, state: dict) -> None:
        self.losses = deque((float(v) for v in state["losses"]), maxlen=self.window)
        self.total_dropped = int(state["total_dropped"])
        self.total_seen = int(state["total_seen"])


def filtered_loss(
    output: Any,
    batch: dict[str, Any],
    outlier_filter: OutlierFilter,
    context: Any,
    counters: dict[str, int],
) -> tuple[torch.Tensor, int]:
    """The loss of a micro-batch without its outlier samples, and how many were dropped.

    Args:
        output: the stage's step output (``per_sample`` ``(B,)`` losses, ``unfiltered_loss``).
        batch: the micro-batch; its optional ``label_noise`` flags (injected by ``la-pose shards
            --label-noise``) measure the filter into ``counters``.
        context: the :class:`~la_pose_core.training.distributed.DistContext`: every rank's
            losses enter one shared window.
    """
    losses = output.per_sample.float()  # (B,)
    threshold = outlier_filter.threshold()
    keep = outlier_filter.keep_mask(losses, threshold)  # (B,)
    every_loss = context.gather(losses)  # every rank's (B,)
    noisy = batch.get("label_noise")  # (B,) injected label noise
    if noisy is not None:
        noisy = context.gather(noisy.to(losses.device).float()) > 0
        kept_all = outlier_filter.keep_mask(every_loss, threshold)
        counters["label_noise_seen"] += int(noisy.sum())
        counters["label_noise_dropped"] += int((noisy & ~kept_all).sum())
    dropped = outlier_filter.update(every_loss, threshold)
    kept = torch.where(keep, losses, torch.zeros_like(losses))
    loss = kept.sum() / keep.sum().clamp(min=1)
    if output.unfiltered_loss is not None:
        loss = loss + output.unfiltered_loss
    return loss, dropped
