"""``la-pose train tokenizer|pretrain|posttrain|pose-encoder``: train one stage on clip shards.

Single process::

    la-pose train tokenizer --config tiny --data shards/ --out runs/tok --steps 2000
    la-pose train pretrain  --init runs/tok/model.pt --data shards/ --out runs/pre
    la-pose train posttrain --init runs/pre/model.pt --data posed/ --out runs/post
    # Camera Pose Auto-Encoder: refinement (--refine) and virtual latent actions
    la-pose train pose-encoder --init runs/post/model.pt --data posed/ --out runs/enc
    la-pose train posttrain --init runs/pre/model.pt --data posed/ --out runs/post_virtual \
        --virtual-actions runs/enc/model.pt

Several processes (DDP; gloo on CPU, nccl on CUDA)::

    torchrun --nproc_per_node 4 -m la_pose_core.cli.train_commands train pretrain ...

(``la-pose`` itself works under ``torchrun`` too once the command is registered.) A stopped run
(SIGTERM, Ctrl-C: a checkpoint is written first) continues with the same ``--out`` and
``--resume``. The run folder's layout is documented in :mod:`la_pose_core.training.trainer`.
Prints a JSON summary on success (rank 0); progress on stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from la_pose_core.cli.common import (
    DEVICE_HELP,
    CommandError,
    check_device,
    device_arg,
    fail,
    print_json,
)
from la_pose_core.cli.defaults import PRECISIONS, PRESET_NAMES, STAGES
from la_pose_core.cli.defaults import TRAIN_DEFAULTS as DEFAULTS
from la_pose_core.cli.defaults import StageSpec as Stage

if TYPE_CHECKING:  # torch and the model are imported when a run starts, not to build --help
    from la_pose_core.model.config import LAPoseConfig


def _add_augmentation_arguments(parser: argparse.ArgumentParser) -> None:
    """The clip stages' augmentations: left-right mirror and virtual camera rotation."""
    parser.add_argument(
        "--mirror",
        type=float,
        metavar="P",
        help="share of training clips flipped left-right, labels following exactly "
        "(as many right turns as left ones; default 0: off)",
    )
    parser.add_argument(
        "--virtual-rotation",
        type=float,
        metavar="P",
        help="share of training clips re-rendered from cameras yawed by a few degrees per "
        "frame, labels following exactly (turns the drives lack; default 0: off)",
    )
    parser.add_argument(
        "--virtual-rotation-schedule",
        choices=("independent", "sustained"),
        help="an offset per frame (independent, default) or one extra yaw rate per clip",
    )
    parser.add_argument(
        "--virtual-rotation-zoom",
        type=float,
        help=f"focal factor of the virtual camera, the margin for rotation "
        f"(default {DEFAULTS.virtual_rotation_zoom})",
    )


