"""The three training stages as small adapters of the one trainer loop.

Each stage says which module it trains, which batch fields it needs, how a batch becomes a
loss, and which parts go into its checkpoints:

``tokenizer``
    trains :class:`~la_pose_core.model.tokenizer.Tokenizer` (VQ-VAE) on the single frames of
    unlabelled clips (a batch of ``B`` clips of ``T`` frames is ``B T`` images). ``--init``
    (optional) continues from a checkpoint holding a tokenizer. Saves ``tokenizer``.
``pretrain``
    trains :class:`~la_pose_core.model.lapose.LAPosePretrainer` (inverse + forward dynamics,
    next-frame code cross-entropy) on unlabelled clips. ``--init`` (required) is a checkpoint
    holding a trained tokenizer, which stays frozen; an init that is itself a pretraining
    checkpoint continues it whole (a new schedule from its weights: to train longer than a
    finished run). Saves ``pretrainer`` and ``inverse_dynamics`` (the part post-training
    needs).
``posttrain``
    trains :class:`~la_pose_core.model.lapose.LAPosePosttrainer` (pose head, L1 losses) on
    posed clips. ``--init`` is a pretraining checkpoint whose inverse dynamics model becomes the
    backbone, frozen unless ``finetune_backbone`` (even then its action bottleneck stays frozen:
    the pose head reads the latent actions before it); an init that is itself a post-training
    checkpoint continues it whole (head included); no ``--init`` trains on a randomly
    initialised backbone (an ablation). Saves ``posttrainer``, which
    :meth:`la_pose_core.inference.estimator.PoseEstimator.from_checkpoint` loads. Option
    ``virtual_actions`` (a ``pose-encoder`` model file of the same backbone) makes it a
    :class:`VirtualActionStage`, which adds encoded rare motions to every batch
    (:mod:`la_pose_core.pose_autoencoder.virtual_actions`).
``pose-encoder``
    trains the Camera Pose Auto-Encoder's
    :class:`~la_pose_core.model.pose_encoder.PoseEncoder` teacher-student against a frozen
    post-trained model (:mod:`la_pose_core.pose_autoencoder.teacher_student`) on posed clips.
    ``--init`` (required, also read again on ``--resume``) is that post-training checkpoint.
    Saves ``pose_encoder``; the finished ``model.pt`` also holds the motion bank of the
    training clips and the teacher's fingerprint (:func:`~la_pose_core.pose_autoencoder.
    refinement.save_refinement_checkpoint`'s layout), which ``--refine`` options read.

Clips must have the config's ``clip_len`` frames for ``pretrain`` and ``posttrain`` (the
length of the streaming window); any length works for the tokenizer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from la_pose_core.evaluation.dynamics_check import dynamics_measures
from la_pose_core.model.checkpoint import Checkpoint, load_checkpoint, module_fingerprint
from la_pose_core.model.config import LAPoseConfig
from la_pose_core.model.inverse_dynamics import InverseDynamics, grown_state_dict
from la_pose_core.model.lapose import LAPosePosttrainer, LAPosePretrainer
from la_pose_core.model.targets import PoseTargets
from la_pose_core.model.tokenizer import Tokenizer
from la_pose_core.pose_autoencoder.refinement import (
    BANK_KEY,
    TEACHER_KEY,
    MotionBank,
    TranslationRefiner,
    teacher_record,
)
from la_pose_core.pose_autoencoder.teacher_student import PoseEncoderTrainer
from la_pose_core.pose_autoencoder.virtual_actions import VirtualActionPosttrainer, virtual_clips

if TYPE_CHECKING:
    from la_pose_core.training.options import TrainOptions

POSE_TERMS = ("loss_translation", "loss_rotation", "loss_fov", "loss_scale")


@dataclass
class StepOutput:
    """What a stage returns for one micro-batch.

    Attributes:
        loss: ``()`` the batch-mean loss to back-propagate (used when no filter is active).
        terms: detached ``()`` scalars to log (``loss`` included).
        per_sample: ``(B,)`` per-clip losses with their graph, when asked for (outlier filter).
        clips: clips in the micro-batch.
        unfiltered_loss: a term of ``loss`` outside the per-clip losses (virtual clips), added
            back after the outlier filter.
    """

    loss: Tensor
    terms: dict[str, Tensor]
    per_sample: Tensor | None = None
    clips: int = 0
    unfiltered_loss: Tensor | None = None  # () part of ``loss`` the outlier filter never drops


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` wrapper (or the module itself)."""
    return getattr(model, "module", model)


