"""Pose head: latent actions of a clip -> relative poses, field of view and metric scale.

The ``P = T - 1`` latent actions are projected to the head's width and preceded by one learnable
*scale token*; a non-causal transformer (rotary positions over the token order) mixes them. Then

- head A, per pair token: scale-normalised translation ``t~`` (3), quaternion (4, normalised to
  unit length with canonical sign ``w >= 0``), vertical FoV of the input image (1, radians);
- head B, on the scale token: the clip's metric scale ``s = exp(output)`` (exp activation).

With ``camera_fov_input`` the head is also told the camera's vertical FoV (of the model input,
from the calibration): :class:`CameraFovEmbedding` adds its embedding to every token. With
``motion_in_focal_units`` as well, the head's x and y outputs of translation and rotation
(lateral and vertical motion, pitch and yaw: what moves the image sideways and up or down) are
in units of image motion (as seen by a 45-degree camera) and turned into directions and angles
by the camera's focal length (:func:`focal_units`), so that one image shift means a smaller
turn through a narrower camera by construction, not by what the head has learned of each FoV.

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
_MIN_FOV, _MAX_FOV = math.radians(10.0), math.radians(120.0)  # a head's FoV estimate, clamped


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

    def told(self, camera_fov: Tensor) -> Tensor:
        """The ``(B,)`` FoV the head is told: in training the share ``dropout`` of the clips is
        made unknown (NaN), so that the unknown-FoV embedding is trained too."""
        if not (self.training and self.dropout > 0):
            return camera_fov
        dropped = torch.rand(camera_fov.shape, device=camera_fov.device) < self.dropout  # (B,)
        return camera_fov.masked_fill(dropped, math.nan)

    def forward(self, camera_fov: Tensor) -> Tensor:
        known = camera_fov == camera_fov  # (B,) False where NaN
        safe = torch.where(known, camera_fov, torch.full_like(camera_fov, math.pi / 4))  # (B,)
        feature = (torch.log(torch.tan(0.5 * safe)) - _LOG_TAN_CENTRE) / _LOG_TAN_HALF_RANGE
        embedded = self.known(feature[:, None])  # (B, D)
        return torch.where(known[:, None], embedded, self.unknown)[:, None]  # (B, 1, D)


def focal_units(camera_fov: Tensor, predicted_fov: Tensor) -> Tensor:
    """``(B, 1, 1)`` factor ``tan(fov / 2) / tan(22.5 deg)``: image motion to angle, relative
    to a 45-degree camera (a yaw of ``psi`` shifts the view by about ``f psi`` pixels, and the
    focal length is ``f = (H / 2) / tan(fov / 2)``). ``fov`` is the camera's vertical FoV
    ``camera_fov`` ``(B,)`` where known, else (NaN) the head's own estimate ``predicted_fov``
    ``(B, P)``, its mean over the pairs (not differentiated through)."""
    estimate = predicted_fov.detach().mean(dim=1).clamp(_MIN_FOV, _MAX_FOV)  # (B,)
    fov = torch.where(camera_fov == camera_fov, camera_fov, estimate)  # (B,)
    return (torch.tan(0.5 * fov) / math.tan(math.radians(45.0) / 2))[:, None, None]


def _in_focal_units(vectors: Tensor, factor: Tensor) -> Tensor:
    """``(B, P, >= 3)`` vectors whose x and y (the image plane's axes) are multiplied by
    ``factor`` ``(B, 1, 1)``; z and anything after it stay."""
    return torch.cat((vectors[..., :2] * factor, vectors[..., 2:]), dim=-1)


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
        if cfg.motion_in_focal_units and not cfg.camera_fov_input:
            raise ValueError("pose_head.motion_in_focal_units needs pose_head.camera_fov_input")
        self.motion_in_focal_units = cfg.motion_in_focal_units
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
            camera_fov = self.camera_fov.told(camera_fov.to(x.dtype))  # (B,)
            x = x + self.camera_fov(camera_fov)  # (B, 1 + P, D)
        positions = torch.arange(1 + pairs, device=x.device)  # (1 + P,)
        for block in self.blocks:
            x = block(x, positions)  # (B, 1 + P, D)
        x = self.norm(x)  # (B, 1 + P, D)
        pair_out = self.pair_head(x[:, 1:])  # (B, P, 8)
        translation_normalized = pair_out[..., 0:3]  # (B, P, 3)
        quaternion = pair_out[..., 3:7]  # (B, P, 4), not yet unit
        if self.motion_in_focal_units:  # lateral, vertical, yaw and pitch scale with 1 / f
            factor = focal_units(camera_fov, pair_out[..., 7])  # (B, 1, 1)
            translation_normalized = _in_focal_units(translation_normalized, factor)
            quaternion = _in_focal_units(quaternion, factor)
        quaternion = F.normalize(quaternion, dim=-1)  # (B, P, 4)
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
