"""Training batches from clip shards: an endless, resumable stream over epochs.

The reader is :class:`la_pose_core.data.shards.ClipShardDataset`: it splits the shards by rank
(the ``DistributedSampler`` equivalent) and by ``DataLoader`` worker, shuffles with seeds that
depend on (seed, epoch, rank, worker) only, and batches inside the pipeline. So the sequence of
batches a rank sees is a deterministic function of the shard list, the seed, the world size,
the number of workers and the batch size.

:class:`BatchStream` runs epoch after epoch (``set_epoch`` each time) and counts the batches
of the current epoch; its position ``(epoch, batches_in_epoch)`` is what a checkpoint stores.
Restoring replays the epoch up to that position (the skipped batches are read and decoded, so
a resume late in a very long epoch takes a while; it is exact, which is what ``--resume``
promises). Incomplete batches are dropped (``partial_batches=False``): DDP ranks and gradient
accumulation see fixed-size batches.

Bad shards: :func:`check_shards` finds the shards that are not readable clip shards
(:func:`la_pose_core.data.shards.check_shard`) before a run reads any, and :func:`drop_bad_shards`
names each in a one-line warning and leaves it out (``strict``: an error instead; no readable
shard at all is always one). A stream with ``skip_bad_data`` also skips, warns about and counts
a shard that fails later, or a clip that does not decode.
"""

from __future__ import annotations

import glob
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from la_pose_core.data.shards import BadShardError, ClipShardDataset, check_shard, list_shards
from la_pose_core.data.virtual_rotation import VirtualRotation


def resolve_shards(specs: str | Sequence[str]) -> list[str]:
    """Shard paths from folders (their ``*.tar``), globs, brace patterns or files, in order."""
    if isinstance(specs, (str, Path)):
        specs = [str(specs)]
    urls: list[str] = []
    for spec in specs:
        spec = str(spec)
        if any(char in spec for char in "*?[") and not Path(spec).exists():
            found = sorted(glob.glob(spec))
            if not found:
                raise FileNotFoundError(f"--data {spec}: no file matches")
            urls += found
        else:
            urls += list_shards(spec)
    missing = [url for url in urls if "://" not in url and not Path(url).is_file()]
    if missing:
        raise FileNotFoundError(f"--data: no such shard {missing[0]}")
    if not urls:
        raise FileNotFoundError("--data: no shards")
    return urls


MAX_BAD_SHARD_WARNINGS = 10  # lines; the rest are summed up in one more


def check_shards(urls: Sequence[str]) -> dict[str, str]:
    """``{url: reason}`` of the shards that are not readable clip shards, in ``urls`` order."""
    return {url: reason for url in urls if (reason := check_shard(url)) is not None}


def drop_bad_shards(
    urls: Sequence[str],
    bad: dict[str, str],
    option: str = "--data",
    strict: bool = False,
    warn: bool = True,
) -> tuple[list[str], list[dict[str, str]]]:
    """The shards of ``urls`` not in ``bad`` (from :func:`check_shards`), and a record
    ``{"data": option, "shard", "reason"}`` of each left out, named in a one-line warning on
    stderr (``warn``). ``strict``: a bad shard raises :class:`BadShardError` instead; so does
    a list of bad shards only."""
    records = [{"data": option, "shard": url, "reason": bad[url]} for url in urls if url in bad]
    if records and strict:
        first = records[0]
        raise BadShardError(
            f"{option}: bad clip shard {first['shard']}: {first['reason']} (--strict-data; "
            f"{len(records)} of {len(urls)} shards bad)"
        )
    good = [url for url in urls if url not in bad]
    if not good:
        first = records[0]
        raise BadShardError(
            f"{option}: no readable clip shard among the {len(urls)} given (first: "
            f"{first['shard']}: {first['reason']})"
        )
    if warn:
        for record in records[:MAX_BAD_SHARD_WARNINGS]:
            print(
                f"la-pose train: warning: skipping {option} shard {record['shard']}: "
                f"{record['reason']}",
                file=sys.stderr,
            )
        if len(records) > MAX_BAD_SHARD_WARNINGS:
            print(
                f"la-pose train: warning: skipping {len(records) - MAX_BAD_SHARD_WARNINGS} "
                f"more bad {option} shards (summary.json lists them all)",
                file=sys.stderr,
            )
        sys.stderr.flush()
    return good, records