def _sections_differ(config: LAPoseConfig, other: LAPoseConfig, names: tuple[str, ...]) -> list:
    problems = []
    for name in names:
        mine, theirs = getattr(config, name), getattr(other, name)
        if mine != theirs:
            problems.append(f"{name}: run {mine!r} vs --init {theirs!r}")
    return problems


# what a pretraining checkpoint must share with a run that continues it
_DYNAMICS_SECTIONS = ("clip_len", "inverse_dynamics", "forward_dynamics")


def _tokenizer_of(init: Checkpoint) -> Tokenizer:
    if "tokenizer" in init.modules:
        return init.modules["tokenizer"]
    if "pretrainer" in init.modules:
        return init.modules["pretrainer"].tokenizer
    raise ValueError(f"--init holds no tokenizer (parts: {sorted(init.modules)})")


def _tokenizer_problems(init: Checkpoint | None) -> list[str]:
    """Why ``init`` cannot provide a tokenizer (empty when it can)."""
    try:
        _tokenizer_of(init)
    except ValueError as error:
        return [str(error)]
    return []


def _initial_tokenizer(config: LAPoseConfig, init: Checkpoint | None) -> Tokenizer:
    """A fresh tokenizer, with ``init``'s weights when given."""
    tokenizer = Tokenizer(config)
    if init is not None:
        tokenizer.load_state_dict(_tokenizer_of(init).state_dict())
    return tokenizer


def _inverse_dynamics_of(init: Checkpoint) -> InverseDynamics:
    for name in ("inverse_dynamics", "pretrainer", "posttrainer"):
        if name in init.modules:
            module = init.modules[name]
            return module if name == "inverse_dynamics" else module.inverse_dynamics
    raise ValueError(f"--init holds no inverse dynamics model (parts: {sorted(init.modules)})")


@dataclass
class Stage:
    """Base adapter; see the module docstring for the three stages."""

    name: str = ""
    description: str = ""
    with_labels: bool | None = False  # ClipShardDataset(with_labels=...)
    init_required: bool = False
    default_lr: float = 3e-4
    supports_outlier_filter: bool = False
    fixed_clip_len: bool = True
    init_sections: tuple[str, ...] = field(default_factory=tuple)
    init_on_resume: bool = False  # --init is read again by a resumed run (a frozen teacher)
    # The stage-specific options a stage takes (TrainOptions.validate and the command line ask):
    augments_clips: bool = True  # --mirror, --virtual-rotation
    backbone_options: bool = False  # --finetune-backbone, --cache-latents, --virtual-actions
    validation_needs_two_clips: bool = False  # its validation shuffles within a batch

    def for_options(self, options: TrainOptions) -> Stage:
        """The stage that runs with ``options`` (itself, or a variant some options choose)."""
        return self

    def config_problems(self, config: LAPoseConfig, init: Checkpoint) -> list[str]:
        """Why ``init``'s weights cannot serve a run with ``config`` (empty: they can)."""
        return _sections_differ(config, init.config, self.init_sections)

    def build(
        self, config: LAPoseConfig, init: Checkpoint | None, options: TrainOptions
    ) -> nn.Module:
        """The module to train (``init``: the loaded ``--init`` checkpoint, or None)."""
        raise NotImplementedError

    def finalize(self, model: nn.Module, options: TrainOptions, urls: list[str]) -> dict:
        """Extra plain data for the finished ``model.pt`` (rank 0, after the last step)."""
        return {}

    def parts(self, model: nn.Module) -> dict[str, nn.Module]:
        """Checkpoint parts of the (unwrapped) trained module."""
        raise NotImplementedError

    def check_batch(self, batch: dict[str, Any], config: LAPoseConfig) -> None:
        length = batch["dt"].shape[1] + 1  # frames per clip (also without decoded frames)
        if self.fixed_clip_len and length != config.clip_len:
            raise ValueError(
                f"clips of {length} frames, but the {config.name!r} config has "
                f"clip_len {config.clip_len} (write shards with --clip-len {config.clip_len})"
            )

    def step(
        self, model: nn.Module, batch: dict[str, Any], device: torch.device, per_sample: bool
    ) -> StepOutput:
        raise NotImplementedError

    @torch.no_grad()
    def validate(
        self, model: nn.Module, batches: list[dict[str, Any]], device: torch.device
    ) -> dict[str, float]:
        """Measures of the (unwrapped) model on held-out batches, in eval mode: by default the
        means of the logged step terms."""
        sums: dict[str, float] = {}
        for batch in batches:
            for name, value in self.step(model, batch, device, False).terms.items():
                sums[name] = sums.get(name, 0.0) + float(value) / len(batches)
        return sums


