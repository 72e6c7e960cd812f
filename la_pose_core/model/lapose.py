"""The two training stages of LA-Pose as modules that return their loss.

Pretraining (:class:`LAPosePretrainer`), on unlabeled video: a frozen tokenizer turns every
frame into code indices; the inverse dynamics model infers one latent action per adjacent pair;
the forward dynamics model predicts frame ``t + 1``'s codes from frames ``<= t`` and the
(bottlenecked) ``a_t``. Loss: cross-entropy of those predictions.

Post-training (:class:`LAPosePosttrainer`), on posed clips: the pretrained inverse dynamics
model (frozen by default) gives latent actions; the pose head maps them to relative poses, FoV
and metric scale. Loss: :class:`~la_pose_core.model.losses.PoseLoss`.

Frozen parts get ``requires_grad = False`` *and* stay in eval mode even under ``.train()``, so
neither gradients, dropout nor normalisation/codebook statistics move them.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from la_pose_core.model.config import LAPoseConfig
from la_pose_core.model.forward_dynamics import ForwardDynamics
from la_pose_core.model.inverse_dynamics import InverseDynamics
from la_pose_core.model.losses import PoseLoss
from la_pose_core.model.pose_head import PoseHead
from la_pose_core.model.targets import PoseTargets
from la_pose_core.model.tokenizer import Tokenizer


class LAPosePretrainer(nn.Module):
    """Latent action pretraining: frozen tokenizer + inverse dynamics + forward dynamics."""

    def __init__(self, config: LAPoseConfig, tokenizer: Tokenizer | None = None) -> None:
        """``tokenizer``: a trained tokenizer (a fresh one is built if None); always frozen."""
        super().__init__()
        self.tokenizer = tokenizer if tokenizer is not None else Tokenizer(config)
        self.inverse_dynamics = InverseDynamics(config)
        self.forward_dynamics = ForwardDynamics(config)
        self.tokenizer.requires_grad_(False)
        self.tokenizer.eval()

    def train(self, mode: bool = True) -> LAPosePretrainer:
        super().train(mode)
        self.tokenizer.eval()
        return self

    def forward(self, frames: Tensor, dt: Tensor | None = None) -> dict[str, Tensor]:
        """One teacher-forced pass over a clip.

        The targets are the frozen tokenizer's codes of the clip's own frames ``1..T-1``, so
        the loss is always computed.

        Args:
            frames: ``(B, T, 3, H, W)`` in [0, 1].
            dt: ``(B, T - 1)`` seconds between consecutive frames (None: nominal interval).
        Returns a dict:
            ``latent_actions`` ``(B, T-1, d)``, ``bottleneck_codes`` ``(B, T-1, k)``,
            ``decoded_actions`` ``(B, T-1, d)`` (as :class:`InverseDynamics`);
            ``indices`` ``(B, T, h, w)`` tokenizer codes of every frame;
            ``logits`` ``(B, T-1, h, w, codebook_size)`` predicted codes of frames ``1..T-1``;
            ``loss`` ``()`` cross-entropy of ``logits`` against ``indices[:, 1:]``.
        """
        batch = frames.shape[0]
        with torch.no_grad():
            _, indices, _ = self.tokenizer.encode(rearrange(frames, "b t c h w -> (b t) c h w"))
        indices = rearrange(indices, "(b t) h w -> b t h w", b=batch)  # (B, T, h, w)
        actions = self.inverse_dynamics(frames, dt)
        prediction = self.forward_dynamics(
            indices[:, :-1], actions["decoded_actions"], targets=indices[:, 1:]
        )
        return {**actions, "indices": indices, **prediction}


class LAPosePosttrainer(nn.Module):
    """Pose post-training: inverse dynamics backbone (frozen by default) + pose head + loss."""

    def __init__(
        self,
        config: LAPoseConfig,
        inverse_dynamics: InverseDynamics | None = None,
        freeze_backbone: bool = True,
    ) -> None:
        """``inverse_dynamics``: the pretrained backbone (a fresh one is built if None)."""
        super().__init__()
        self.inverse_dynamics = (
            inverse_dynamics if inverse_dynamics is not None else InverseDynamics(config)
        )
        self.pose_head = PoseHead(config)
        self.pose_loss = PoseLoss(config.pose_head)
        self.backbone_frozen = False
        self.freeze_backbone(freeze_backbone)

    def freeze_backbone(self, frozen: bool = True) -> None:
        """Freeze (or release, for fine-tuning) the inverse dynamics backbone."""
        self.backbone_frozen = frozen
        self.inverse_dynamics.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> LAPosePosttrainer:
        super().train(mode)
        self.inverse_dynamics.train(mode and not self.backbone_frozen)
        # the action bottleneck serves the forward dynamics model only: its batch statistics
        # (code_norm "batch") stay as pretrained
        self.inverse_dynamics.bottleneck.eval()
        return self

    def forward(
        self,
        frames: Tensor | None,
        dt: Tensor | None = None,
        targets: PoseTargets | None = None,
        latent_actions: Tensor | None = None,
        camera_fov: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Poses of every adjacent pair of a clip.

        Args:
            frames: ``(B, T, 3, H, W)`` in [0, 1]; None when ``latent_actions`` are given.
            dt: ``(B, T - 1)`` seconds between consecutive frames (None: nominal interval).
            targets: ground truth; the loss entries are present only when given.
            latent_actions: ``(B, T-1, d)`` the frozen backbone's output for these clips,
                computed before (:mod:`la_pose_core.training.latent_cache`): the backbone is
                skipped.
            camera_fov: ``(B,)`` vertical FoV of the model input (radians; NaN or None:
                unknown), for a pose head with ``camera_fov_input``.
        Returns a dict:
            ``latent_actions`` ``(B, T-1, d)``, and unless they were given
            ``bottleneck_codes`` ``(B, T-1, k)``, ``decoded_actions`` ``(B, T-1, d)`` (as
            :class:`InverseDynamics`);
            ``translation_normalized`` ``(B, T-1, 3)``, ``quaternion`` ``(B, T-1, 4)``,
            ``fov`` ``(B, T-1)``, ``log_scale`` ``(B,)``, ``scale`` ``(B,)``,
            ``translation`` ``(B, T-1, 3)`` (as :class:`PoseHead`);
            with targets: ``loss``, ``loss_translation``, ``loss_rotation``, ``loss_fov``,
            ``loss_scale``, all ``()``.
        """
        if latent_actions is not None:
            if not self.backbone_frozen:
                raise ValueError("latent actions can stand in for a frozen backbone only")
            actions = {"latent_actions": latent_actions}
        else:
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.backbone_frozen):
                actions = self.inverse_dynamics(frames, dt)
        outputs = {**actions, **self.pose_head(actions["latent_actions"], camera_fov)}
        if targets is not None:
            outputs.update(self.pose_loss(outputs, targets))
        return outputs
