"""Pose-head losses: L1 terms, sign-invariant quaternion distance, optional uncertainty weights.

Terms, each a mean over pairs (or clips, for the scale):
    translation   ``|t~ - t~^|_1``                                  (scale-normalised)
    rotation      ``min(|q - q^|_1, |q + q^|_1)``                   (q and -q are one rotation)
                  or, with ``rotation_loss: rotation_vector_mse``, ``|r - r^|_2^2`` of the
                  rotation vectors in degrees (see ``PoseHeadConfig.rotation_loss``)
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


def rotation_vector_deg(quaternion: Tensor) -> Tensor:
    """Unit quaternions ``(..., 4)`` ``(x, y, z, w)`` -> rotation vectors ``(..., 3)``, degrees.

    Sign-invariant: ``q`` and ``-q`` give the same vector (angles in [0, 180])."""
    quaternion = torch.where(quaternion[..., 3:] < 0, -quaternion, quaternion)
    vector, w = quaternion[..., :3], quaternion[..., 3:]
    norm = vector.norm(dim=-1, keepdim=True).clamp_min(1e-8)  # sin(angle / 2)
    return torch.rad2deg(2.0 * torch.atan2(norm, w) / norm * vector)


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
        self.rotation_loss = config.rotation_loss
        self.log_variances = (
            nn.Parameter(torch.zeros(len(TERMS))) if config.learned_uncertainty else None
        )  # (4,) the s_k of the uncertainty weighting

    def per_sample_terms(
        self, outputs: dict[str, Tensor], targets: PoseTargets
    ) -> dict[str, Tensor]:
        """Unweighted terms per clip, each ``(B,)`` (means over the clip's pairs)."""
        translation = outputs["translation_normalized"] - targets.translation_normalized
        if self.rotation_loss == "rotation_vector_mse":
            difference = rotation_vector_deg(outputs["quaternion"]) - rotation_vector_deg(
                targets.quaternion
            )  # (B, P, 3)
            rotation = difference.square().sum(dim=-1)  # (B, P)
        else:
            rotation = sign_invariant_quaternion_l1(outputs["quaternion"], targets.quaternion)
        return {
            "translation": translation.abs().sum(dim=-1).mean(dim=-1),  # (B,)
            "rotation": rotation.mean(dim=-1),  # (B,)
            "fov": (outputs["fov"] - targets.fov).abs().mean(dim=-1),  # (B,)
            "scale": (outputs["log_scale"] - targets.log_scale).abs(),  # (B,)
        }

    def weighted(self, terms: Tensor) -> Tensor:
        """``(..., 4)`` unweighted terms -> ``(...)`` totals (weights, optional uncertainty)."""
        terms = terms * self.weights
        if self.log_variances is not None:
            terms = terms * torch.exp(-self.log_variances) + self.log_variances
        return terms.sum(dim=-1)

    def per_sample(self, outputs: dict[str, Tensor], targets: PoseTargets) -> Tensor:
        """Total loss of each clip, ``(B,)``; its batch mean is ``forward``'s ``loss`` (every
        clip has as many pairs, and the weighting is affine in the terms)."""
        terms = self.per_sample_terms(outputs, targets)
        return self.weighted(torch.stack([terms[term] for term in TERMS], dim=-1))  # (B,)

    def forward(self, outputs: dict[str, Tensor], targets: PoseTargets) -> dict[str, Tensor]:
        """Loss terms of :class:`~la_pose_core.model.pose_head.PoseHead` outputs.

        Returns a dict: ``loss`` ``()`` total, and ``loss_translation``, ``loss_rotation``,
        ``loss_fov``, ``loss_scale`` ``()`` unweighted terms (batch means).
        """
        per_sample = self.per_sample_terms(outputs, targets)
        terms = {term: value.mean() for term, value in per_sample.items()}
        result = {f"loss_{term}": value for term, value in terms.items()}
        result["loss"] = self.weighted(torch.stack([terms[term] for term in TERMS]))
        return result