class TokenizerStage(Stage):
    def __init__(self) -> None:
        super().__init__(
            name="tokenizer",
            description="VQ-VAE tokenizer on single frames (reconstruction + commitment)",
            with_labels=False,
            init_required=False,
            default_lr=3e-4,
            fixed_clip_len=False,
            init_sections=("image_height", "image_width", "tokenizer"),
            augments_clips=False,
        )

    def config_problems(self, config: LAPoseConfig, init: Checkpoint) -> list[str]:
        return super().config_problems(config, init) + _tokenizer_problems(init)

    def build(self, config, init, options) -> nn.Module:
        return _initial_tokenizer(config, init)

    def parts(self, model: nn.Module) -> dict[str, nn.Module]:
        return {"tokenizer": model}

    def step(self, model, batch, device, per_sample) -> StepOutput:
        frames = batch["frames"].to(device, non_blocking=True)  # (B, T, 3, H, W)
        outputs = model(frames.flatten(0, 1))  # (B T) single frames
        terms = {
            name: outputs[name].detach()
            for name in ("loss", "loss_reconstruction", "loss_commitment")
        }
        return StepOutput(outputs["loss"], terms, None, frames.shape[0])


class PretrainStage(Stage):
    def __init__(self) -> None:
        super().__init__(
            name="pretrain",
            description="latent action pretraining (inverse + forward dynamics, frozen tokenizer)",
            with_labels=False,
            init_required=True,
            default_lr=3e-4,
            init_sections=("image_height", "image_width", "tokenizer"),
            validation_needs_two_clips=True,
        )

    def config_problems(self, config: LAPoseConfig, init: Checkpoint) -> list[str]:
        problems = super().config_problems(config, init) + _tokenizer_problems(init)
        if "pretrainer" in init.modules:
            problems += _sections_differ(config, init.config, _DYNAMICS_SECTIONS)
        return problems

    def build(self, config, init, options) -> nn.Module:
        model = LAPosePretrainer(config, _initial_tokenizer(config, init))
        if init is not None and "pretrainer" in init.modules:  # continue a pretraining whole
            model.load_state_dict(init.modules["pretrainer"].state_dict())
        return model

    def parts(self, model: nn.Module) -> dict[str, nn.Module]:
        return {"pretrainer": model, "inverse_dynamics": model.inverse_dynamics}

    def step(self, model, batch, device, per_sample) -> StepOutput:
        frames = batch["frames"].to(device, non_blocking=True)  # (B, T, 3, H, W)
        dt = batch["dt"].to(device, non_blocking=True)  # (B, T-1)
        outputs = model(frames, dt)
        with torch.no_grad():
            predicted = outputs["logits"].argmax(dim=-1)  # (B, T-1, h, w)
            accuracy = (predicted == outputs["indices"][:, 1:]).float().mean()
        terms = {"loss": outputs["loss"].detach(), "code_accuracy": accuracy}
        return StepOutput(outputs["loss"], terms, None, frames.shape[0])

    @torch.no_grad()
    def validate(self, model, batches, device) -> dict[str, float]:
        """Does the forward dynamics model use the latent action? Per batch (at least two
        clips) the next-frame code cross-entropy with the true and with shuffled latent actions,
        and the accuracy of copying the previous frame's codes
        (:func:`~la_pose_core.evaluation.dynamics_check.dynamics_measures`); means over batches,
        and ``ce_gap = ce_shuffled - ce_true``, what the latent action carries."""
        sums: dict[str, float] = {}
        for batch in batches:
            frames = batch["frames"].to(device, non_blocking=True)  # (B, T, 3, H, W)
            dt = batch["dt"].to(device, non_blocking=True)  # (B, T-1)
            for name, value in dynamics_measures(model, frames, dt).items():
                sums[name] = sums.get(name, 0.0) + value / len(batches)
        return {**sums, "ce_gap": sums["ce_shuffled"] - sums["ce_true"]}


