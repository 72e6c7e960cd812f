"""Reading clip shards: :class:`ClipShardDataset`, a streaming reader for PyTorch.

:class:`ClipShardDataset` is a ``webdataset.DataPipeline`` (an ``IterableDataset``):
shard list (deterministically shuffled per epoch) -> split by node (DDP rank, from
``torch.distributed`` when initialised, or given) -> split by DataLoader worker -> tar samples
-> shuffle buffer -> decode -> optional left-right mirror -> optional virtual camera rotation
-> optional batching with :func:`collate_clips`. Splitting is by shard, so use at least
``world_size * num_workers`` shards, and a multiple of ``world_size`` shards of equal size so
that every rank gets as many clips (DDP needs equal step counts; or cap the epoch with
``.with_epoch(n)``).
:meth:`ClipShardDataset.set_epoch` reaches the workers of a ``DataLoader`` only when they are
re-created each epoch (the default, ``persistent_workers=False``).
Each sample is decoded by :func:`~.format.decode_sample` (layout: :mod:`.format`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import torch
import webdataset as wds

from la_pose_core.data.mirror import RandomMirror
from la_pose_core.data.shards.format import collate_clips, decode_sample
from la_pose_core.data.virtual_rotation import RandomVirtualRotation, VirtualRotation


def list_shards(shards: str | Path | Sequence[str | Path]) -> list[str]:
    """Shard paths from a folder (its ``*.tar``, sorted), a brace pattern, or a list."""
    if isinstance(shards, (str, Path)):
        path = Path(shards)
        if path.is_dir():
            found = sorted(str(p) for p in path.glob("*.tar"))
            if not found:
                raise FileNotFoundError(f"{path}: no .tar shards")
            return found
        return list(wds.shardlists.expand_urls(str(shards)))
    found = [str(p) for p in shards]
    if not found:
        raise ValueError("empty shard list")
    return found


def _worker_info() -> tuple[int, int]:
    info = torch.utils.data.get_worker_info()
    return (0, 1) if info is None else (info.id, info.num_workers)


class _ShardList(torch.utils.data.IterableDataset):
    """First stage: the shard URLs, shuffled identically on every rank for a given epoch."""

    def __init__(self, urls: list[str], shuffle: bool, seed: int, epoch_state: dict):
        super().__init__()
        self.urls, self.shuffle, self.seed, self.epoch_state = urls, shuffle, seed, epoch_state

    def __iter__(self) -> Iterator[dict[str, str]]:
        urls = list(self.urls)
        if self.shuffle:
            random.Random(self.seed * 1_000_003 + self.epoch_state["epoch"]).shuffle(urls)
        for url in urls:
            yield {"url": url}


class _SplitByNode:
    """``webdataset.split_by_node`` (torch.distributed / RANK, WORLD_SIZE), or a given split."""

    def __init__(self, rank: int | None, world_size: int | None):
        self.rank, self.world_size = rank, world_size

    def __call__(self, source: Iterable) -> Iterator:
        if self.rank is None:
            return wds.split_by_node(source)
        return islice(source, self.rank, None, self.world_size)


class _Shuffle:
    """Shuffle buffer seeded by (seed, epoch, rank, worker): reproducible, different per split."""

    def __init__(self, buffer: int, seed: int, rank: int | None, epoch_state: dict):
        self.buffer, self.seed, self.rank, self.epoch_state = buffer, seed, rank, epoch_state

    def __call__(self, source: Iterable) -> Iterator:
        if self.buffer <= 1:
            yield from source
            return
        rank = self.rank if self.rank is not None else wds.utils.pytorch_worker_info()[0]
        worker, _ = _worker_info()
        rng = random.Random(f"{self.seed}-{self.epoch_state['epoch']}-{rank}-{worker}")
        pool: list = []
        for item in source:
            if len(pool) < self.buffer:
                pool.append(item)
                continue
            index = rng.randrange(len(pool))
            pool[index], item = item, pool[index]
            yield item
        rng.shuffle(pool)
        yield from pool


class _Decode:
    def __init__(self, image_size, with_labels, with_frames):
        self.image_size, self.with_labels, self.with_frames = image_size, with_labels, with_frames

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        return decode_sample(sample, self.image_size, self.with_labels, self.with_frames)


class ClipShardDataset(wds.DataPipeline):
    """Streaming reader of clip shards (pipeline: module docstring; samples: :mod:`.format`).

    Args:
        shards: folder of ``*.tar``, brace pattern (``clips-{000000..000009}.tar``) or list.
        image_size: target ``(W, H)`` of ``frames``; None keeps the stored size.
        batch_size: batch inside the pipeline with :func:`collate_clips` (use
            ``DataLoader(dataset, batch_size=None)``); None yields single clips (then use
            ``DataLoader(dataset, batch_size=B, collate_fn=collate_clips)``).
        shuffle_buffer: clips in the shuffle buffer (0 or 1: stream order).
        shuffle_shards: shuffle the shard order each epoch (same order on every rank).
        seed: of both shuffles.
        rank, world_size: this process's share of the shards; None: from
            ``torch.distributed`` (or RANK / WORLD_SIZE) when initialised, else everything.
        split_by_worker: give each DataLoader worker its own shards.
        with_labels: see :func:`decode_sample`.
        partial_batches: yield a last, smaller batch.
        virtual_rotation: augment decoded clips with virtual camera yaw
            (:mod:`la_pose_core.data.virtual_rotation`); None: as stored.
        with_frames: see :func:`decode_sample`.
        mirror: share of decoded clips flipped left-right, labels following
            (:mod:`la_pose_core.data.mirror`); with it every sample has a ``mirrored`` flag.

    Call :meth:`set_epoch` before each epoch to reshuffle.
    """

    def __init__(
        self,
        shards: str | Path | Sequence[str | Path],
        image_size: tuple[int, int] | None = None,
        batch_size: int | None = None,
        shuffle_buffer: int = 0,
        shuffle_shards: bool = False,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        split_by_worker: bool = True,
        with_labels: bool | None = None,
        partial_batches: bool = True,
        virtual_rotation: VirtualRotation | None = None,
        with_frames: bool = True,
        mirror: float = 0.0,
    ):
        if (rank is None) != (world_size is None):
            raise ValueError("give both rank and world_size, or neither")
        if rank is not None and not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.urls = list_shards(shards)
        self.epoch_state = {"epoch": 0}
        stages = [
            _ShardList(self.urls, shuffle_shards, seed, self.epoch_state),
            _SplitByNode(rank, world_size),
            wds.split_by_worker if split_by_worker else None,
            wds.tarfile_to_samples(handler=wds.reraise_exception),
            _Shuffle(shuffle_buffer, seed, rank, self.epoch_state),
            wds.map(_Decode(image_size, with_labels, with_frames)),
        ]
        if mirror > 0:
            stages.append(wds.map(RandomMirror(mirror, seed, self.epoch_state)))
        if virtual_rotation is not None and virtual_rotation.probability > 0:
            if not with_frames:
                raise ValueError("a virtual rotation needs the frames (with_frames=True)")
            stages.append(wds.map(RandomVirtualRotation(virtual_rotation, seed, self.epoch_state)))
        if batch_size is not None:
            stages.append(
                wds.batched(batch_size, collation_fn=collate_clips, partial=partial_batches)
            )
        super().__init__(*stages)

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for ``epoch`` (call in every process before iterating)."""
        self.epoch_state["epoch"] = int(epoch)


def read_shard_metadata(shards: str | Path | Sequence[str | Path]) -> Iterator[dict[str, Any]]:
    """``meta.json`` of every clip, in shard order, without decoding images."""
    import tarfile

    for url in list_shards(shards):
        with tarfile.open(url) as tar:
            for member in tar:
                if member.name.endswith(".meta.json"):
                    yield json.loads(tar.extractfile(member).read())
