"""Pose head: latent actions of a clip -> relative poses, field of view and metric scale.

The ``P = T - 1`` latent actions are projected to the head's width and preceded by one learnable
*scale token*; a non-causal transformer (rotary positions over the token order) mixes them. Then

- head A, per pair token: scale-normalised translation ``t~`` (3), quaternion (4, normalised to
  unit length with canonical sign ``w >= 0``), vertical FoV of the input image (1, radians);
- head B, on the scale token: the clip's metric scale ``s = exp(output)`` (exp activation).

With ``camera_fov_input`` the head is also told the camera's vertical FoV (of the model input,
from the calibration): :class:`CameraFovEmbedding` adds its embedding to every token.

Scale decoupling (paper): ``s = mean_i ||t_i||`` over the clip's metric translations and
``t~_i = t_i / max(s, 1)``; metric translation is ``t~ * max(s, 1)`` (metres).

Conventions: each pair ``(t, t + 1)`` is the motion ``cam_t_from_cam_{t+1}`` in the camera
optical frame (x right, y down, z forward): its translation is camera ``t + 1``'s position in
camera ``t``'s frame (driving forward is about ``+z``); quaternions are ``(x, y, z, w)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from la_pose_core.geometry.scale import SCALE_FLOOR_METRES
from la_pose_core.model.config import LAPoseConfig
from la_pose_core.model.layers import MLP, TransformerBlock, init_transformer_weights

INPUT_NORMS = ("none", "batch")
# log tan(fov / 2) is centred on a 45-degree camera and scaled by the half-width of the
# synthetic drives' 30-60 degree range (about -1.1 .. 0.9 over it)
_LOG_TAN_CENTRE = math.log(math.tan(math.radians(45.0) / 2))
_LOG_TAN_HALF_RANGE = 0.384


class CameraFovEmbedding(nn.Module):
    """``(B,)`` vertical FoV of the model input (radians; NaN: unknown) -> ``(B, 1, D)``.

    A known FoV is embedded linearly in ``log tan(fov / 2)`` (a focal length's log, up to a
    constant), an unknown one is a learned vector. All start at zero, so adding the embedding
    to a trained head leaves its outputs unchanged until it learns to use the FoV. In training
    the share ``dropout`` of the clips is treated as unknown, so that embedding is trained too.
    """

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"pose_head.camera_fov_dropout must be in [0, 1), got {dropout}")
        self.dropout = dropout
        self.known = nn.Linear(1, dim)
        self.unknown = nn.Parameter(torch.zeros(dim))  # (D,)

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.known.weight)
        nn.init.zeros_(self.known.bias)
        nn.init.zeros_(self.unknown)

    def forward(self, camera_fov: Tensor) -> Tensor:
        known = camera_fov == camera_fov  # (B,) False where NaN
        if self.training and self.dropout > 0:
            known = known & (torch.rand(known.shape, device=known.device) >= self.dropout)
        safe = torch.where(known, camera_fov, torch.full_like(camera_fov, math.pi / 4))  # (B,)
        feature = (torch.log(torch.tan(0.5 * safe)) - _LOG_TAN_CENTRE) / _LOG_TAN_HALF_RANGE
        embedded = self.known(feature[:, None])  # (B, D)
        return torch.where(known[:, None], embedded, self.unknown)[:, None]  # (B, 1, D)


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
        self.camera_fov = (
            CameraFovEmbedding(cfg.dim, cfg.camera_fov_dropout) if cfg.camera_fov_input else None
        )
        self.apply(init_transformer_weights)
        nn.init.trunc_normal_(self.scale_token, std=0.02)
        if self.camera_fov is not None:
            self.camera_fov.reset_parameters()

    def forward(
        self, latent_actions: Tensor, camera_fov: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Pose of every pair of a clip (or of a streaming window).

        Args:
            latent_actions: ``(B, P, d)`` latent actions ``a_0..a_{P-1}``, ``P >= 1``.
            camera_fov: ``(B,)`` vertical FoV of the model input, radians, NaN where unknown;
                None: unknown for all. Read only by a head with ``camera_fov_input``.
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
        if self.camera_fov is not None:
            if camera_fov is None:
                camera_fov = latent_actions.new_full((batch,), math.nan)
            x = x + self.camera_fov(camera_fov.to(x.dtype))  # (B, 1 + P, D)
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