class PosttrainStage(Stage):
    logged_terms = ("loss", *POSE_TERMS)

    def __init__(self) -> None:
        super().__init__(
            name="posttrain",
            description="pose head on posed clips (L1 losses), inverse dynamics frozen",
            with_labels=True,
            init_required=False,
            default_lr=1e-3,
            supports_outlier_filter=True,
            init_sections=("image_height", "image_width", "clip_len", "inverse_dynamics"),
            backbone_options=True,
        )

    def for_options(self, options: TrainOptions) -> Stage:
        return self if options.virtual_actions is None else VIRTUAL_ACTION_STAGE

    def config_problems(self, config: LAPoseConfig, init: Checkpoint) -> list[str]:
        sections = tuple(name for name in self.init_sections if name != "inverse_dynamics")
        problems = _sections_differ(config, init.config, sections)
        problems += _backbone_problems(config, init.config)
        if "posttrainer" in init.modules:
            problems += _pose_head_problems(config, init.config)
        try:
            _inverse_dynamics_of(init)
        except ValueError as error:
            problems.append(str(error))
        return problems

    def build(self, config, init, options) -> nn.Module:
        model = LAPosePosttrainer(config, InverseDynamics(config), freeze_backbone=True)
        if init is not None:
            if "posttrainer" in init.modules:
                _load_posttrainer(model, init.modules["posttrainer"])
            else:
                backbone = _inverse_dynamics_of(init).state_dict()
                model.inverse_dynamics.load_state_dict(
                    grown_state_dict(backbone, model.inverse_dynamics)
                )
        model.freeze_backbone(not options.finetune_backbone)
        # The action bottleneck feeds the forward dynamics model only, not the pose head: it
        # stays as pretrained (DDP also needs every trainable parameter to get a gradient).
        model.inverse_dynamics.bottleneck.requires_grad_(False)
        return model

    def parts(self, model: nn.Module) -> dict[str, nn.Module]:
        return {"posttrainer": model}

    def check_batch(self, batch: dict[str, Any], config: LAPoseConfig) -> None:
        super().check_batch(batch, config)
        _check_posed(batch, self.name)

    def step(self, model, batch, device, per_sample) -> StepOutput:
        dt = batch["dt"].to(device, non_blocking=True)  # (B, T-1)
        targets = PoseTargets.from_relative_poses(batch["relative_poses"], batch["fov"]).to(device)
        outputs = self.outputs(model, batch, device, dt, targets)
        terms = {name: outputs[name].detach() for name in self.logged_terms}
        losses, unfiltered = None, None
        if per_sample:
            losses = unwrap(model).pose_loss.per_sample(outputs, targets)  # (B,)
            unfiltered = self.unfiltered_loss(outputs)
        return StepOutput(outputs["loss"], terms, losses, dt.shape[0], unfiltered)

    def outputs(
        self,
        model: nn.Module,
        batch: dict[str, Any],
        device: torch.device,
        dt: Tensor,
        targets: PoseTargets,
    ) -> dict[str, Tensor]:
        """The model's outputs for ``batch``'s clips: from its ``frames`` or, with
        ``--cache-latents``, the frozen backbone's ``latent_actions`` ``(B, T-1, d)``
        (:mod:`la_pose_core.training.latent_cache`)."""
        frames, latents = (
            batch[name].to(device, non_blocking=True) if name in batch else None
            for name in ("frames", "latent_actions")
        )  # (B, T, 3, H, W), (B, T-1, d)
        camera_fov = targets.fov[:, 0]  # (B,) each clip's camera FoV, the head's input
        if latents is not None:
            return model(None, dt, targets, latent_actions=latents, camera_fov=camera_fov)
        return model(frames, dt, targets, camera_fov=camera_fov)

    def unfiltered_loss(self, outputs: dict[str, Tensor]) -> Tensor | None:
        """The part of ``outputs["loss"]`` the outlier filter never drops (none here)."""
        return None