def _worker_init(_: int) -> None:
    # Ctrl-C reaches the whole process group: the loader workers must outlive it so the main
    # process can finish its step and write the checkpoint (the loader shuts them down).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class BatchStream:
    """Endless batches of one rank (see module docstring).

    Args:
        urls: every shard (the stream takes this rank's share).
        image_size: ``(W, H)`` of the model input.
        batch_size: clips per batch.
        rank, world_size: this process's split.
        num_workers: ``DataLoader`` workers (0: decode in this process).
        seed, shuffle_buffer: of the reader's shuffles (shards are reshuffled every epoch).
        with_labels: ``ClipShardDataset(with_labels=...)``.
        pin_memory: pin batches (CUDA).
        virtual_rotation: ``ClipShardDataset(virtual_rotation=...)`` (training streams only).
        with_frames: ``ClipShardDataset(with_frames=...)`` (False: labels and intervals only).
        mirror: ``ClipShardDataset(mirror=...)`` (training streams only).
        skip_bad_data: ``ClipShardDataset(skip_bad_data=...)``: skip (warn, count) what does
            not read instead of raising.
        shards_checked: the shards passed :func:`check_shards` already, so the dataset does
            not check them again on every read (``ClipShardDataset(check_shards=False)``).
    """

    def __init__(
        self,
        urls: list[str],
        image_size: tuple[int, int],
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        num_workers: int = 0,
        seed: int = 0,
        shuffle_buffer: int = 0,
        with_labels: bool | None = None,
        pin_memory: bool = False,
        virtual_rotation: VirtualRotation | None = None,
        with_frames: bool = True,
        mirror: float = 0.0,
        skip_bad_data: bool = False,
        shards_checked: bool = False,
    ) -> None:
        if len(urls) < world_size:
            raise ValueError(
                f"{len(urls)} shards for {world_size} ranks: every rank needs its own shards "
                "(write more, smaller shards: la-pose shards --clips-per-shard)"
            )
        self.rank, self.world_size, self.num_workers = rank, world_size, num_workers
        self.batch_size = batch_size
        self.pin_memory = pin_memory
        self.dataset = ClipShardDataset(
            urls,
            image_size=image_size,
            batch_size=batch_size,
            shuffle_buffer=shuffle_buffer,
            shuffle_shards=True,
            seed=seed,
            rank=rank,
            world_size=world_size,
            split_by_worker=True,
            with_labels=with_labels,
            partial_batches=False,
            virtual_rotation=virtual_rotation,
            with_frames=with_frames,
            mirror=mirror,
            skip_bad_data=skip_bad_data,
            check_shards=not shards_checked,
        )
        self.epoch = 0
        self.batches_in_epoch = 0
        self._iterator = None

    def _start_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.batches_in_epoch = 0
        self.dataset.set_epoch(epoch)
        loader = DataLoader(
            self.dataset,
            batch_size=None,
            num_workers=self.num_workers,
            worker_init_fn=_worker_init if self.num_workers > 0 else None,
            pin_memory=self.pin_memory,
            persistent_workers=False,
        )
        self._iterator = iter(loader)

    def next(self) -> dict[str, Any]:
        """The next batch (a new epoch starts when the current one runs out)."""
        if self._iterator is None:
            self._start_epoch(self.epoch)
        try:
            batch = next(self._iterator)
        except StopIteration:
            if self.batches_in_epoch == 0:
                raise ValueError(
                    f"rank {self.rank} got no complete batch of {self.batch_size} clips from its "
                    f"shards in epoch {self.epoch} ({self.world_size} ranks, "
                    f"{max(1, self.num_workers)} loader workers each): use a smaller "
                    "--batch-size, fewer --num-workers, or more clips"
                ) from None
            self._start_epoch(self.epoch + 1)
            batch = next(self._iterator)
        self.batches_in_epoch += 1
        return batch

    @property
    def skipped_bad_data(self) -> int:
        """Shards and clips this stream skipped because they did not read (all its epochs)."""
        return self.dataset.skipped_bad_data

    def state(self) -> dict[str, int]:
        """Position: ``{"epoch", "batches_in_epoch"}``."""
        return {"epoch": self.epoch, "batches_in_epoch": self.batches_in_epoch}

    def restore(self, state: dict[str, int]) -> None:
        """Go to a saved position (replays the epoch up to it)."""
        self._start_epoch(int(state["epoch"]))
        for _ in range(int(state["batches_in_epoch"])):
            self.next()

    def close(self) -> None:
        self._iterator = None  # shuts the workers down
