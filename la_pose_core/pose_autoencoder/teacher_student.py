"""Teacher-student training of the pose encoder against a frozen LA-Pose model.

The teacher is the frozen inverse dynamics model: for post-training clips with known relative
poses it gives latent actions ``a`` ``(B, P, d)``. The student, a
:class:`~la_pose_core.model.pose_encoder.PoseEncoder`, sees only the poses and learns to
produce the same latents. Objective per batch:

    loss = ||E(pose) - a||^2                                  (``loss_latent``)
         + pose_weight * PoseLoss(H(E(pose)), targets)       (``loss_pose``)

``||.||^2`` is the squared Euclidean norm over the ``d`` latent components, averaged over the
batch's pairs. ``H`` is the frozen pose head: its pose loss on the *student's* latents, against the
ground-truth targets of :class:`~la_pose_core.model.targets.PoseTargets`, keeps the encoded
latents decodable to the right pose (the auto-encoder's consistency term). Gradients flow through
``H`` into the encoder only.

Poses follow ``la_pose_core.geometry``: pair ``t`` is ``cam_t_from_cam_{t+1}`` in the camera
optical frame, metres, quaternions ``(x, y, z, w)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from la_pose_core.model.config import LAPoseConfig
from la_pose_core.model.losses import PoseLoss
from la_pose_core.model.pose_encoder import PoseEncoder
from la_pose_core.model.pose_head import PoseHead
from la_pose_core.model.targets import PoseTargets


@dataclass
class TeacherBatch:
    """One training batch: ``B`` clips of ``P`` pairs."""

    teacher_latents: Tensor  # (B, P, d) frozen inverse dynamics latent actions
    relative_poses: np.ndarray  # (B, P, 4, 4) metric cam_t_from_cam_{t+1}
    fov: np.ndarray | float  # vertical FoV (radians): scalar, (B,) or (B, P)
    fps: np.ndarray | float | None = None  # frame rate: scalar, (B,) or (B, P); None without


def _fps_tensor(fps: np.ndarray | float | None, batch: int, pairs: int) -> Tensor | None:
    """Frame rate as a ``(B, P)`` float32 tensor (``None`` stays ``None``)."""
    if fps is None:
        return None
    fps = torch.as_tensor(np.asarray(fps, dtype=np.float32))  # (), (B,) or (B, P)
    fps = fps.reshape(fps.shape + (1,) * (2 - fps.dim()))  # (1|B, 1|P)
    return torch.broadcast_to(fps, (batch, pairs))  # (B, P)


def teacher_student_loss(
    encoder: PoseEncoder,
    pose_head: PoseHead | None,
    pose_loss: PoseLoss | None,
    teacher_latents: Tensor,
    relative_poses: np.ndarray,
    fov: np.ndarray | float,
    fps: np.ndarray | float | None = None,
    pose_weight: float = 1.0,
) -> dict[str, Tensor]:
    """The training objective of one batch (see module docstring).

    Args:
        encoder: the student.
        pose_head, pose_loss: the frozen pose head and its loss; both ``None`` leaves the latent
            term alone (``loss_pose`` is then 0).
        teacher_latents: ``(B, P, d)`` latent actions of the frozen inverse dynamics model.
        relative_poses: ``(B, P, 4, 4)`` ground-truth metric ``cam_t_from_cam_{t+1}``.
        fov: vertical FoV of the model input, radians (scalar, ``(B,)`` or ``(B, P)``).
        fps: frame rate of the pairs, for an encoder built with ``use_fps``.
        pose_weight: weight of the pose-head term.
    Returns a dict of scalars: ``loss`` (total), ``loss_latent``, ``loss_pose``, and the
    ``student_latents`` ``(B, P, d)``.
    """
    if (pose_head is None) != (pose_loss is None):
        raise ValueError("pass both pose_head and pose_loss, or neither")
    relative_poses = np.asarray(relative_poses, dtype=np.float64)  # (B, P, 4, 4)
    batch, pairs = relative_poses.shape[:2]
    teacher_latents = teacher_latents.detach()  # (B, P, d) the teacher is frozen
    fps_tensor = _fps_tensor(fps, batch, pairs)  # (B, P) or None
    student = encoder.encode_relative_poses(relative_poses, fps_tensor)  # (B, P, d)
    student = student.to(teacher_latents.dtype)
    loss_latent = (student - teacher_latents).pow(2).sum(dim=-1).mean()  # ()
    if pose_head is None:
        loss_pose = student.new_zeros(())  # ()
    else:
        targets = PoseTargets.from_relative_poses(relative_poses, fov).to(student.device)
        outputs = pose_head(student)  # dict of (B, P, ...) / (B,)
        loss_pose = pose_loss(outputs, targets)["loss"]  # ()
    return {
        "loss": loss_latent + pose_weight * loss_pose,
        "loss_latent": loss_latent,
        "loss_pose": loss_pose,
        "student_latents": student,
    }


def freeze(module: nn.Module | None) -> None:
    """Eval mode and no parameter gradients (in place); ``None`` is ignored."""
    if module is not None:
        module.eval()
        module.requires_grad_(False)


def fit_pose_encoder(
    encoder: PoseEncoder,
    batches: Iterable[TeacherBatch],
    steps: int,
    lr: float,
    pose_head: PoseHead | None = None,
    pose_loss: PoseLoss | None = None,
    pose_weight: float = 1.0,
) -> list[dict[str, float]]:
    """Train ``encoder`` for ``steps`` Adam steps on ``batches`` (cycled when shorter).

    ``pose_head`` and ``pose_loss`` are frozen in place (eval mode, ``requires_grad`` off); only
    the encoder's parameters are updated. Returns one dict per step with the float values of
    ``loss``, ``loss_latent`` and ``loss_pose``.
    """
    freeze(pose_head)
    freeze(pose_loss)
    encoder.train()
    optimizer = torch.optim.Adam(encoder.parameters(), lr=lr)
    history = []
    for batch in itertools.islice(itertools.cycle(batches), steps):
        losses = teacher_student_loss(
            encoder,
            pose_head,
            pose_loss,
            batch.teacher_latents,
            batch.relative_poses,
            batch.fov,
            batch.fps,
            pose_weight=pose_weight,
        )
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        optimizer.step()
        history.append(
            {key: float(losses[key].detach()) for key in ("loss", "loss_latent", "loss_pose")}
        )
    encoder.eval()
    return history


class PoseEncoderTrainer(nn.Module):
    """The ``la-pose train pose-encoder`` module: frozen teacher, trainable student.

    The teacher is a post-trained LA-Pose model: its inverse dynamics backbone gives the target
    latent actions and its pose head the consistency term (module docstring). Both stay frozen
    and in eval mode even under ``.train()``; only :attr:`encoder` learns.

    Args:
        config: the teacher's config (``pose_encoder`` section: the encoder and the pose-term
            weight).
        inverse_dynamics, pose_head: the teacher's trained modules.
    """

    def __init__(self, config: LAPoseConfig, inverse_dynamics: nn.Module, pose_head: PoseHead):
        super().__init__()
        self.inverse_dynamics = inverse_dynamics
        self.pose_head = pose_head
        self.pose_loss = PoseLoss(config.pose_head)
        self.encoder = PoseEncoder.from_config(config)
        self.pose_weight = config.pose_encoder.pose_loss_weight
        for module in (self.inverse_dynamics, self.pose_head, self.pose_loss):
            freeze(module)

    def train(self, mode: bool = True) -> PoseEncoderTrainer:
        super().train(mode)
        for module in (self.inverse_dynamics, self.pose_head, self.pose_loss):
            module.eval()
        return self

    def forward(
        self, frames: Tensor, dt: Tensor, relative_poses: np.ndarray, fov: np.ndarray
    ) -> dict[str, Tensor]:
        """Teacher-student loss of a batch of posed clips.

        Args:
            frames: ``(B, T, 3, H, W)`` in [0, 1].
            dt: ``(B, T - 1)`` seconds between frames (> 0).
            relative_poses: ``(B, T - 1, 4, 4)`` metric ``cam_t_from_cam_{t+1}``.
            fov: ``(B,)`` vertical FoV of the model input (rad).
        Returns :func:`teacher_student_loss`'s dict plus ``teacher_latents`` ``(B, P, d)`` and
        ``relative_latent_error`` ``()``: mean ``||student - teacher|| / ||teacher||``.
        """
        with torch.no_grad():
            teacher = self.inverse_dynamics(frames, dt)["latent_actions"]  # (B, P, d)
        fps = (1.0 / dt).float().cpu().numpy() if self.encoder.use_fps else None  # (B, P)
        losses = teacher_student_loss(
            self.encoder,
            self.pose_head,
            self.pose_loss,
            teacher,
            relative_poses,
            fov,
            fps,
            pose_weight=self.pose_weight,
        )
        with torch.no_grad():
            difference = (losses["student_latents"] - teacher).float().norm(dim=-1)  # (B, P)
            relative = difference / teacher.float().norm(dim=-1).clamp_min(1e-12)  # (B, P)
        return {**losses, "teacher_latents": teacher, "relative_latent_error": relative.mean()}