class VirtualActionStage(PosttrainStage):
    """Post-training with virtual clips (``--virtual-actions``): a
    :class:`~la_pose_core.pose_autoencoder.virtual_actions.VirtualActionPosttrainer` adds, per
    real clip, the pose loss of an encoded rare motion; checkpoints hold the posttrainer only."""

    logged_terms = (*PosttrainStage.logged_terms, "loss_real", "loss_virtual")

    def build(self, config, init, options) -> nn.Module:
        model = super().build(config, init, options)
        encoder = _pose_encoder_for(options.virtual_actions, model.inverse_dynamics)
        return VirtualActionPosttrainer(
            model, encoder, options.virtual_weight, tuple(options.virtual_motions)
        )

    def parts(self, model: nn.Module) -> dict[str, nn.Module]:
        return {"posttrainer": model.posttrainer}

    def outputs(self, model, batch, device, dt, targets) -> dict[str, Tensor]:
        """The real clips' outputs (from their frames) with those of one virtual clip each,
        drawn from the model's ``virtual_motions``."""
        frames = batch["frames"].to(device, non_blocking=True)  # (B, T, 3, H, W)
        motions = unwrap(model).virtual_motions
        poses, intervals, _ = virtual_clips(
            batch["relative_poses"].numpy(), batch["dt"].numpy(), motions
        )  # (B, T-1, 4, 4), (B, T-1)
        virtual_targets = PoseTargets.from_relative_poses(poses, batch["fov"])
        return model(frames, dt, targets, poses, intervals, virtual_targets.to(device))

    def unfiltered_loss(self, outputs: dict[str, Tensor]) -> Tensor | None:
        return outputs["loss"] - outputs["loss_real"]  # the virtual term


VIRTUAL_ACTION_STAGE = VirtualActionStage()


def _backbone_problems(config: LAPoseConfig, init: LAPoseConfig) -> list[str]:
    """Why ``init``'s inverse dynamics model cannot serve a post-training with ``config``. It
    may gain cost-volume levels (:func:`~la_pose_core.model.inverse_dynamics.grown_state_dict`;
    train them with ``--finetune-backbone``)."""
    mine, theirs = config.inverse_dynamics, init.inverse_dynamics
    if theirs.correlation_radius > 0 and mine.correlation_levels > theirs.correlation_levels:
        theirs = dataclasses.replace(theirs, correlation_levels=mine.correlation_levels)
    return [] if mine == theirs else [f"inverse_dynamics: run {mine!r} vs --init {theirs!r}"]


# Pose-head settings that shape the training only (no weight depends on them): a continued head
# may change them, e.g. to weigh the rotation more.
TRAINING_ONLY_HEAD_FIELDS = (
    "weight_translation", "weight_rotation", "weight_fov", "weight_scale", "rotation_loss",
    "dropout", "camera_fov_dropout",
)  # fmt: skip


