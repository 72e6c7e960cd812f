"""Pose encoder of the Camera Pose Auto-Encoder (Shavit & Keller): relative pose -> latent action.

A relative pose ``cam_t_from_cam_{t+1}`` (camera optical frame, metres; see
``la_pose_core.geometry``) is given as its translation ``t`` (3) and quaternion ``q``
``(x, y, z, w)`` (4), optionally with the frame rate (1, frames per second) of the pair. Each
input coordinate ``x`` is embedded with Fourier features (NeRF-style, frequencies ``2^l``,
``l = 0 .. L-1``, no factor pi, the input kept):

    gamma(x) = [x, sin(2^0 x), cos(2^0 x), ..., sin(2^(L-1) x), cos(2^(L-1) x)]   (1 + 2L values)

and a 4-layer ReLU MLP ``(64, 128, 256, d)`` maps the concatenated embeddings to the
``d``-dimensional latent-action space of the inverse dynamics model.

``q`` and ``-q`` are the same rotation: quaternions are normalised and brought to the canonical
sign of ``la_pose_core.geometry.canonical_quaternion`` (``w >= 0``; for ``w = 0`` the first
non-zero of ``x, y, z`` positive) before the embedding, so both give the same latent.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import Tensor, nn

from la_pose_core.geometry.rotations_torch import (
    canonical_quaternion_torch,
    quaternion_from_matrix_torch,
)
from la_pose_core.model.config import LAPoseConfig, PoseEncoderConfig

# the constructor's defaults are the config's: one home for them
_DEFAULTS = PoseEncoderConfig()

POSE_COORDINATES = 3 + 4  # translation + quaternion


class FourierFeatures(nn.Module):
    """``gamma(x)`` per coordinate: ``(..., C)`` -> ``(..., C (1 + 2L))`` (see module docstring)."""

    def __init__(self, levels: int) -> None:
        super().__init__()
        if levels < 0:
            raise ValueError(f"fourier levels must be >= 0, got {levels}")
        self.levels = levels
        frequencies = 2.0 ** torch.arange(levels, dtype=torch.float32)  # (L,)
        self.register_buffer("frequencies", frequencies, persistent=False)

    def output_dim(self, coordinates: int) -> int:
        """Embedding size of ``coordinates`` inputs: ``coordinates * (1 + 2L)``."""
        return coordinates * (1 + 2 * self.levels)

    def forward(self, x: Tensor) -> Tensor:
        angles = x[..., :, None] * self.frequencies.to(x.dtype)  # (..., C, L)
        per_coordinate = torch.cat(
            (x[..., :, None], angles.sin(), angles.cos()), dim=-1
        )  # (..., C, 1 + 2L)
        return per_coordinate.flatten(-2)  # (..., C (1 + 2L))


class PoseEncoder(nn.Module):
    """Relative pose (and optional frame rate) -> latent action ``(..., d)``.

    Args (defaults: :class:`~la_pose_core.model.config.PoseEncoderConfig`'s):
        latent_dim: ``d``, the latent-action size of the inverse dynamics model
            (``config.inverse_dynamics.dim``).
        fourier_levels: ``L``, Fourier frequencies per coordinate.
        hidden: widths of the first three ReLU layers; the fourth maps to ``d``.
        use_fps: whether :meth:`forward` takes the frame rate as an eighth coordinate.
        translation_scale: metres per unit of the embedded translation (translations are divided
            by it before the Fourier features, to keep ``2^(L-1) t`` in a useful range).
    """

    def __init__(
        self,
        latent_dim: int,
        fourier_levels: int = _DEFAULTS.fourier_levels,
        hidden: tuple[int, ...] = tuple(_DEFAULTS.hidden),
        use_fps: bool = _DEFAULTS.use_fps,
        translation_scale: float = _DEFAULTS.translation_scale,
    ) -> None:
        super().__init__()
        if translation_scale <= 0:
            raise ValueError(f"translation_scale must be positive, got {translation_scale}")
        self.latent_dim = latent_dim
        self.use_fps = use_fps
        self.translation_scale = translation_scale
        self.fourier = FourierFeatures(fourier_levels)
        self.input_coordinates = POSE_COORDINATES + int(use_fps)
        widths = [self.fourier.output_dim(self.input_coordinates), *hidden, latent_dim]
        layers: list[nn.Module] = []
        for index, (width_in, width_out) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.Linear(width_in, width_out))
            if index < len(widths) - 2:
                layers.append(nn.ReLU())
        self.mlp = nn.Sequential(*layers)

    @classmethod
    def from_config(cls, config: LAPoseConfig) -> PoseEncoder:
        """The encoder of ``config.pose_encoder`` for the latent actions of
        ``config.inverse_dynamics`` (``d = inverse_dynamics.dim``)."""
        section = config.pose_encoder
        return cls(
            latent_dim=config.inverse_dynamics.dim,
            fourier_levels=section.fourier_levels,
            hidden=tuple(section.hidden),
            use_fps=section.use_fps,
            translation_scale=section.translation_scale,
        )

    @property
    def embedding_dim(self) -> int:
        """Size of the Fourier embedding that enters the MLP."""
        return self.fourier.output_dim(self.input_coordinates)

    def pose_features(
        self, translation: Tensor, quaternion: Tensor, fps: Tensor | None = None
    ) -> Tensor:
        """Raw coordinates ``(..., 7)`` or ``(..., 8)``: ``[t / scale, canonical q, (fps)]``."""
        if self.use_fps and fps is None:
            raise ValueError("this encoder was built with use_fps=True: pass fps")
        if not self.use_fps and fps is not None:
            raise ValueError("this encoder was built with use_fps=False: fps must be None")
        parts = [
            translation / self.translation_scale,  # (..., 3)
            canonical_quaternion_torch(quaternion),  # (..., 4)
        ]
        if fps is not None:
            fps = torch.as_tensor(fps, dtype=translation.dtype, device=translation.device)
            parts.append(torch.broadcast_to(fps, translation.shape[:-1])[..., None])  # (..., 1)
        return torch.cat(parts, dim=-1)  # (..., 7 or 8)

    def forward(self, translation: Tensor, quaternion: Tensor, fps: Tensor | None = None) -> Tensor:
        """Latent actions of relative poses.

        Args:
            translation: ``(..., 3)`` metric translation of ``cam_t_from_cam_{t+1}`` (metres).
            quaternion: ``(..., 4)`` its rotation ``(x, y, z, w)``, any sign and norm.
            fps: frame rate of the pairs (frames per second), broadcastable to ``(...)``;
                required exactly when ``use_fps``.
        Returns:
            ``(..., d)`` latent actions.
        """
        features = self.pose_features(translation, quaternion, fps)  # (..., C)
        embedded = self.fourier(features)  # (..., C (1 + 2L))
        return self.mlp(embedded)  # (..., d)

    def encode_relative_poses(
        self, relative_poses: np.ndarray | Tensor, fps: Tensor | float | None = None
    ) -> Tensor:
        """Latent actions ``(..., d)`` of ``(..., 4, 4)`` metric relative poses."""
        translation, quaternion = pose_tensors(relative_poses, self._device())
        return self(translation, quaternion, None if fps is None else torch.as_tensor(fps))

    def _device(self) -> torch.device:
        return next(self.parameters()).device


def pose_tensors(
    relative_poses: np.ndarray | Tensor, device: torch.device | str = "cpu"
) -> tuple[Tensor, Tensor]:
    """``(..., 4, 4)`` poses -> float32 translation ``(..., 3)`` and canonical quaternion
    ``(..., 4)`` on ``device`` (computed in float64 on the CPU)."""
    poses = torch.as_tensor(relative_poses).detach().to("cpu", torch.float64)  # (..., 4, 4)
    translation = poses[..., :3, 3]  # (..., 3)
    quaternion = quaternion_from_matrix_torch(poses[..., :3, :3])  # (..., 4)
    return (
        translation.to(device=device, dtype=torch.float32),
        quaternion.to(device=device, dtype=torch.float32),
    )