def _add_posttrain_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the post-training stage only: the backbone, the latent cache, virtual clips."""
    parser.add_argument(
        "--finetune-backbone",
        action="store_true",
        default=None,
        help="train the inverse dynamics backbone too (default: frozen)",
    )
    parser.add_argument(
        "--cache-latents",
        action="store_true",
        default=None,
        help="frozen backbone: compute each clip's latent actions once (kept in "
        "RUN/latent_cache.pt), then train the head without decoding frames (same training, "
        "many times faster per step)",
    )
    parser.add_argument(
        "--virtual-actions",
        metavar="ENCODER.pt",
        help="add virtual clips of rare motions, encoded by this pose-encoder model file of "
        "the same backbone (la-pose train pose-encoder)",
    )
    parser.add_argument(
        "--virtual-weight",
        type=float,
        help=f"weight of the virtual clips' loss (default {DEFAULTS.virtual_weight})",
    )
    parser.add_argument(
        "--virtual-motions",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        metavar="LIST",
        help="comma-separated kinds of virtual clips (default "
        f"{','.join(DEFAULTS.virtual_motions)})",
    )


def _add_input_arguments(parser: argparse.ArgumentParser, stage: Stage) -> None:
    """What to train: the model config, the clip shards, and the run folder to write."""
    parser.add_argument(
        "--config",
        metavar="NAME|PATH.json",
        help=f"model config: a preset ({', '.join(PRESET_NAMES)}), a JSON file of "
        "LAPoseConfig.to_dict(), or a run's config.json (default: the --init checkpoint's)",
    )
    parser.add_argument(
        "--data",
        nargs="+",
        metavar="SHARDS",
        help="clip shards: folders of .tar, globs ('shards/*.tar'), brace patterns or files"
        + (" (posed clips with intrinsics)" if stage.with_labels else ""),
    )
    parser.add_argument(
        "--strict-data",
        action="store_true",
        default=None,
        help="a shard of --data or --val-data that does not read (empty, not a tar, "
        "truncated, corrupt) or a clip that does not decode is an error (exit 2); default: "
        "skipped, named in a warning and counted in summary.json",
    )
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder")


def _add_optimizer_arguments(parser: argparse.ArgumentParser, stage: Stage) -> None:
    """How long and how fast: steps, batch, learning rate schedule, weight decay, clipping."""
    parser.add_argument("--steps", type=int, help=f"optimizer steps (default {DEFAULTS.steps})")
    parser.add_argument(
        "--batch-size",
        type=int,
        help=f"clips per micro-batch and process (default {DEFAULTS.batch_size})",
    )
    parser.add_argument(
        "--grad-accum", type=int, help="micro-batches per optimizer step (default 1)"
    )
    parser.add_argument(
        "--lr", type=float, help=f"peak learning rate (default {stage.default_lr:g})"
    )
    parser.add_argument(
        "--min-lr-ratio",
        type=float,
        help=f"final / peak learning rate of the cosine decay (default {DEFAULTS.min_lr_ratio})",
    )
    parser.add_argument(
        "--warmup-steps", type=int, help="linear warm-up steps (default 5%% of --steps, <= 1000)"
    )
    parser.add_argument(
        "--weight-decay", type=float, help=f"AdamW weight decay (default {DEFAULTS.weight_decay})"
    )
    parser.add_argument(
        "--clip-grad",
        type=float,
        help=f"gradient norm clipping, 0: off (default {DEFAULTS.clip_grad})",
    )


INIT_HELP = {
    "tokenizer": "continue from a checkpoint holding a tokenizer",
    "pretrain": "checkpoint of a trained tokenizer (required; frozen)",
    "posttrain": "pretraining checkpoint whose inverse dynamics becomes the backbone "
    "(a post-training checkpoint continues whole; none: random backbone, an ablation)",
    "pose-encoder": "post-training checkpoint: the frozen teacher (required; read again "
    "by --resume)",
}


def _add_checkpoint_arguments(parser: argparse.ArgumentParser, stage: Stage) -> None:
    """Checkpoints and logs written, --resume, and the --init checkpoint read (help per stage)."""
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        help=f"write RUN_DIR/last.pt every N steps, 0: only at the end and on signals "
        f"(default {DEFAULTS.checkpoint_every})",
    )
    parser.add_argument(
        "--log-every", type=int, help=f"TensorBoard interval (default {DEFAULTS.log_every})"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        default=None,
        help="continue the run in --out from its last.pt to the same final step",
    )
    parser.add_argument("--init", metavar="CKPT", help=INIT_HELP[stage.name])


def _add_clip_length_arguments(parser: argparse.ArgumentParser) -> None:
    """Stages of fixed clip length: whole clips, or also shorter prefixes."""
    parser.add_argument(
        "--clip-len-sampling",
        choices=("fixed", "exponential"),
        help="fixed: whole clips (default); exponential: also shorter prefixes, "
        "p(T') ~ exp(-(T - T') / decay)",
    )
    parser.add_argument(
        "--min-clip-len",
        type=int,
        help=f"shortest prefix (default {DEFAULTS.min_clip_len})",
    )
    parser.add_argument(
        "--clip-len-decay",
        type=float,
        help=f"decay in frames (default {DEFAULTS.clip_len_decay})",
    )


def _add_outlier_arguments(parser: argparse.ArgumentParser) -> None:
    """Stages with labels that can be noisy: dropping samples of outlying loss."""
    parser.add_argument(
        "--outlier-filter",
        action="store_true",
        default=None,
        help="drop samples whose loss exceeds mean + sigma std of recent losses (noisy labels)",
    )
    parser.add_argument(
        "--outlier-window",
        type=int,
        help=f"recent per-sample losses kept (default {DEFAULTS.outlier_window})",
    )
    parser.add_argument(
        "--outlier-sigma", type=float, help=f"threshold (default {DEFAULTS.outlier_sigma})"
    )


def _add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """Where and how it runs: seed, shuffling, device, precision, loader processes, progress."""
    parser.add_argument("--seed", type=int, help="initialisation and shuffling seed (default 0)")
    parser.add_argument(
        "--shuffle-buffer",
        type=int,
        help=f"clips in the shuffle buffer (default {DEFAULTS.shuffle_buffer})",
    )
    parser.add_argument(
        "--device",
        type=device_arg,
        help=f"{DEVICE_HELP} (default auto; under torchrun each process takes cuda:LOCAL_RANK)",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help=f"{DEFAULTS.precision} (default): mixed-precision training, bf16 autocast on CUDA "
        "with fp32 weights (the inference commands default to fp32, as the node); CPU always "
        "trains in fp32",
    )
    parser.add_argument(
        "--num-workers", type=int, help="data loader processes per rank (default 0)"
    )
    parser.add_argument(
        "--no-progress",
        dest="progress",
        action="store_const",
        const=False,
        default=None,
        help="no progress bar",
    )


def _add_arguments(parser: argparse.ArgumentParser, stage: Stage) -> None:
    """All options of one stage, in the order ``--help`` lists them."""
    # Every option defaults to None so that a --resume can tell what was given again.
    _add_input_arguments(parser, stage)
    _add_optimizer_arguments(parser, stage)
    _add_checkpoint_arguments(parser, stage)
    if stage.backbone_options:
        _add_posttrain_arguments(parser)
    if stage.fixed_clip_len:
        _add_clip_length_arguments(parser)
    if stage.supports_outlier_filter:
        _add_outlier_arguments(parser)
    if stage.augments_clips:
        _add_augmentation_arguments(parser)
    _add_runtime_arguments(parser)


def _add_validation_arguments(parser: argparse.ArgumentParser) -> None:
    """Held-out clips measured during training, the same for every stage."""
    group = parser.add_argument_group(
        "validation", "measures on held-out clips during training (TensorBoard val/, summary.json)"
    )
    group.add_argument(
        "--val-data",
        nargs="+",
        metavar="SHARDS",
        help="held-out clip shards, never trained on (default: no validation)",
    )
    group.add_argument(
        "--val-every", type=int, help=f"steps between validations (default {DEFAULTS.val_every})"
    )
    group.add_argument(
        "--val-batches",
        type=int,
        help=f"held-out batches of --batch-size clips (default {DEFAULTS.val_batches})",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train`` (with its three stages) to the ``la-pose`` subcommands."""
    train = subparsers.add_parser(
        "train",
        help="train a stage: tokenizer, pretrain, posttrain, pose-encoder",
        description="Train one LA-Pose stage on clip shards (la-pose shards). Checkpoints, "
        "TensorBoard logs and the resolved config go to --out; SIGTERM/SIGINT save a "
        "checkpoint and stop (exit 128 + signal); --resume continues. Runs under torchrun "
        "for DDP.",
    )
    stages = train.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for stage in STAGES.values():
        parser = stages.add_parser(
            stage.name, help=stage.description, description=stage.description
        )
        _add_arguments(parser, stage)
        _add_validation_arguments(parser)
        parser.set_defaults(run=run_train)