def _pose_head_problems(config: LAPoseConfig, init: LAPoseConfig) -> list[str]:
    """Why a post-training ``init``'s head cannot continue in a run with ``config``. A head may
    gain the camera FoV input (its embedding starts at zero, so the outputs start unchanged)
    and, with it, motion in focal units (its x and y outputs start rescaled by the FoV); its
    loss weights, rotation loss and dropouts may change (``TRAINING_ONLY_HEAD_FIELDS``)."""
    mine, theirs = config.pose_head, init.pose_head
    theirs = dataclasses.replace(
        theirs, **{name: getattr(mine, name) for name in TRAINING_ONLY_HEAD_FIELDS}
    )
    if mine.camera_fov_input and not theirs.camera_fov_input:
        theirs = dataclasses.replace(theirs, camera_fov_input=True)
    if mine.motion_in_focal_units and not theirs.motion_in_focal_units:
        theirs = dataclasses.replace(theirs, motion_in_focal_units=True)
    return [] if mine == theirs else [f"pose_head: run {mine!r} vs --init {theirs!r}"]


def _load_posttrainer(model: nn.Module, init: nn.Module) -> None:
    """``init``'s weights into ``model``; only a camera FoV embedding new to the head may be
    missing from them (it keeps its zero start), and new cost-volume levels start at zero."""
    prefix = "inverse_dynamics."
    state = init.state_dict()
    backbone = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    grown = grown_state_dict(backbone, model.inverse_dynamics)
    state.update({prefix + k: v for k, v in grown.items()})
    missing, unexpected = model.load_state_dict(state, strict=False)
    new = [key for key in missing if not key.startswith("pose_head.camera_fov.")]
    if new or unexpected:
        raise ValueError(f"--init does not fit: missing {new}, unexpected {list(unexpected)}")


def _check_posed(batch: dict[str, Any], stage: str) -> None:
    missing = [name for name in ("relative_poses", "fov") if name not in batch]
    if missing:
        raise ValueError(f"{stage} needs posed clips with intrinsics; the batch lacks {missing}")


def _pose_encoder_for(path: str, backbone: nn.Module) -> nn.Module:
    """The pose encoder of a ``pose-encoder`` model file, checked against ``backbone``."""
    TranslationRefiner.from_checkpoint(path).check_backbone(module_fingerprint(backbone))
    return load_checkpoint(path, map_location="cpu").modules["pose_encoder"]


class PoseEncoderStage(Stage):
    def __init__(self) -> None:
        super().__init__(
            name="pose-encoder",
            description="Camera Pose Auto-Encoder: pose encoder distilled from a frozen "
            "post-trained model, saved with a motion bank of the training clips",
            with_labels=True,
            init_required=True,
            default_lr=1e-3,
            init_sections=(
                "image_height",
                "image_width",
                "clip_len",
                "inverse_dynamics",
                "pose_head",
            ),
            init_on_resume=True,
        )

    def config_problems(self, config: LAPoseConfig, init: Checkpoint) -> list[str]:
        problems = super().config_problems(config, init)
        if "posttrainer" not in init.modules:
            problems.append(
                f"--init holds no post-trained model (parts: {sorted(init.modules)}); the "
                "teacher is a posttrain checkpoint"
            )
        return problems

    def build(self, config, init, options) -> nn.Module:
        teacher = init.modules["posttrainer"]
        return PoseEncoderTrainer(config, teacher.inverse_dynamics, teacher.pose_head)

    def parts(self, model: nn.Module) -> dict[str, nn.Module]:
        return {"pose_encoder": model.encoder}

    def check_batch(self, batch: dict[str, Any], config: LAPoseConfig) -> None:
        super().check_batch(batch, config)
        _check_posed(batch, self.name)

    def step(self, model, batch, device, per_sample) -> StepOutput:
        frames = batch["frames"].to(device, non_blocking=True)  # (B, T, 3, H, W)
        dt = batch["dt"].to(device, non_blocking=True)  # (B, T-1)
        outputs = model(frames, dt, batch["relative_poses"].numpy(), batch["fov"].numpy())
        names = ("loss", "loss_latent", "loss_pose", "relative_latent_error")
        terms = {name: outputs[name].detach() for name in names}
        return StepOutput(outputs["loss"], terms, None, frames.shape[0])

    def finalize(self, model: nn.Module, options: TrainOptions, urls: list[str]) -> dict:
        """The motion bank of the training clips' pairs (at most :data:`MAX_BANK_MOTIONS`,
        evenly spaced over the shards) and the teacher's fingerprint."""
        poses, fps = motions_of_shards(urls)
        total = len(poses)
        if total > MAX_BANK_MOTIONS:
            keep = np.linspace(0, total - 1, MAX_BANK_MOTIONS).round().astype(int)  # (M,)
            poses, fps = poses[keep], fps[keep]
        source = (
            f"pose-encoder training clips: {len(urls)} shards, first {urls[0]}; "
            f"{len(poses)} of {total} distinct motions"
        )
        bank = MotionBank.from_relative_poses(poses, model.encoder, source, fps=fps)
        teacher = teacher_record(model.inverse_dynamics, options.init)
        return {BANK_KEY: bank.to_dict(), TEACHER_KEY: teacher}


