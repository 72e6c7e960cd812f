"""Training of the three LA-Pose stages: one loop (:mod:`.trainer`), one adapter per stage.

- :mod:`.stages`: ``tokenizer`` (VQ-VAE), ``pretrain`` (latent actions, frozen tokenizer),
  ``posttrain`` (pose head, frozen inverse dynamics): module, batch fields, loss, saved parts.
- :mod:`.trainer`: :class:`Trainer` and :class:`TrainOptions`: DDP under ``torchrun``, gradient
  accumulation, AdamW with warm-up + cosine, clipping, bf16 on CUDA, atomic checkpoints (every N
  steps and on SIGTERM/SIGINT), exact ``--resume``, TensorBoard, progress bar.
- :mod:`.data`: the resumable per-rank batch stream over clip shards.
- :mod:`.outliers`: 3-sigma loss filtering of noisy labels; :mod:`.losses`: per-sample losses.
- :mod:`.schedule`, :mod:`.distributed`: learning-rate schedule, process group.

The command line is ``la-pose train tokenizer|pretrain|posttrain`` (``la_pose_core.cli``).
"""

from la_pose_core.training.outliers import OutlierFilter
from la_pose_core.training.stages import STAGES, Stage, get_stage
from la_pose_core.training.trainer import (
    LAST_CHECKPOINT,
    MODEL_FILE,
    Trainer,
    TrainOptions,
    TrainResult,
    resume_options,
)

__all__ = [
    "LAST_CHECKPOINT",
    "MODEL_FILE",
    "STAGES",
    "OutlierFilter",
    "Stage",
    "TrainOptions",
    "TrainResult",
    "Trainer",
    "get_stage",
    "resume_options",
]
