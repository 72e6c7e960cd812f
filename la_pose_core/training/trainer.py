"""The one training loop of every stage (tokenizer, pretrain, posttrain).

A run lives in a folder ``RUN_DIR``::

    RUN_DIR/
      config.json    resolved options and model config, written once the first step is done
                     (or with a checkpoint before it): a run that fails before its first step
                     leaves none, and can be run again as it is
      last.pt        newest checkpoint: model parts + trainer state (see below)
      model.pt       the finished model (parts only), written when the last step is done
      summary.json   what happened: steps, losses, throughput, data seen per rank
      tb/            TensorBoard scalars

Checkpoints are :func:`la_pose_core.model.checkpoint.save_checkpoint` files (atomic, config
inside, ``weights_only``-loadable): ``extra`` holds ``stage``, ``step``, ``total_steps``,
``finished`` and ``trainer_state`` (optimizer, LR scheduler, every rank's RNG states and data
position, outlier-filter window, counters); ``model.pt`` has no ``trainer_state`` but
``training_fps``, the clips' frame-rate range
(:func:`~la_pose_core.training.stages.clip_fps_range`; ``la-pose evaluate`` warns outside it).
``last.pt`` is written every ``checkpoint_every`` steps, at the end, and when SIGTERM or SIGINT
arrives: the handler only sets a flag, the loop finishes its step, the ranks agree to stop, the
checkpoint is written and the run returns (exit status ``128 + signal``). A second signal aborts
at once. ``resume=True`` reloads ``last.pt`` and continues to the same final step; with the same
world size and loader workers the data order, RNG streams and therefore the weights are those of
an uninterrupted run. A folder with ``config.json`` but no ``last.pt`` (a run that stepped and
died before its first checkpoint, or one that is running) is neither resumed nor started over.
Every start and resume removes the temporary files a killed atomic write left behind
(``.last.pt.*.tmp`` and the like, :mod:`la_pose_core.atomic_write`).

Bad data: before reading any, the shards of ``data`` and ``val_data`` are checked
(:func:`la_pose_core.training.data.check_shards`); a bad one is named in a one-line warning and
left out, a shard or clip that fails while read is skipped the same way, and both are counted
in ``summary.json`` (``bad_shards``, ``bad_data_skipped_while_reading``). ``strict_data``
makes either an error; no readable shard at all is always one.

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
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from la_pose_core.atomic_write import atomic_write_text
from la_pose_core.data.shards import BadShardError
from la_pose_core.json_output import dumps
from la_pose_core.model.checkpoint import (
    FORMAT,
    NotACheckpointError,
    load_checkpoint,
    module_fingerprint,
    read_checkpoint_payload,
    save_checkpoint,
)
from la_pose_core.model.config import LAPoseConfig
from la_pose_core.model.precision import autocast_context
from la_pose_core.training.clip_length import sample_clip_length, truncate_clips
from la_pose_core.training.data import BatchStream, check_shards, drop_bad_shards, resolve_shards
from la_pose_core.training.distributed import DistContext, setup_distributed
from la_pose_core.training.latent_cache import LatentCache, cache_file
from la_pose_core.training.options import TrainOptions
from la_pose_core.training.outliers import OutlierFilter, filtered_loss
from la_pose_core.training.rng import seed_everything
from la_pose_core.training.run_files import (
    CONFIG_FILE,
    LAST_CHECKPOINT,
    MODEL_FILE,
    RUN_FORMAT,
    RUN_VERSION,
    SUMMARY_FILE,
)
from la_pose_core.training.run_log import RunLog, StepRecord
from la_pose_core.training.run_state import RunState
from la_pose_core.training.schedule import default_warmup_steps, warmup_cosine
from la_pose_core.training.stages import TRAINING_FPS_KEY, Stage, clip_fps_range, get_stage, unwrap

MAX_NONFINITE_STEPS = 10
# what la_pose_core.atomic_write leaves of a run file when killed mid-write
ORPHAN_TEMPORARY = re.compile(
    r"^\.(config\.json|last\.pt|model\.pt|summary\.json|latent_cache(\.rank\d+)?\.pt)\..+\.tmp$"
)


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
        self.stage: Stage = get_stage(options.stage).for_options(options)
        self.stop_signal: int | None = None
        self.step_hooks: list[Callable[[Trainer, int], None]] = []
        self._previous_handlers: dict[int, Any] = {}
        self.urls: list[str] = []  # the resolved, readable shard files, once set up
        self.validation_batches: list[dict[str, Any]] = []  # held-out batches (rank 0)
        self.bad_shards: list[dict[str, str]] = []  # left out of data and val_data
        self._validation_skipped = 0  # bad shards and clips the validation stream skipped
        self._start_step = 0  # of this launch
        self._launch_recorded = False  # config.json written (or appended to) by this launch

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
        """A fresh run needs a folder without a run in it, a resume one with a checkpoint. A
        run that failed before its first step left no ``config.json``: nothing blocks it."""
        run_dir = Path(self.options.run_dir)
        config, last = run_dir / CONFIG_FILE, run_dir / LAST_CHECKPOINT
        stalled = (
            f"the run recorded in {config} has no checkpoint: it stopped before its first one, "
            f"or is still running; delete {config} to start it again there, or choose another "
            "--out"
        )
        if self.resume:
            if not last.is_file():
                if config.is_file():
                    raise FileNotFoundError(f"{last}: no checkpoint to resume from: {stalled}")
                raise FileNotFoundError(f"{run_dir}: no training run here (nothing to resume)")
        elif last.exists():
            raise FileExistsError(
                f"{run_dir} already holds a training run: continue it with --resume, or choose "
                "another --out"
            )
        elif config.exists():
            raise FileExistsError(f"{run_dir} holds no checkpoint to continue: {stalled}")
        context.barrier()  # every rank checked before rank 0 writes anything

    def _remove_orphan_temporaries(self, context: DistContext) -> None:
        """Delete what killed atomic writes of the run's files left (``.last.pt.*.tmp``...)."""
        run_dir = Path(self.options.run_dir)
        if not context.is_main or not run_dir.is_dir():
            return
        orphans = [path for path in run_dir.iterdir() if ORPHAN_TEMPORARY.match(path.name)]
        for path in orphans:
            path.unlink(missing_ok=True)
        if orphans:
            plural = "s" if len(orphans) != 1 else ""
            print(
                f"la-pose train: removed {len(orphans)} temporary file{plural} left by an "
                f"interrupted write in {run_dir}",
                file=sys.stderr,
            )

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
        if options.finetune_backbone and not stage.backbone_options:
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

    def _record_launch(self, context: DistContext) -> None:
        """Write ``config.json`` (a resume: add this launch to it) once per launch, when the
        first step is done or a checkpoint is written, whichever comes first."""
        if not self._launch_recorded:
            self._write_run_config(context, self.urls, self._start_step)
            self._launch_recorded = True

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
        atomic_write_text(path, dumps(record) + "\n")

    # ----------------------------------------------------------------------------------------
    # the run: set up, then steps (each logged, checkpointed every N), then finish

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
        run = self._set_up(context)
        log = RunLog(self.options, self.stage.name, context, run.step, self.resume)
        stopped = None
        try:
            while run.step < self.options.steps:
                if context.any(self.stop_signal is not None):
                    stopped = self.stop_signal if self.stop_signal is not None else signal.SIGTERM
                    break
                record = self._train_step(run, log, context)
                self._record_launch(context)
                for hook in self.step_hooks:
                    hook(self, run.step)
                log.after_step(run, record)
                if self._validation_due(run.step):
                    self._validate(run, log, context.device)
                if self._checkpoint_due(run.step):
                    self._save(run, context)
        finally:
            log.close_progress()
            run.stream.close()
        return self._finish(run, log, context, stopped)

    def _set_up(self, context: DistContext) -> RunState:
        """Check the folder, resolve the options, build the model, optimizer and data stream;
        on ``--resume`` put them back where ``last.pt`` left them."""
        self._check_run_dir(context)
        self.options, init = self._resolve()
        options, stage, config = self.options, self.stage, self.options.config
        if context.is_main:
            Path(options.run_dir).mkdir(parents=True, exist_ok=True)
        self._remove_orphan_temporaries(context)
        urls = self.urls = self._readable_shards(context)
        self.validation_batches = self._read_validation_batches(context)
        seed_everything(options.seed)  # the same initial weights on every rank
        model = stage.build(config, init, options).to(context.device)
        del init
        if not any(p.requires_grad for p in model.parameters()):
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
        run = RunState(
            model,
            stage.parts(model),
            optimizer,
            scheduler,
            self._batch_stream(urls, context),
            outlier_filter,
        )
        if self.resume:
            self._load_state(run, context)
        if options.cache_latents:  # after a resume's load: the backbone is the run's
            run.latent_cache = self._latent_cache(model, urls, context)
        self._start_step = run.step  # config.json is written once a step is done
        run.wrapped = model
        if context.distributed:
            device = context.device
            run.wrapped = DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        model.train()
        return run

    def _readable_shards(self, context: DistContext) -> list[str]:
        """The shards of ``data`` that pass :func:`check_shards` (rank 0 checks, every rank
        takes its answer); the others named, left out and recorded in ``bad_shards``."""
        options = self.options
        urls = resolve_shards(options.data)
        bad = context.gather_objects(check_shards(urls) if context.is_main else None)[0]
        good, self.bad_shards = drop_bad_shards(
            urls, bad, "--data", options.strict_data, warn=context.is_main
        )
        if self.resume and context.is_main:
            first = json.loads((Path(options.run_dir) / CONFIG_FILE).read_text()).get("shards")
            if first is not None and first != good:
                print(
                    f"la-pose train: the readable shards differ from those the run started with "
                    f"({len(good)} now, {len(first)} then: {CONFIG_FILE} 'shards'): the data "
                    "order differs from an uninterrupted run",
                    file=sys.stderr,
                )
        return good

    def _batch_stream(self, urls: list[str], context: DistContext) -> BatchStream:
        options, config = self.options, self.options.config
        return BatchStream(
            urls,
            (config.image_width, config.image_height),
            options.batch_size,
            rank=context.rank,
            world_size=context.world_size,
            num_workers=options.num_workers,
            seed=options.seed,
            shuffle_buffer=options.shuffle_buffer,
            with_labels=self.stage.with_labels,
            pin_memory=context.device.type == "cuda",
            virtual_rotation=options.virtual_rotation_options(),
            with_frames=not options.cache_latents,
            mirror=options.mirror,
            skip_bad_data=not options.strict_data,
            shards_checked=True,  # once, in set-up (_readable_shards, drop_bad_shards)
        )

    def _latent_cache(self, model: nn.Module, urls: list[str], context: DistContext) -> LatentCache:
        """The frozen backbone's latent actions of this rank's clips: read from the run folder
        when they are this backbone's at this precision, else computed and written now."""
        options, config = self.options, self.options.config
        backbone = unwrap(model).inverse_dynamics
        fingerprint = f"{module_fingerprint(backbone)}:{options.precision}"
        path = cache_file(options.run_dir, context.rank, context.world_size)
        mirror = options.mirror > 0
        cache = LatentCache.load(path, fingerprint, mirror) if path.is_file() else None
        if cache is None:
            print("la-pose train: running the frozen backbone once over the clips", file=sys.stderr)
            started = time.perf_counter()
            try:
                cache = LatentCache.build(
                    backbone,
                    urls,
                    (config.image_width, config.image_height),
                    fingerprint,
                    options.batch_size,
                    context.device,
                    options.precision,
                    context.rank,
                    context.world_size,
                    mirror,
                )
            except BadShardError as error:  # the cached stream cannot skip what this skips
                raise BadShardError(
                    f"--cache-latents: {error} (every clip of a readable shard must decode: "
                    "leave this shard out, or train without --cache-latents)"
                ) from None
            cache.save(path)
            took = f"computed in {time.perf_counter() - started:.0f} s"
        else:
            took = f"read from {path}"
        print(f"la-pose train: latent cache of {len(cache)} clips {took}", file=sys.stderr)
        return cache

    def _read_validation_batches(self, context: DistContext) -> list[dict[str, Any]]:
        """The first ``val_batches`` batches of ``val_data`` in stream order (rank 0; none
        without ``val_data``). Read before any seeding, so they never shift a random stream."""
        options = self.options
        if options.val_data is None or not context.is_main:
            return []
        config = options.config
        urls = resolve_shards(options.val_data)
        urls, bad = drop_bad_shards(urls, check_shards(urls), "--val-data", options.strict_data)
        self.bad_shards += bad
        stream = BatchStream(
            urls,
            (config.image_width, config.image_height),
            options.batch_size,
            with_labels=self.stage.with_labels,
            skip_bad_data=not options.strict_data,
            shards_checked=True,  # once, in set-up (_readable_shards, drop_bad_shards)
        )
        batches = []
        try:
            while len(batches) < options.val_batches and stream.epoch == 0:
                batch = stream.next()
                if stream.epoch == 0:  # not the start of a second pass
                    batches.append(batch)
        finally:
            self._validation_skipped = stream.skipped_bad_data
            stream.close()
        for batch in batches:
            self.stage.check_batch(batch, config)
        return batches

    def _validation_due(self, step: int) -> bool:
        every = self.options.val_every
        return bool(self.validation_batches) and (step % every == 0 or step == self.options.steps)

    def _validate(self, run: RunState, log: RunLog, device: torch.device) -> None:
        """The stage's measures on the held-out batches, logged; training resumes unchanged
        (eval mode only for the pass, every random generator as it was)."""
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            run.model.eval()
            try:
                with autocast_context(device, self.options.precision):
                    measures = self.stage.validate(run.model, self.validation_batches, device)
            finally:
                run.model.train()
        log.record_validation(run.step, measures)

    def _train_step(self, run: RunState, log: RunLog, context: DistContext) -> StepRecord:
        """One optimizer step over ``grad_accum`` micro-batches."""
        options = self.options
        run.optimizer.zero_grad(set_to_none=True)
        sums: dict[str, torch.Tensor] = {}
        dropped = 0
        for micro in range(options.grad_accum):
            batch = self._next_batch(run, log)
            terms, micro_dropped = self._backward(run, batch, context, micro)
            dropped += micro_dropped
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + value.float() / options.grad_accum
        grad_norm = self._apply_gradients(run)
        lr = run.optimizer.param_groups[0]["lr"]
        run.scheduler.step()
        run.step += 1
        return StepRecord(sums, float(grad_norm), lr, dropped)

    def _next_batch(self, run: RunState, log: RunLog) -> dict[str, Any]:
        """The next micro-batch, checked, cut to a sampled clip length if so configured."""
        options, config = self.options, self.options.config
        batch = log.fetch(run)
        if run.latent_cache is not None:  # (B, T-1, d) in place of the frames
            batch["latent_actions"] = run.latent_cache.lookup(
                batch["key"], batch["dt"].shape[1], batch.get("mirrored")
            )
        self.stage.check_batch(batch, config)
        if options.clip_len_sampling == "exponential":
            length = sample_clip_length(
                config.clip_len, options.min_clip_len, options.clip_len_decay
            )
            batch = truncate_clips(batch, length)
        return batch

    def _backward(
        self, run: RunState, batch: dict[str, Any], context: DistContext, micro: int
    ) -> tuple[dict[str, torch.Tensor], int]:
        """Loss and gradients of one micro-batch (DDP syncs on the last); its loss terms and
        how many samples the outlier filter dropped."""
        options, device = self.options, context.device
        last_micro = micro == options.grad_accum - 1
        sync = (
            run.wrapped.no_sync()
            if context.distributed and not last_micro
            else contextlib.nullcontext()
        )
        dropped = 0
        with sync:
            with autocast_context(device, options.precision):
                output = self.stage.step(run.wrapped, batch, device, run.outlier_filter is not None)
            loss = output.loss
            if run.outlier_filter is not None:
                loss, dropped = filtered_loss(
                    output, batch, run.outlier_filter, context, run.counters
                )
            (loss / options.grad_accum).backward()
        return output.terms, dropped

    def _apply_gradients(self, run: RunState) -> torch.Tensor:
        """Clip and apply the gradients; a non-finite norm skips the step (ten in a row stop
        the run). Returns the gradient norm before clipping."""
        max_norm = self.options.clip_grad if self.options.clip_grad > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(run.trainable, max_norm)
        if torch.isfinite(grad_norm):
            run.optimizer.step()
            run.nonfinite_in_a_row = 0
            return grad_norm
        run.optimizer.zero_grad(set_to_none=True)
        run.counters["nonfinite_steps"] += 1
        run.nonfinite_in_a_row += 1
        if run.nonfinite_in_a_row >= MAX_NONFINITE_STEPS:
            raise FloatingPointError(
                f"{MAX_NONFINITE_STEPS} steps in a row with non-finite gradients at step "
                f"{run.step + 1}: lower --lr (last checkpoint: {self.options.run_dir})"
            )
        return grad_norm

    def _checkpoint_due(self, step: int) -> bool:
        every = self.options.checkpoint_every
        return bool(every) and step % every == 0 and step < self.options.steps

    def _finish(
        self, run: RunState, log: RunLog, context: DistContext, stopped: int | None
    ) -> TrainResult:
        """Write ``last.pt``, ``model.pt`` (when every step is done) and ``summary.json``."""
        options, run_dir = self.options, Path(self.options.run_dir)
        finished = run.step >= options.steps
        self._save(run, context)
        if finished and context.is_main:
            extra = self.stage.finalize(run.model, options, self.urls)
            save_checkpoint(
                run_dir / MODEL_FILE,
                run.parts,
                options.config,
                {
                    "stage": self.stage.name,
                    "step": run.step,
                    "total_steps": options.steps,
                    "finished": True,
                    TRAINING_FPS_KEY: clip_fps_range(self.urls),
                    **extra,
                },
            )
        skipped = run.stream.skipped_bad_data + self._validation_skipped
        summary = log.summary(run, self.stage.name, stopped, self.bad_shards, skipped)
        if context.is_main:
            log.close()
            atomic_write_text(run_dir / SUMMARY_FILE, dumps(summary) + "\n")
        context.barrier()
        return TrainResult(run.step, options.steps, finished, stopped, summary)

    # ----------------------------------------------------------------------------------------
    # checkpoints

    def _save(self, run: RunState, context: DistContext) -> None:
        """Write ``last.pt`` (every rank takes part: RNG states and data positions are gathered)."""
        self._record_launch(context)  # a checkpoint needs its config.json
        trainer_state = run.state_dict(context, self.options.num_workers)
        if context.is_main:
            extra = {
                "stage": self.stage.name,
                "step": run.step,
                "total_steps": self.options.steps,
                "finished": run.step >= self.options.steps,
                "trainer_state": trainer_state,
            }
            save_checkpoint(
                Path(self.options.run_dir) / LAST_CHECKPOINT, run.parts, self.options.config, extra
            )
        context.barrier()

    def _load_state(self, run: RunState, context: DistContext) -> None:
        """Restore ``last.pt`` into the freshly built run."""
        path = Path(self.options.run_dir) / LAST_CHECKPOINT
        payload = read_checkpoint_payload(path)
        if payload.get("format") != FORMAT:
            raise NotACheckpointError(path, "it has no LA-Pose format marker")
        extra = payload["extra"]
        if extra.get("stage") != self.stage.name or "trainer_state" not in extra:
            raise ValueError(f"{path} is not a {self.stage.name} training checkpoint")
        if LAPoseConfig.from_dict(payload["config"]) != self.options.config:
            raise ValueError(f"{path}: its model config differs from {CONFIG_FILE}")
        for name, module in run.parts.items():
            module.load_state_dict(payload["modules"][name])
        run.load_state_dict(
            extra["trainer_state"], int(extra["step"]), context, self.options.num_workers
        )