def load_config(text: str) -> LAPoseConfig:
    """``--config``: a preset name, a JSON ``LAPoseConfig`` or a training run's config.json."""
    from la_pose_core.model.config import PRESETS, LAPoseConfig, get_config
    from la_pose_core.training.run_files import RUN_FORMAT

    if text in PRESETS:
        return get_config(text)
    path = Path(text)
    if not path.is_file():
        fail(f"--config {text}: neither a preset ({', '.join(sorted(PRESETS))}) nor a file")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        fail(f"--config {text}: not JSON ({error})")
    if isinstance(data, dict) and data.get("format") == RUN_FORMAT:
        data = data["model_config"]
    return LAPoseConfig.from_dict(data)


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options given on the command line (None: not given), keyed by TrainOptions field."""
    from la_pose_core.training.options import TrainOptions

    given = {"stage": args.stage, "run_dir": args.out}
    for name in (field.name for field in dataclasses.fields(TrainOptions)):
        if name in ("stage", "run_dir"):
            continue
        value = getattr(args, name, None)
        if name == "config" and value is not None:
            value = load_config(value)
        given[name] = value
    return given


def _terminated_before_training(signum: int, _frame: Any) -> None:
    """SIGTERM while the run is being set up (imports, options, data), before the trainer's own
    handler (which saves a checkpoint) is in place: say so, and exit as the signal would."""
    print(
        f"la-pose train: terminated by {signal.Signals(signum).name} before training started "
        "(no step taken, no checkpoint written)",
        file=sys.stderr,
        flush=True,
    )
    raise SystemExit(128 + signum)


def _select_cuda_device(device: str) -> str:
    """``--device cuda:N`` of a single process: make device N the current CUDA device and train
    on ``cuda`` (the trainer's device names; under torchrun the local rank chooses)."""
    import torch

    from la_pose_core.training.distributed import launched_by_torchrun

    if launched_by_torchrun():
        fail(f"--device {device}: under torchrun each process uses cuda:LOCAL_RANK; give cuda")
    check_device(device)
    torch.cuda.set_device(int(device.partition(":")[2]))
    return "cuda"


def run_train(args: argparse.Namespace) -> int:
    previous = signal.signal(signal.SIGTERM, _terminated_before_training)
    try:
        return _run_train(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_train(args: argparse.Namespace) -> int:
    from la_pose_core.cli.data_commands import clip_fit_warning
    from la_pose_core.training.options import TrainOptions, resume_options
    from la_pose_core.training.run_files import LAST_CHECKPOINT
    from la_pose_core.training.trainer import Trainer

    given = given_options(args)
    if given["device"] is not None and given["device"].startswith("cuda:"):
        given["device"] = _select_cuda_device(given["device"])
    if args.resume:
        options = resume_options(args.out, given)
    else:
        if given["data"] is None:
            fail("--data is required (unless --resume)")
        options = TrainOptions(
            **{name: value for name, value in given.items() if value is not None}
        )
        warning = clip_fit_warning(options)
        if warning:
            print(f"la-pose train: warning: {warning}", file=sys.stderr, flush=True)
    try:
        result = Trainer(options, resume=bool(args.resume)).run()
    except FloatingPointError as error:
        raise CommandError(str(error)) from None
    if os.environ.get("RANK", "0") == "0":
        summary = dict(result.summary)  # summary.json also lists the clip keys each rank read
        summary["ranks"] = [
            {name: value for name, value in rank.items() if name != "keys_by_epoch"}
            for rank in summary["ranks"]
        ]
        print_json(summary)
        if result.stop_signal is not None:
            print(
                f"la-pose train: stopped by {signal.Signals(result.stop_signal).name} at step "
                f"{result.step} of {result.total_steps}; last checkpoint "
                f"{Path(options.run_dir) / LAST_CHECKPOINT} (continue with --out {options.run_dir} "
                "--resume)",
                file=sys.stderr,
            )
    return result.exit_code
