"""The options of a training run: :class:`TrainOptions`, and what a resume may change.

``RUN_DIR/config.json`` stores them resolved (the model config included); ``--resume`` reads
them back with :func:`resume_options`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from la_pose_core.data.virtual_rotation import VirtualRotation
from la_pose_core.model.config import LAPoseConfig
from la_pose_core.model.precision import PRECISIONS
from la_pose_core.pose_autoencoder.virtual_actions import VIRTUAL_MOTIONS
from la_pose_core.training.clip_length import CLIP_LEN_SAMPLING
from la_pose_core.training.data import resolve_shards
from la_pose_core.training.run_files import CONFIG_FILE, RUN_FORMAT
from la_pose_core.training.stages import get_stage


@dataclass
class TrainOptions:
    """Everything that defines a run (``config.json`` holds it, resolved).

    ``config`` None means "the config of ``init``"; ``lr`` None the stage's default;
    ``warmup_steps`` None 5 % of ``steps`` (at most 1000).
    """

    stage: str
    run_dir: str
    data: list[str]
    config: LAPoseConfig | None = None
    steps: int = 1000
    batch_size: int = 8
    grad_accum: int = 1
    lr: float | None = None
    min_lr_ratio: float = 0.1
    warmup_steps: int | None = None
    weight_decay: float = 0.05
    clip_grad: float = 1.0
    checkpoint_every: int = 500
    log_every: int = 10
    init: str | None = None
    finetune_backbone: bool = False
    outlier_filter: bool = False
    outlier_window: int = 512
    outlier_sigma: float = 3.0
    virtual_actions: str | None = None  # posttrain: a pose-encoder model file (virtual clips)
    virtual_weight: float = 1.0  # weight of the virtual clips' pose loss
    virtual_motions: list[str] = field(default_factory=lambda: list(VIRTUAL_MOTIONS))
    clip_len_sampling: str = "fixed"  # or "exponential": shorter clip prefixes too
    min_clip_len: int = 2  # shortest prefix of "exponential"
    clip_len_decay: float = 4.0  # frames; p(T') ~ exp(-(T - T') / decay)
    # share of training clips seen from virtually yawed cameras (la_pose_core.data.virtual_rotation)
    virtual_rotation: float = 0.0
    virtual_rotation_schedule: str = "independent"  # or "sustained"
    virtual_rotation_zoom: float = 1.25
    # share of training clips flipped left-right, labels following (la_pose_core.data.mirror)
    mirror: float = 0.0
    # posttrain, frozen backbone: run the backbone once per clip, then train the head on the
    # kept latent actions without decoding frames (la_pose_core.training.latent_cache)
    cache_latents: bool = False
    seed: int = 0
    shuffle_buffer: int = 64
    # a shard of --data or --val-data that does not read (or a clip that does not decode) is
    # an error; by default it is skipped, named in a warning and counted in summary.json
    strict_data: bool = False
    # Held-out shards (never trained on): every val_every steps and after the last one the
    # stage's validation measures go to TensorBoard (val/...) and summary.json.
    val_data: list[str] | None = None
    val_every: int = 500
    val_batches: int = 4  # batches of batch_size clips, read once at set-up
    device: str = "auto"
    precision: str = "bf16"
    num_workers: int = 0
    progress: bool = True

    def validate(self) -> None:
        stage = get_stage(self.stage)
        positive = {
            "steps": self.steps,
            "batch_size": self.batch_size,
            "grad_accum": self.grad_accum,
            "log_every": self.log_every,
            "outlier_window": self.outlier_window,
            "val_every": self.val_every,
            "val_batches": self.val_batches,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        for name in ("checkpoint_every", "num_workers", "shuffle_buffer"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must not be negative")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"--lr must be positive, got {self.lr}")
        if self.warmup_steps is not None and not 0 <= self.warmup_steps <= self.steps:
            raise ValueError(f"--warmup-steps must be in [0, --steps], got {self.warmup_steps}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"--min-lr-ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.weight_decay < 0 or self.clip_grad < 0 or self.outlier_sigma <= 0:
            raise ValueError("--weight-decay, --clip-grad >= 0 and --outlier-sigma > 0 needed")
        if self.precision not in PRECISIONS:
            raise ValueError(f"--precision must be one of {PRECISIONS}")
        if self.config is None and self.init is None:
            raise ValueError("give --config (a preset name or a JSON file), or --init")
        if self.virtual_actions is not None and not stage.backbone_options:
            raise ValueError("--virtual-actions is a post-training option")
        unknown = sorted(set(self.virtual_motions) - set(VIRTUAL_MOTIONS))
        if unknown or not self.virtual_motions:
            raise ValueError(f"--virtual-motions: choose from {', '.join(VIRTUAL_MOTIONS)}")
        if self.virtual_weight < 0:
            raise ValueError(f"--virtual-weight must not be negative, got {self.virtual_weight}")
        if self.val_data is not None and stage.validation_needs_two_clips and self.batch_size < 2:
            raise ValueError("pretraining validation shuffles latent actions: --batch-size >= 2")
        if not 0.0 <= self.virtual_rotation <= 1.0:
            raise ValueError(f"--virtual-rotation must be in [0, 1], got {self.virtual_rotation}")
        self.virtual_rotation_options()  # checks zoom and schedule
        if not 0.0 <= self.mirror <= 1.0:
            raise ValueError(f"--mirror must be in [0, 1], got {self.mirror}")
        if self.mirror > 0 and not stage.augments_clips:
            raise ValueError("--mirror is for the clip stages, not the tokenizer")
        if self.virtual_rotation > 0 and not stage.augments_clips:
            raise ValueError("--virtual-rotation is for the clip stages, not the tokenizer")
        if self.cache_latents:
            self._check_latent_cache(stage.backbone_options)
        if self.clip_len_sampling not in CLIP_LEN_SAMPLING:
            raise ValueError(f"--clip-len-sampling must be one of {CLIP_LEN_SAMPLING}")
        if self.clip_len_sampling != "fixed":
            if not stage.fixed_clip_len:
                raise ValueError("--clip-len-sampling is for the clip stages, not the tokenizer")
            if self.min_clip_len < 2 or not self.clip_len_decay > 0:
                raise ValueError("--min-clip-len must be at least 2 and --clip-len-decay > 0")

    def _check_latent_cache(self, backbone_options: bool) -> None:
        """``cache_latents`` needs a backbone whose output for a clip never changes (and a stage
        with ``backbone_options``)."""
        checks = (
            (not backbone_options, "is for post-training"),
            (self.finetune_backbone, "needs a frozen backbone (not --finetune-backbone)"),
            (self.virtual_rotation > 0, "cannot keep clips re-rendered every epoch "
             "(--virtual-rotation)"),
            (self.virtual_actions is not None, "does not combine with --virtual-actions"),
        )  # fmt: skip
        problems = [reason for failed, reason in checks if failed]
        if problems:
            raise ValueError(f"--cache-latents {problems[0]}")

    def virtual_rotation_options(self) -> VirtualRotation | None:
        """The training stream's augmentation (None when ``virtual_rotation`` is 0)."""
        options = VirtualRotation(
            self.virtual_rotation, self.virtual_rotation_zoom, self.virtual_rotation_schedule
        )
        return options if options.probability > 0 else None

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["config"] = None if self.config is None else self.config.to_dict()
        data["data"] = list(self.data)
        data["val_data"] = None if self.val_data is None else list(self.val_data)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainOptions:
        data = dict(data)
        if data.get("config") is not None:
            data["config"] = LAPoseConfig.from_dict(data["config"])
        return cls(**data)


