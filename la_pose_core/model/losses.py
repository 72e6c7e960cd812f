"""Pose-head losses: L1 terms, sign-invariant quaternion distance, optional uncertainty weights.

Terms, each a mean over pairs (or clips, for the scale):
    translation   ``|t~ - t~^|_1``                                  (scale-normalised)
    rotation      ``min(|q - q^|_1, |q + q^|_1)``                   (q and -q are one rotation)
    fov           ``|fov - fov^|``                                  (radians)
    scale         ``|log s - log s^|``

Total: ``sum_k w_k L_k`` with the configured weights, or with learned uncertainty weighting
(Kendall et al.) ``sum_k (w_k L_k exp(-s_k) + s_k)`` with one learnable ``s_k`` per term.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from la_pose_core.model.config import PoseHeadConfig
from la_pose_core.model.targets import PoseTargets

TERMS = ("translation", "rotation", "fov", "scale")


def sign_invariant_quaternion_l1(predicted: Tensor, target: Tensor) -> Tensor:
    """``min(|q - q^|_1, |q + q^|_1)``: quaternions ``(..., 4)`` x ``(..., 4)`` -> ``(...)``."""
    direct = (predicted - target).abs().sum(dim=-1)  # (...)
    flipped = (predicted + target).abs().sum(dim=-1)  # (...)
    return torch.minimum(direct, flipped)


class PoseLoss(nn.Module):
    """Weighted sum of the pose-head loss terms (see module docstring)."""

    def __init__(self, config: PoseHeadConfig) -> None:
        super().__init__()
        weights = [getattr(config, f"weight_{term}") for term in TERMS]
        self.register_buffer("weights", torch.tensor(weights), persistent=False)  # (4,)
        self.log_variances = (
            nn.Parameter(torch.zeros(len(TERMS))) if config.learned_uncertainty else None
        )  # (4,) the s_k of the uncertainty weighting

    def forward(self, outputs: dict[str, Tensor], targets: PoseTargets) -> dict[str, Tensor]:
        """Loss terms of :class:`~la_pose_core.model.pose_head.PoseHead` outputs.

        Returns a dict: ``loss`` ``()`` total, and ``loss_translation``, ``loss_rotation``,
        ``loss_fov``, ``loss_scale`` ``()`` unweighted terms.
        """
        terms = {
            "translation": (outputs["translation_normalised"] - targets.translation_normalised)
            .abs()
            .sum(dim=-1)
            .mean(),
            "rotation": sign_invariant_quaternion_l1(
                outputs["quaternion"], targets.quaternion
            ).mean(),
            "fov": (outputs["fov"] - targets.fov).abs().mean(),
            "scale": (outputs["log_scale"] - targets.log_scale).abs().mean(),
        }
        stacked = torch.stack([terms[term] for term in TERMS]) * self.weights  # (4,)
        if self.log_variances is not None:
            stacked = stacked * torch.exp(-self.log_variances) + self.log_variances  # (4,)
        result = {f"loss_{term}": value for term, value in terms.items()}
        result["loss"] = stacked.sum()
        return result
