"""The one training loop of every stage (tokenizer, pretrain, posttrain).

A run lives in a folder ``RUN_DIR``::

    RUN_DIR/
      config.json    resolved options and model config, written before the first step
      last.pt        newest checkpoint: model parts + trainer state (see below)
      model.pt       the finished model (parts only), written when the last step is done
      summary.json   what happened: steps, losses, throughput, data seen per rank
      tb/            TensorBoard scalars

Checkpoints are :func:`la_pose_core.model.checkpoint.save_checkpoint` files (atomic, config
inside, ``weights_only``-loadable): ``extra`` holds ``stage``, ``step``, ``total_steps``,
``finished`` and ``trainer_state`` (optimizer, LR scheduler, every rank's RNG states and data
position, outlier-filter window, counters). ``last.pt`` is written every ``checkpoint_every``
steps, at the end, and when SIGTERM or SIGINT arrives: the handler only sets a flag, the loop
finishes its step, the ranks agree to stop, the checkpoint is written and the run returns
(exit status ``128 + signal``). A second signal aborts at once. ``resume=True`` reloads
``last.pt`` and continues to the same final step; with the same world size and loader workers
the data order, RNG streams and therefore the weights are those of an uninterrupted run.

Step: ``grad_accum`` micro-batches (DDP gradient sync on the last only), bf16 autocast on CUDA
(full precision on CPU), gradient clipping, AdamW (no weight decay on biases, norms and
1-D parameters), linear warm-up then cosine decay per optimizer step. A step whose gradient
norm is not finite is skipped (counted); ten in a row stop the run with an error.

Distributed: launched by ``torchrun`` the ranks join a process group (gloo on CPU, nccl on
CUDA), the model is wrapped in ``DistributedDataParallel``, each rank reads its own shards
(:class:`la_pose_core.training.data.BatchStream`), rank 0 writes every file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import math
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from la_pose_core.inference.estimator import PRECISIONS, autocast_context
from la_pose_core.json_output import dumps
from la_pose_core.model.checkpoint import FORMAT, load_checkpoint, save_checkpoint
from la_pose_core.model.config import LAPoseConfig
from la_pose_core.pose_autoencoder.virtual_actions import VIRTUAL_MOTIONS
from la_pose_core.training.clip_length import (
    CLIP_LEN_SAMPLING,
    sample_clip_length,
    truncate_clips,
)
from la_pose_core.training.data import BatchStream, resolve_shards
from la_pose_core.training.distributed import DistContext, setup_distributed
from la_pose_core.training.outliers import OutlierFilter
from la_pose_core.training.schedule import default_warmup_steps, warmup_cosine
from la_pose_core.training.stages import Stage, get_stage

RUN_FORMAT = "la_pose.train_run"
RUN_VERSION = 1
CONFIG_FILE = "config.json"
LAST_CHECKPOINT = "last.pt"
MODEL_FILE = "model.pt"
SUMMARY_FILE = "summary.json"
TENSORBOARD_DIR = "tb"
MAX_NONFINITE_STEPS = 10
KEY_RECORD_LIMIT = 1000  # keys per rank and epoch kept for summary.json
KEY_RECORD_EPOCHS = 4
# With the outlier filter on: clips with injected label noise (la-pose shards --label-noise)
# seen, and dropped by the filter (all ranks). They measure the filter; real data has none.
LABEL_NOISE_COUNTERS = {"label_noise_seen": 0, "label_noise_dropped": 0}


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
    seed: int = 0
    shuffle_buffer: int = 64
    device: str = "auto"
    precision: str = "bf16"
    num_workers: int = 0
    progress: bool = True

    def validate(self) -> None:
        get_stage(self.stage)
        positive = {
            "steps": self.steps,
            "batch_size": self.batch_size,
            "grad_accum": self.grad_accum,
            "log_every": self.log_every,
            "outlier_window": self.outlier_window,
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
        if self.virtual_actions is not None and self.stage != "posttrain":
            raise ValueError("--virtual-actions is a post-training option")
        unknown = sorted(set(self.virtual_motions) - set(VIRTUAL_MOTIONS))
        if unknown or not self.virtual_motions:
            raise ValueError(f"--virtual-motions: choose from {', '.join(VIRTUAL_MOTIONS)}")
        if self.virtual_weight < 0:
            raise ValueError(f"--virtual-weight must not be negative, got {self.virtual_weight}")
        if self.clip_len_sampling not in CLIP_LEN_SAMPLING:
            raise ValueError(f"--clip-len-sampling must be one of {CLIP_LEN_SAMPLING}")
        if self.clip_len_sampling != "fixed":
            if self.stage == "tokenizer":
                raise ValueError("--clip-len-sampling is for the clip stages, not the tokenizer")
            if self.min_clip_len < 2 or not self.clip_len_decay > 0:
                raise ValueError("--min-clip-len must be at least 2 and --clip-len-decay > 0")

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["config"] = None if self.config is None else self.config.to_dict()
        data["data"] = list(self.data)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainOptions:
        data = dict(data)
        if data.get("config") is not None:
            data["config"] = LAPoseConfig.from_dict(data["config"])
        return cls(**data)


# Options a resumed run may change; the others define the run and must stay as they were.
RUNTIME_OPTIONS = frozenset(
    {"device", "num_workers", "checkpoint_every", "log_every", "progress", "precision"}
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


def _atomic_write_text(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; plain files are readable
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def capture_rng() -> dict[str, Any]:
    """This process's RNG states, as checkpoint-safe plain data.

    NumPy's legacy global generator is included on purpose: it is the one third-party code
    (augmentations, samplers) draws from.
    """
    _, keys, position, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    return {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(state: dict[str, Any]) -> None:
    version, values, gauss = state["python"]
    random.setstate((version, tuple(values), gauss))
    numpy_state = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            "MT19937",
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the global generator, see capture_rng)
    torch.manual_seed(seed)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: decay on matrices and convolution kernels, none on 1-D parameters."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


@dataclass
class TrainResult:
    """How :meth:`Trainer.run` ended (``summary`` is what ``summary.json`` holds)."""

    step: int
    total_steps: int
    finished: bool
    stop_signal: int | None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 0 if self.stop_signal is None else 128 + int(self.stop_signal)


class Trainer:
    """Runs one stage (see module docstring).

    Args:
        options: the run's options (for a resume: :func:`resume_options`).
        resume: continue from ``RUN_DIR/last.pt``.

    ``step_hooks``: callables ``hook(trainer, step)`` run after every optimizer step on every
    rank (progress reporting, tests).
    """

    def __init__(self, options: TrainOptions, resume: bool = False) -> None:
        options.validate()
        self.options = options
        self.resume = resume
        self.stage: Stage = get_stage(options.stage)
        self.stop_signal: int | None = None
        self.step_hooks: list[Callable[[Trainer, int], None]] = []
        self._previous_handlers: dict[int, Any] = {}

    # ----------------------------------------------------------------------------------------
    # signals

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self.stop_signal is not None:  # second signal: give up at once
            signal.signal(signum, self._previous_handlers.get(signum, signal.SIG_DFL))
            raise KeyboardInterrupt
        self.stop_signal = signum
        print(
            f"la-pose train: {signal.Signals(signum).name}: saving a checkpoint after this step "
            "(send it again to abort)",
            file=sys.stderr,
            flush=True,
        )

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers.clear()

    # ----------------------------------------------------------------------------------------
    # set-up

    def _check_run_dir(self, context: DistContext) -> None:
        run_dir = Path(self.options.run_dir)
        if self.resume:
            if not (run_dir / LAST_CHECKPOINT).is_file():
                raise FileNotFoundError(
                    f"{run_dir / LAST_CHECKPOINT}: no checkpoint to resume from (the run stopped "
                    "before its first one: start it again without --resume in a fresh --out)"
                )
        elif (run_dir / CONFIG_FILE).exists() or (run_dir / LAST_CHECKPOINT).exists():
            raise FileExistsError(
                f"{run_dir} already holds a training run: continue it with --resume, or choose "
                "another --out"
            )
        context.barrier()  # every rank checked before rank 0 writes anything

    def _resolve(self) -> tuple[TrainOptions, Any]:
        """Fill the options' defaults (config from --init, stage LR, warm-up); load --init."""
        options, stage = self.options, self.stage
        init = None
        if options.init is not None and (not self.resume or stage.init_on_resume):
            init = load_checkpoint(options.init, map_location="cpu")
        elif stage.init_required and not self.resume:
            raise ValueError(
                f"the {stage.name} stage needs --init (a checkpoint of the stage before)"
            )
        config = options.config
        if config is None:
            if init is None:
                raise ValueError("give --config, or --init to take its config")
            config = init.config
        if init is not None:
            problems = stage.config_problems(config, init)
            if problems:
                raise ValueError(
                    f"--init {options.init} does not fit this run: " + "; ".join(problems)
                )
        if options.outlier_filter and not stage.supports_outlier_filter:
            raise ValueError(
                f"--outlier-filter is for post-training (noisy pose labels), not {stage.name}"
            )
        if options.finetune_backbone and stage.name != "posttrain":
            raise ValueError("--finetune-backbone is a post-training option")
        resolved = dataclasses.replace(
            options,
            config=config,
            lr=options.lr if options.lr is not None else stage.default_lr,
            warmup_steps=(
                options.warmup_steps
                if options.warmup_steps is not None
                else default_warmup_steps(options.steps)
            ),
        )
        return resolved, init

    def _write_run_config(self, context: DistContext, urls: list[str], start_step: int) -> None:
        if not context.is_main:
            return
        path = Path(self.options.run_dir) / CONFIG_FILE
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        launch = {
            "time": now,
            "step": start_step,
            "world_size": context.world_size,
            "device": str(context.device),
            "command": list(sys.argv),
            "options": self.options.to_dict(),
        }
        if self.resume:
            record = json.loads(path.read_text())
            record.setdefault("resumes", []).append(launch)
        else:
            record = {
                "format": RUN_FORMAT,
                "version": RUN_VERSION,
                "stage": self.options.stage,
                "options": self.options.to_dict(),
                "model_config": self.options.config.to_dict(),
                "shards": urls,
                "world_size": context.world_size,
                "device": str(context.device),
                "torch_version": torch.__version__,
                "created": now,
                "command": list(sys.argv),
                "resumes": [],
            }
        _atomic_write_text(path, dumps(record) + "\n")

    # ----------------------------------------------------------------------------------------
    # the run

    def run(self) -> TrainResult:
        """Train until the last step or a stop signal; returns how it ended."""
        context = setup_distributed(self.options.device)
        self._install_signal_handlers()
        try:
            return self._run(context)
        finally:
            self._restore_signal_handlers()
            context.close()

    def _run(self, context: DistContext) -> TrainResult:
        self._check_run_dir(context)
        self.options, init = self._resolve()
        options, stage, config = self.options, self.stage, self.options.config
        run_dir = Path(options.run_dir)
        device = context.device
        if context.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
        urls = resolve_shards(options.data)

        seed_everything(options.seed)  # the same initial weights on every rank
        model = stage.build(config, init, options).to(device)
        del init
        parts = stage.parts(model)
        trainable = [p for p in model.parameters() if p.requires_grad]
        if not trainable:
            raise ValueError(f"nothing to train in the {stage.name} stage (all parameters frozen)")
        optimizer = torch.optim.AdamW(
            parameter_groups(model, options.weight_decay), lr=options.lr, betas=(0.9, 0.95)
        )
        total, warmup, min_ratio = options.steps, options.warmup_steps, options.min_lr_ratio
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: warmup_cosine(s, total, warmup, min_ratio)
        )
        outlier_filter = (
            OutlierFilter(options.outlier_window, options.outlier_sigma)
            if options.outlier_filter
            else None
        )
        seed_everything(options.seed * 1000 + 1 + context.rank)  # per-rank streams from here

        stream = BatchStream(
            urls,
            (config.image_width, config.image_height),
            options.batch_size,
            rank=context.rank,
            world_size=context.world_size,
            num_workers=options.num_workers,
            seed=options.seed,
            shuffle_buffer=options.shuffle_buffer,
            with_labels=stage.with_labels,
            pin_memory=device.type == "cuda",
        )
        step, counters = 0, {"nonfinite_steps": 0, "clips_seen": 0, **LABEL_NOISE_COUNTERS}
        if self.resume:
            step, counters = self._load_state(
                context, parts, optimizer, scheduler, outlier_filter, stream
            )
        self._write_run_config(context, urls, step)

        wrapped: nn.Module = model
        if context.distributed:
            wrapped = DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        model.train()

        writer = None
        if context.is_main:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(
                str(run_dir / TENSORBOARD_DIR), purge_step=step if self.resume else None
            )
        progress = None
        if context.is_main and options.progress:
            from tqdm import tqdm

            progress = tqdm(
                total=total,
                initial=step,
                desc=stage.name,
                unit="step",
                file=sys.stderr,
                dynamic_ncols=True,
            )

        global_clips_per_step = options.batch_size * options.grad_accum * context.world_size
        keys_by_epoch: dict[int, set[str]] = {}
        start_step, start_time = step, time.perf_counter()
        interval_start, interval_steps, interval_data_s = time.perf_counter(), 0, 0.0
        nonfinite_in_a_row = 0
        last_terms: dict[str, float] = {}
        stopped = None
        try:
            while step < total:
                if context.any(self.stop_signal is not None):
                    stopped = self.stop_signal if self.stop_signal is not None else signal.SIGTERM
                    break
                optimizer.zero_grad(set_to_none=True)
                sums: dict[str, torch.Tensor] = {}
                dropped = 0
                for micro in range(options.grad_accum):
                    fetch_start = time.perf_counter()
                    batch = stream.next()
                    interval_data_s += time.perf_counter() - fetch_start
                    stage.check_batch(batch, config)
                    if options.clip_len_sampling == "exponential":
                        length = sample_clip_length(
                            config.clip_len, options.min_clip_len, options.clip_len_decay
                        )
                        batch = truncate_clips(batch, length)
                    if stream.epoch < KEY_RECORD_EPOCHS:
                        seen = keys_by_epoch.setdefault(stream.epoch, set())
                        if len(seen) < KEY_RECORD_LIMIT:
                            seen.update(batch["key"])
                    counters["clips_seen"] += len(batch["key"])
                    last_micro = micro == options.grad_accum - 1
                    sync = (
                        wrapped.no_sync()
                        if context.distributed and not last_micro
                        else contextlib.nullcontext()
                    )
                    with sync:
                        with autocast_context(device, options.precision):
                            output = stage.step(wrapped, batch, device, outlier_filter is not None)
                        loss = output.loss
                        if outlier_filter is not None:
                            losses = output.per_sample.float()  # (B,)
                            threshold = outlier_filter.threshold()
                            keep = outlier_filter.keep_mask(losses, threshold)
                            every_loss = context.gather(losses)  # every rank's (B,)
                            noisy = batch.get("label_noise")  # (B,) injected label noise
                            if noisy is not None:  # measure the filter (la-pose shards flag)
                                noisy = context.gather(noisy.to(device).float()) > 0
                                kept_all = outlier_filter.keep_mask(every_loss, threshold)
                                counters["label_noise_seen"] += int(noisy.sum())
                                counters["label_noise_dropped"] += int((noisy & ~kept_all).sum())
                            dropped += outlier_filter.update(every_loss, threshold)
                            kept = torch.where(keep, losses, torch.zeros_like(losses))
                            loss = kept.sum() / keep.sum().clamp(min=1)
                            if output.unfiltered_loss is not None:
                                loss = loss + output.unfiltered_loss
                        (loss / options.grad_accum).backward()
                    for name, value in output.terms.items():
                        sums[name] = sums.get(name, 0.0) + value.float() / options.grad_accum
                max_norm = options.clip_grad if options.clip_grad > 0 else math.inf
                grad_norm = torch.nn.utils.clip_grad_norm_(trainable, max_norm)
                if torch.isfinite(grad_norm):
                    optimizer.step()
                    nonfinite_in_a_row = 0
                else:
                    optimizer.zero_grad(set_to_none=True)
                    counters["nonfinite_steps"] += 1
                    nonfinite_in_a_row += 1
                    if nonfinite_in_a_row >= MAX_NONFINITE_STEPS:
                        raise FloatingPointError(
                            f"{MAX_NONFINITE_STEPS} steps in a row with non-finite gradients at "
                            f"step {step + 1}: lower --lr (last checkpoint: {run_dir})"
                        )
                lr = optimizer.param_groups[0]["lr"]
                scheduler.step()
                step += 1
                interval_steps += 1
                for hook in self.step_hooks:
                    hook(self, step)

                if step % options.log_every == 0 or step == total:
                    names = sorted(sums)
                    values = context.mean(torch.stack([sums[n] for n in names]))
                    last_terms = dict(zip(names, values.tolist(), strict=True))
                    elapsed = time.perf_counter() - interval_start
                    scalars = {f"train/{name}": value for name, value in last_terms.items()}
                    scalars.update(
                        {
                            "train/lr": lr,
                            "train/grad_norm": float(grad_norm),
                            "perf/steps_per_s": interval_steps / elapsed,
                            "perf/clips_per_s": interval_steps * global_clips_per_step / elapsed,
                            "perf/data_wait_fraction": interval_data_s / elapsed,
                            "train/epoch": stream.epoch,
                            "train/nonfinite_steps": counters["nonfinite_steps"],
                        }
                    )
                    if outlier_filter is not None:
                        scalars["outliers/dropped_in_step"] = dropped
                        scalars["outliers/dropped_total"] = outlier_filter.total_dropped
                        scalars["outliers/threshold"] = outlier_filter.threshold()
                    if writer is not None:
                        for tag, value in scalars.items():
                            if math.isfinite(value):
                                writer.add_scalar(tag, value, step)
                    if progress is not None:
                        progress.set_postfix(
                            loss=f"{last_terms.get('loss', math.nan):.4g}",
                            clips_s=f"{scalars['perf/clips_per_s']:.3g}",
                            lr=f"{lr:.2e}",
                        )
                    interval_start, interval_steps, interval_data_s = time.perf_counter(), 0, 0.0
                if progress is not None:
                    progress.update(1)
                if (
                    options.checkpoint_every
                    and step % options.checkpoint_every == 0
                    and step < total
                ):
                    self._save(
                        context, parts, optimizer, scheduler, outlier_filter, stream, step, counters
                    )
        finally:
            if progress is not None:
                progress.close()
            stream.close()

        finished = step >= total
        self._save(context, parts, optimizer, scheduler, outlier_filter, stream, step, counters)
        if finished and context.is_main:
            extra = stage.finalize(model, options, urls)
            save_checkpoint(
                run_dir / MODEL_FILE,
                parts,
                config,
                {
                    "stage": stage.name,
                    "step": step,
                    "total_steps": total,
                    "finished": True,
                    **extra,
                },
            )
        elapsed = time.perf_counter() - start_time
        ranks = context.gather_objects(
            {
                "rank": context.rank,
                "clips_seen": counters["clips_seen"],
                "epoch": stream.epoch,
                "keys_by_epoch": {str(e): sorted(keys) for e, keys in keys_by_epoch.items()},
            }
        )
        done = step - start_step
        summary = {
            "stage": stage.name,
            "run_dir": str(run_dir),
            "step": step,
            "total_steps": total,
            "finished": finished,
            "stopped_by": None if stopped is None else signal.Signals(stopped).name,
            "resumed_from_step": start_step if self.resume else None,
            "checkpoint": str(run_dir / LAST_CHECKPOINT),
            "model": str(run_dir / MODEL_FILE) if finished else None,
            "world_size": context.world_size,
            "device": str(device),
            "elapsed_s": elapsed,
            "steps_per_s": done / elapsed if elapsed > 0 else None,
            "clips_per_s": done * global_clips_per_step / elapsed if elapsed > 0 else None,
            "last_losses": last_terms,
            "nonfinite_steps": counters["nonfinite_steps"],
            "outliers_dropped": None if outlier_filter is None else outlier_filter.total_dropped,
            "label_noise": {name: counters.get(name, 0) for name in LABEL_NOISE_COUNTERS},
            "ranks": ranks,
        }
        if context.is_main:
            if writer is not None:
                writer.close()
            _atomic_write_text(run_dir / SUMMARY_FILE, dumps(summary) + "\n")
        context.barrier()
        return TrainResult(step, total, finished, stopped, summary)

    # ----------------------------------------------------------------------------------------
    # checkpoints

    def _save(
        self,
        context: DistContext,
        parts: dict[str, nn.Module],
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        outlier_filter: OutlierFilter | None,
        stream: BatchStream,
        step: int,
        counters: dict[str, int],
    ) -> None:
        """Write ``last.pt`` (every rank takes part: RNG states and data positions are gathered)."""
        rng_states = context.gather_objects(capture_rng())
        data_states = context.gather_objects(stream.state())
        if context.is_main:
            trainer_state = {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng_states,
                "data": data_states,
                "world_size": context.world_size,
                "num_workers": self.options.num_workers,
                "outlier_filter": None if outlier_filter is None else outlier_filter.state_dict(),
                "counters": dict(counters),
            }
            extra = {
                "stage": self.stage.name,
                "step": step,
                "total_steps": self.options.steps,
                "finished": step >= self.options.steps,
                "trainer_state": trainer_state,
            }
            save_checkpoint(
                Path(self.options.run_dir) / LAST_CHECKPOINT, parts, self.options.config, extra
            )
        context.barrier()

    def _load_state(
        self,
        context: DistContext,
        parts: dict[str, nn.Module],
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        outlier_filter: OutlierFilter | None,
        stream: BatchStream,
    ) -> tuple[int, dict[str, int]]:
        """Restore ``last.pt`` into the freshly built run; returns the step and counters."""
        path = Path(self.options.run_dir) / LAST_CHECKPOINT
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("format") != FORMAT:
            raise ValueError(f"{path} is not an LA-Pose checkpoint")
        extra = payload["extra"]
        if extra.get("stage") != self.stage.name or "trainer_state" not in extra:
            raise ValueError(f"{path} is not a {self.stage.name} training checkpoint")
        if LAPoseConfig.from_dict(payload["config"]) != self.options.config:
            raise ValueError(f"{path}: its model config differs from {CONFIG_FILE}")
        for name, module in parts.items():
            module.load_state_dict(payload["modules"][name])
        state = extra["trainer_state"]
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if outlier_filter is not None and state["outlier_filter"] is not None:
            outlier_filter.load_state_dict(state["outlier_filter"])
        same_layout = (
            state["world_size"] == context.world_size
            and state["num_workers"] == self.options.num_workers
        )
        if same_layout:
            # data first: starting a DataLoader iterator draws from torch's global generator,
            # which the clip-length and virtual-clip draws use too
            stream.restore(state["data"][context.rank])
            restore_rng(state["rng"][context.rank])
        else:
            if context.is_main:
                print(
                    f"la-pose train: resuming with {context.world_size} ranks x "
                    f"{self.options.num_workers} loader workers instead of "
                    f"{state['world_size']} x {state['num_workers']}: the data order and random "
                    "streams differ from an uninterrupted run",
                    file=sys.stderr,
                )
            next_epoch = 1 + max(int(data["epoch"]) for data in state["data"])
            stream.restore({"epoch": next_epoch, "batches_in_epoch": 0})
        return int(extra["step"]), {**LABEL_NOISE_COUNTERS, **state["counters"]}
