"""Pose head: latent actions of a clip -> relative poses, field of view and metric scale.

The ``P = T - 1`` latent actions are projected to the head's width and preceded by one learnable
*scale token*; a non-causal transformer (rotary positions over the token order) mixes them. Then

- head A, per pair token: scale-normalised translation ``t~`` (3), quaternion (4, normalised to
  unit length with canonical sign ``w >= 0``), vertical FoV of the input image (1, radians);
- head B, on the scale token: the clip's metric scale ``s = exp(output)`` (exp activation).

Scale decoupling (paper): ``s = mean_i ||t_i||`` over the clip's metric translations and
``t~_i = t_i / max(s, 1)``; metric translation is ``t~ * max(s, 1)`` (metres).

Conventions: each pair ``(t, t + 1)`` is the motion ``cam_t_from_cam_{t+1}`` in the camera
optical frame (x right, y down, z forward): its translation is camera ``t + 1``'s position in
camera ``t``'s frame (driving forward is about ``+z``); quaternions are ``(x, y, z, w)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from la_pose_core.geometry.scale import SCALE_FLOOR_METRES
from la_pose_core.model.config import LAPoseConfig
from la_pose_core.model.layers import MLP, TransformerBlock, init_transformer_weights

INPUT_NORMS = ("none", "batch")


def _input_norm(dim: int, norm: str) -> nn.Module | None:
    if norm == "none":
        return None
    if norm == "batch":
        return nn.BatchNorm1d(dim, affine=False)
    raise ValueError(f"pose_head.input_norm must be one of {INPUT_NORMS}, got {norm!r}")


class PoseHead(nn.Module):
    """Non-causal transformer over ``[scale token, a_0, ..., a_{P-1}]`` (see module docstring)."""

    def __init__(self, config: LAPoseConfig) -> None:
        super().__init__()
        cfg = config.pose_head
        self.input_norm = _input_norm(config.inverse_dynamics.dim, cfg.input_norm)
        self.input_proj = nn.Linear(config.inverse_dynamics.dim, cfg.dim)
        self.scale_token = nn.Parameter(torch.zeros(cfg.dim))  # (D,)
        self.blocks = nn.ModuleList(
            TransformerBlock(cfg.dim, cfg.heads, cfg.mlp_ratio, cfg.dropout, rotary=True)
            for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.dim)
        self.pair_head = MLP(cfg.dim, cfg.dim, out=3 + 4 + 1)
        self.scale_head = MLP(cfg.dim, cfg.dim, out=1)
        self.apply(init_transformer_weights)
        nn.init.trunc_normal_(self.scale_token, std=0.02)

    def forward(self, latent_actions: Tensor) -> dict[str, Tensor]:
        """Pose of every pair of a clip (or of a streaming window).

        Args:
            latent_actions: ``(B, P, d)`` latent actions ``a_0..a_{P-1}``, ``P >= 1``.
        Returns a dict:
            ``translation_normalized`` ``(B, P, 3)``: ``t~`` of ``cam_t_from_cam_{t+1}``.
            ``quaternion`` ``(B, P, 4)``: rotation of ``cam_t_from_cam_{t+1}``, ``(x, y, z, w)``,
            unit, ``w >= 0``.
            ``fov`` ``(B, P)``: vertical field of view of the model input, radians.
            ``log_scale`` ``(B,)``: log of the clip scale ``s`` (metres).
            ``scale`` ``(B,)``: ``s = exp(log_scale)``.
            ``translation`` ``(B, P, 3)``: metric translation ``t~ * max(s, 1)``, metres.
        """
        batch, pairs = latent_actions.shape[:2]
        if self.input_norm is not None:  # per dimension, over the batch's pairs
            flat = self.input_norm(latent_actions.reshape(batch * pairs, -1))  # (B P, d)
            latent_actions = flat.reshape(batch, pairs, -1)  # (B, P, d)
        pair_tokens = self.input_proj(latent_actions)  # (B, P, D)
        scale_token = self.scale_token.expand(batch, 1, -1)  # (B, 1, D)
        x = torch.cat((scale_token, pair_tokens), dim=1)  # (B, 1 + P, D)
        positions = torch.arange(1 + pairs, device=x.device)  # (1 + P,)
        for block in self.blocks:
            x = block(x, positions)  # (B, 1 + P, D)
        x = self.norm(x)  # (B, 1 + P, D)
        pair_out = self.pair_head(x[:, 1:])  # (B, P, 8)
        translation_normalized = pair_out[..., 0:3]  # (B, P, 3)
        quaternion = F.normalize(pair_out[..., 3:7], dim=-1)  # (B, P, 4)
        quaternion = torch.where(quaternion[..., 3:] < 0, -quaternion, quaternion)  # w >= 0
        log_scale = self.scale_head(x[:, 0])[:, 0]  # (B,)
        scale = log_scale.exp()  # (B,)
        metric_factor = scale.clamp_min(SCALE_FLOOR_METRES)[:, None, None]  # (B, 1, 1)
        return {
            "translation_normalized": translation_normalized,
            "quaternion": quaternion,
            "fov": pair_out[..., 7],  # (B, P)
            "log_scale": log_scale,
            "scale": scale,
            "translation": translation_normalized * metric_factor,  # (B, P, 3)
        }