# Bank size cap: N motions cost N x d latents in the file and in memory (float32 on disk:
# 123 MB for the paper's d = 1536); the nearest-motion search is brute force, ~0.1 ms at 20k.
MAX_BANK_MOTIONS = 20_000


def motions_of_shards(urls: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every distinct adjacent motion of the shards' posed clips: ``(N, 4, 4)``
    ``cam_t_from_cam_{t+1}`` and ``(N,)`` frame rates (Hz). Clips overlap, so a pair of source
    frames counts once (per source, frame pair and direction). Reads ``meta.json`` only."""
    from la_pose_core.data.shards import read_shard_metadata
    from la_pose_core.geometry import adjacent_relative_poses

    seen: set[tuple[str, int, int]] = set()
    poses, rates = [], []
    for meta in read_shard_metadata(urls):
        if meta.get("world_from_cam") is None:
            continue
        relative = adjacent_relative_poses(np.asarray(meta["world_from_cam"], np.float64))
        intervals = np.diff(np.asarray(meta["stamps"], np.float64))  # (P,)
        indices = meta["indices"]
        for pair, (motion, interval) in enumerate(zip(relative, intervals, strict=True)):
            identity = (meta["source"], int(indices[pair]), int(indices[pair + 1]))
            if identity in seen and identity[1] >= 0:
                continue
            seen.add(identity)
            poses.append(motion)
            rates.append(1.0 / interval)
    if not poses:
        raise ValueError("no posed clips in the training shards: the motion bank would be empty")
    return np.stack(poses), np.asarray(rates)


# model.pt ``extra`` entry: [min, max] mean frame rate (Hz) of the training shards' clips
TRAINING_FPS_KEY = "training_fps"


def clip_fps_range(urls: list[str]) -> list[float] | None:
    """``[min, max]`` of the clips' mean frame rates, ``(T - 1) / (last - first stamp)``, over
    the shards' ``meta.json`` (what ``la-pose evaluate`` warns against); a shard that does not
    read is passed over. None without a clip of two frames or more."""
    import tarfile

    from la_pose_core.data.shards import read_shard_metadata

    rates = []
    for url in urls:
        try:
            for meta in read_shard_metadata([url]):
                stamps = meta.get("stamps") or []
                if len(stamps) >= 2 and stamps[-1] > stamps[0]:
                    rates.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
        except (OSError, ValueError, TypeError, AttributeError, tarfile.TarError):
            continue  # a bad shard or record: the run is done, its range must not stop it
    return [float(min(rates)), float(max(rates))] if rates else None


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (TokenizerStage(), PretrainStage(), PosttrainStage(), PoseEncoderStage())
}


def get_stage(name: str) -> Stage:
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; choose one of {sorted(STAGES)}")
    return STAGES[name]
