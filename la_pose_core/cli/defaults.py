"""The choices and defaults the ``la-pose`` parsers show, in a module that imports nothing heavy.

Building the command line (``la-pose --help``, ``la-pose train --help``, a typo) must not import
torch or the model, which takes seconds: the command modules read the values they show while
parsing from here and import the real modules only when a command runs. Each value is a copy
of its source's, named beside it; ``test/core/test_cli_defaults.py`` checks every one against
that source, so a change there that is not made here fails a test. The paper's clip recipe
(16 frames, 960x448, 1-4 fps) is read from its one home, :mod:`la_pose_core.paper`, which
imports nothing.

Conventions shared by the commands:

- precision: training defaults to ``bf16`` (mixed-precision training: autocast on CUDA, weights
  and optimizer state stay fp32), every inference command (``evaluate``, ``bench inference``,
  ``bag replay``) to ``fp32``, the node's ``model.precision`` default, so that their figures are
  those of the node as shipped. CPU always computes in fp32.
- devices: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``
  (:func:`la_pose_core.cli.common.device_arg`); ``bench inference`` alone defaults to ``cpu``.
- frames in shards: PNG (lossless; the shard writer's default) for ``la-pose shards`` and
  ``la-pose bag extract`` alike; ``--image-format jpeg`` (quality 95) for bulky real footage.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from la_pose_core.paper import PAPER_CLIP_LEN, PAPER_FPS_RANGE, PAPER_FRAME_SIZE

# la_pose_core.model.config.PRESETS (names), with their clip_len and (width, height)
PRESET_CLIPS: dict[str, tuple[int, tuple[int, int]]] = {
    "compact": (8, (256, 128)),
    "paper": (PAPER_CLIP_LEN, PAPER_FRAME_SIZE),
    "small": (16, (256, 128)),
    "tiny": (6, (64, 32)),
}
PRESET_NAMES = tuple(sorted(PRESET_CLIPS))
# la_pose_core.model.precision.PRECISIONS
PRECISIONS = ("fp32", "bf16")
TRAIN_PRECISION = "bf16"  # la_pose_core.training.options.TrainOptions.precision
INFERENCE_PRECISION = "fp32"  # la_pose_ros.settings: model.precision (the node's default)
# la_pose_core.metrics.EVAL_CLIP_LEN, la_pose_core.metrics.pairwise.STILL_THRESHOLD_M
EVAL_CLIP_LEN = PAPER_CLIP_LEN
STILL_THRESHOLD_M = 0.05
# la_pose_core.inference.estimator.RUNTIMES; la_pose_core.export.exporter.DEFAULT_OPSET and
# la_pose_core.export.verify.DEFAULT_TOLERANCE (la-pose export)
RUNTIMES = ("torch", "onnxruntime")
EXPORT_FORMATS = ("onnx",)
ONNX_OPSET = 18
EXPORT_TOLERANCE = 1e-3
# la_pose_core.evaluation.baselines.BASELINES
BASELINES = ("opencv_vo_gt_scale", "constant_velocity_gt_first_pair")
# la_pose_core.model.config.RefinementConfig.ridge
REFINE_RIDGE = 1e-9
# la_pose_core.data.shards.ClipShardWriter: image_format, jpeg_quality (and their choices)
IMAGE_FORMATS = ("png", "jpeg")
IMAGE_FORMAT = "png"
JPEG_QUALITY = 95
# the default data recipe: --clip-len, --size, --min-fps and --max-fps of la-pose shards and
# la-pose bag extract (the paper's 16 frames at 960x448, 1-4 fps; la_pose_core.data.clips.
# ClipSampler, la_pose_ros.bags.extract.ExtractOptions); --config NAME takes a preset's size
CLIP_LEN = PAPER_CLIP_LEN
FRAME_SIZE = "{}x{}".format(*PAPER_FRAME_SIZE)
MIN_FPS, MAX_FPS = PAPER_FPS_RANGE


@dataclass(frozen=True)
class StageSpec:
    """What the ``train`` parser shows of a :class:`la_pose_core.training.stages.Stage`."""

    name: str
    description: str
    with_labels: bool
    default_lr: float
    backbone_options: bool
    fixed_clip_len: bool
    supports_outlier_filter: bool
    augments_clips: bool


# la_pose_core.training.stages.STAGES, in their order
STAGES: dict[str, StageSpec] = {
    spec.name: spec
    for spec in (
        StageSpec(
            "tokenizer",
            "VQ-VAE tokenizer on single frames (reconstruction + commitment)",
            False,
            3e-4,
            False,
            False,
            False,
            False,
        ),
        StageSpec(
            "pretrain",
            "latent action pretraining (inverse + forward dynamics, frozen tokenizer)",
            False,
            3e-4,
            False,
            True,
            False,
            True,
        ),
        StageSpec(
            "posttrain",
            "pose head on posed clips (L1 losses), inverse dynamics frozen",
            True,
            1e-3,
            True,
            True,
            True,
            True,
        ),
        StageSpec(
            "pose-encoder",
            "Camera Pose Auto-Encoder: pose encoder distilled from a frozen post-trained "
            "model, saved with a motion bank of the training clips",
            True,
            1e-3,
            False,
            True,
            False,
            True,
        ),
    )
}

# la_pose_core.training.options.TrainOptions: the defaults of the fields that have one
_TRAIN_DEFAULTS: dict[str, Any] = {
    "config": None,
    "steps": 1000,
    "batch_size": 8,
    "grad_accum": 1,
    "lr": None,
    "min_lr_ratio": 0.1,
    "warmup_steps": None,
    "weight_decay": 0.05,
    "clip_grad": 1.0,
    "checkpoint_every": 500,
    "log_every": 10,
    "init": None,
    "finetune_backbone": False,
    "outlier_filter": False,
    "outlier_window": 512,
    "outlier_sigma": 3.0,
    "virtual_actions": None,
    "virtual_weight": 1.0,
    "virtual_motions": ["reverse", "sharp_turn"],
    "clip_len_sampling": "fixed",
    "min_clip_len": 2,
    "clip_len_decay": 4.0,
    "virtual_rotation": 0.0,
    "virtual_rotation_schedule": "independent",
    "virtual_rotation_zoom": 1.25,
    "mirror": 0.0,
    "cache_latents": False,
    "seed": 0,
    "shuffle_buffer": 64,
    "strict_data": False,
    "val_data": None,
    "val_every": 500,
    "val_batches": 4,
    "device": "auto",
    "precision": TRAIN_PRECISION,
    "num_workers": 0,
    "progress": True,
}


class TrainDefaults:
    """``TrainOptions``' defaults as attributes (``DEFAULTS.steps``), without importing it.

    A field missing from the copy above is read from ``TrainOptions`` itself (correct, only
    slower to parse; the test names the field to add).
    """

    def __getattr__(self, name: str) -> Any:
        if name in _TRAIN_DEFAULTS:
            return _TRAIN_DEFAULTS[name]
        if name.startswith("__"):
            raise AttributeError(name)
        from la_pose_core.training.options import TrainOptions

        for option in dataclasses.fields(TrainOptions):
            if option.name == name:
                if option.default is not dataclasses.MISSING:
                    return option.default
                if option.default_factory is not dataclasses.MISSING:
                    return option.default_factory()
        raise AttributeError(f"TrainOptions has no default {name!r}")


TRAIN_DEFAULTS = TrainDefaults()