# Options a resumed run may change; the others define the run and must stay as they were.
RUNTIME_OPTIONS = frozenset(
    {
        "device",
        "num_workers",
        "checkpoint_every",
        "log_every",
        "progress",
        "precision",
        "val_data",  # validation only measures: it never changes what is trained
        "val_every",
        "val_batches",
        "cache_latents",  # the same training, without recomputing a frozen backbone
        "strict_data",  # only whether a bad shard is skipped or an error
    }
)


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training run here (nothing to resume)")
    record = json.loads(path.read_text())
    if record.get("format") != RUN_FORMAT:
        raise ValueError(f"{path} is not an la_pose training-run record")
    return record


def resume_options(run_dir: str | Path, overrides: dict[str, Any]) -> TrainOptions:
    """The stored options of a run, with runtime ``overrides`` applied.

    ``overrides`` holds the options given again on the command line (``None`` values are
    ignored). A run-defining option given with another value raises ``ValueError``: a resumed
    run is the same run.
    """
    stored = TrainOptions.from_dict(read_run_config(run_dir)["options"])
    if overrides.get("stage", stored.stage) != stored.stage:
        raise ValueError(f"{run_dir} holds a {stored.stage} run, not {overrides['stage']}")
    conflicts, changes = [], {}
    for name, value in overrides.items():
        if value is None or name in ("run_dir", "stage"):
            continue
        if name in RUNTIME_OPTIONS:
            changes[name] = value
        elif name == "data":
            if resolve_shards(value) != resolve_shards(stored.data):
                conflicts.append("data")
        elif value != getattr(stored, name):
            conflicts.append(name)
    if conflicts:
        listed = ", ".join(f"--{name.replace('_', '-')}" for name in conflicts)
        raise ValueError(
            f"--resume continues the run in {run_dir} as it was configured ({CONFIG_FILE}); "
            f"these options differ from it: {listed}"
        )
    return dataclasses.replace(stored, **changes)
