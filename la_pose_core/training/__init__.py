"""Training of the three LA-Pose stages: one loop (:mod:`.trainer`), one adapter per stage.

- :mod:`.stages`: ``tokenizer`` (VQ-VAE), ``pretrain`` (latent actions, frozen tokenizer),
  ``posttrain`` (pose head, frozen inverse dynamics): module, batch fields, loss, saved parts.
- :mod:`.trainer`: :class:`Trainer`, the loop as named steps (set up, step, log, checkpoint,
  finish): DDP under ``torchrun``, gradient accumulation, AdamW with warm-up + cosine, clipping,
  bf16 on CUDA, atomic checkpoints (every N steps and on SIGTERM/SIGINT), exact ``--resume``.
- :mod:`.options`: :class:`TrainOptions` and what a resume may change; :mod:`.run_files` the
  run folder's file names.
- :mod:`.run_state`: what a run carries across steps and checkpoints (``state_dict``);
  :mod:`.run_log`: TensorBoard, progress bar, throughput, ``summary.json``; :mod:`.rng`.
- :mod:`.data`: the resumable per-rank batch stream over clip shards.
- :mod:`.outliers`: 3-sigma loss filtering of noisy labels.
- :mod:`.schedule`, :mod:`.distributed`: learning-rate schedule, process group.

The command line is ``la-pose train tokenizer|pretrain|posttrain`` (``la_pose_core.cli``).
"""

from la_pose_core.training.options import TrainOptions, resume_options
from la_pose_core.training.outliers import OutlierFilter
from la_pose_core.training.run_files import LAST_CHECKPOINT, MODEL_FILE
from la_pose_core.training.stages import STAGES, Stage, get_stage
from la_pose_core.training.trainer import Trainer, TrainResult

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
