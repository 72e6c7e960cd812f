"""What a training run reports while it runs and when it ends.

:class:`RunLog` owns the TensorBoard writer and the progress bar (rank 0 only), the throughput
of the last logging interval, the shard keys each rank has seen (the first epochs, for
``summary.json``: tests check that ranks read disjoint data) and the last logged loss terms.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from la_pose_core.training.distributed import DistContext
from la_pose_core.training.run_files import LAST_CHECKPOINT, MODEL_FILE, TENSORBOARD_DIR
from la_pose_core.training.run_state import LABEL_NOISE_COUNTERS, RunState

KEY_RECORD_LIMIT = 1000  # keys per rank and epoch kept for summary.json
KEY_RECORD_EPOCHS = 4


@dataclass
class StepRecord:
    """What one optimizer step measured: loss terms (means over micro-batches), and more."""

    terms: dict[str, torch.Tensor]
    grad_norm: float
    lr: float
    outliers_dropped: int


class RunLog:
    """Logging of one run (see module docstring)."""

    def __init__(
        self, options: Any, stage_name: str, context: DistContext, start_step: int, resumed: bool
    ) -> None:
        self.options, self.context = options, context
        self.clips_per_step = options.batch_size * options.grad_accum * context.world_size
        self.start_step, self.resumed = start_step, resumed
        self.start_time = time.perf_counter()
        self.keys_by_epoch: dict[int, set[str]] = {}
        self.last_terms: dict[str, float] = {}
        self.validation: list[dict[str, float]] = []  # {"step": ..., measures} of this launch
        self._start_interval()
        self.writer = self.progress = None
        if not context.is_main:
            return
        from torch.utils.tensorboard import SummaryWriter

        run_dir = Path(options.run_dir)
        self.writer = SummaryWriter(
            str(run_dir / TENSORBOARD_DIR), purge_step=start_step if resumed else None
        )
        if options.progress:
            from tqdm import tqdm

            self.progress = tqdm(
                total=options.steps,
                initial=start_step,
                desc=stage_name,
                unit="step",
                file=sys.stderr,
                dynamic_ncols=True,
            )

    def _start_interval(self) -> None:
        self.interval_start, self.interval_steps, self.data_wait_s = time.perf_counter(), 0, 0.0

    def fetch(self, run: RunState) -> dict[str, Any]:
        """The next batch of the run's stream, timed and its keys recorded."""
        started = time.perf_counter()
        batch = run.stream.next()
        self.data_wait_s += time.perf_counter() - started
        if run.stream.epoch < KEY_RECORD_EPOCHS:
            seen = self.keys_by_epoch.setdefault(run.stream.epoch, set())
            if len(seen) < KEY_RECORD_LIMIT:
                seen.update(batch["key"])
        run.counters["clips_seen"] += len(batch["key"])
        return batch

    def after_step(self, run: RunState, record: StepRecord) -> None:
        """Count the step; every ``log_every`` steps (and the last) write the scalars."""
        self.interval_steps += 1
        step = run.step
        if step % self.options.log_every == 0 or step == self.options.steps:
            self._write_scalars(run, record)
        if self.progress is not None:
            self.progress.update(1)

    def _write_scalars(self, run: RunState, record: StepRecord) -> None:
        names = sorted(record.terms)
        values = self.context.mean(torch.stack([record.terms[n] for n in names]))
        self.last_terms = dict(zip(names, values.tolist(), strict=True))
        elapsed = time.perf_counter() - self.interval_start
        scalars = {f"train/{name}": value for name, value in self.last_terms.items()}
        scalars.update(
            {
                "train/lr": record.lr,
                "train/grad_norm": record.grad_norm,
                "perf/steps_per_s": self.interval_steps / elapsed,
                "perf/clips_per_s": self.interval_steps * self.clips_per_step / elapsed,
                "perf/data_wait_fraction": self.data_wait_s / elapsed,
                "train/epoch": run.stream.epoch,
                "train/nonfinite_steps": run.counters["nonfinite_steps"],
            }
        )
        if run.outlier_filter is not None:
            scalars["outliers/dropped_in_step"] = record.outliers_dropped
            scalars["outliers/dropped_total"] = run.outlier_filter.total_dropped
            scalars["outliers/threshold"] = run.outlier_filter.threshold()
        self.write(scalars, run.step)
        if self.progress is not None:
            self.progress.set_postfix(
                loss=f"{self.last_terms.get('loss', math.nan):.4g}",
                clips_s=f"{scalars['perf/clips_per_s']:.3g}",
                lr=f"{record.lr:.2e}",
            )
        self._start_interval()

    def write(self, scalars: dict[str, float], step: int) -> None:
        """Finite ``scalars`` to TensorBoard (rank 0)."""
        if self.writer is None:
            return
        for tag, value in scalars.items():
            if math.isfinite(value):
                self.writer.add_scalar(tag, value, step)

    def record_validation(self, step: int, measures: dict[str, float]) -> None:
        """Held-out measures of ``step``: TensorBoard ``val/...`` and ``summary.json``."""
        self.write({f"val/{name}": value for name, value in measures.items()}, step)
        self.validation.append({"step": step, **measures})
        if not self.context.is_main:
            return
        line = f"{self.options.stage} step {step} validation: " + ", ".join(
            f"{name} {value:.4g}" for name, value in sorted(measures.items())
        )
        if self.progress is not None:
            self.progress.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def close_progress(self) -> None:
        if self.progress is not None:
            self.progress.close()

    def summary(
        self,
        run: RunState,
        stage_name: str,
        stopped: int | None,
        bad_shards: list[dict[str, str]] | None = None,
        bad_data_skipped: int = 0,
    ) -> dict[str, Any]:
        """What ``summary.json`` holds. Collective (every rank's data record is gathered).

        ``bad_shards``: the shards left out before reading (``{"data", "shard", "reason"}``);
        ``bad_data_skipped``: shards and clips this rank's readers skipped while reading, in
        this launch (a resume's replay of its epoch included).
        """
        elapsed = time.perf_counter() - self.start_time
        ranks = self.context.gather_objects(
            {
                "rank": self.context.rank,
                "clips_seen": run.counters["clips_seen"],
                "epoch": run.stream.epoch,
                "bad_data_skipped": bad_data_skipped,
                "keys_by_epoch": {str(e): sorted(k) for e, k in self.keys_by_epoch.items()},
            }
        )
        run_dir, done = Path(self.options.run_dir), run.step - self.start_step
        finished = run.step >= self.options.steps
        rate = done / elapsed if elapsed > 0 else None
        return {
            "stage": stage_name,
            "run_dir": str(run_dir),
            "step": run.step,
            "total_steps": self.options.steps,
            "finished": finished,
            "stopped_by": None if stopped is None else signal.Signals(stopped).name,
            "resumed_from_step": self.start_step if self.resumed else None,
            "checkpoint": str(run_dir / LAST_CHECKPOINT),
            "model": str(run_dir / MODEL_FILE) if finished else None,
            "world_size": self.context.world_size,
            "device": str(self.context.device),
            "elapsed_s": elapsed,
            "steps_per_s": rate,
            "clips_per_s": None if rate is None else rate * self.clips_per_step,
            "last_losses": self.last_terms,
            "validation": self.validation,
            "nonfinite_steps": run.counters["nonfinite_steps"],
            "outliers_dropped": (
                None if run.outlier_filter is None else run.outlier_filter.total_dropped
            ),
            "label_noise": {name: run.counters.get(name, 0) for name in LABEL_NOISE_COUNTERS},
            "bad_shards": list(bad_shards or []),
            "bad_data_skipped_while_reading": sum(rank["bad_data_skipped"] for rank in ranks),
            "ranks": ranks,
        }

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
