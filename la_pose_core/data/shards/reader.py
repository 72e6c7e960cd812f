"""Reading clip shards: :class:`ClipShardDataset`, a streaming reader for PyTorch.

:class:`ClipShardDataset` is a ``webdataset.DataPipeline`` (an ``IterableDataset``):
shard list (deterministically shuffled per epoch) -> split by node (DDP rank, from
``torch.distributed`` when initialised, or given) -> split by DataLoader worker -> tar samples
(each shard checked by :func:`check_shard` first) -> shuffle buffer -> decode -> optional
left-right mirror -> optional virtual camera rotation -> optional batching with
:func:`collate_clips`. Splitting is by shard, so use at least
``world_size * num_workers`` shards, and a multiple of ``world_size`` shards of equal size so
that every rank gets as many clips (DDP needs equal step counts; or cap the epoch with
``.with_epoch(n)``).
:meth:`ClipShardDataset.set_epoch` reaches the workers of a ``DataLoader`` only when they are
re-created each epoch (the default, ``persistent_workers=False``).
Each sample is decoded by :func:`~.format.decode_sample` (layout: :mod:`.format`).

Bad data: a shard that is not a readable clip shard (:func:`check_shard`: empty, not a tar,
truncated, a corrupt header, no clip in it; or one that fails while read), and a clip whose
bytes do not decode (:class:`~.format.CorruptSampleError`: a damaged image or ``meta.json``),
raise :class:`BadShardError`, one line naming the shard (and clip); with
``skip_bad_data=True`` they are skipped instead, each with a one-line warning on stderr, and
counted (:attr:`ClipShardDataset.skipped_bad_data`, shared with the DataLoader's workers). A
clip that decodes but does not fit the request (no poses with ``with_labels=True``) is an error
either way: that is the wrong data, not damaged data.
"""

from __future__ import annotations

import json
import random
import sys
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import torch
import webdataset as wds
from webdataset.gopen import gopen
from webdataset.tariterators import group_by_keys, tar_file_iterator

from la_pose_core.data.mirror import RandomMirror
from la_pose_core.data.shards.format import CorruptSampleError, collate_clips, decode_sample
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


class BadShardError(ValueError):
    """A clip shard that does not read, or a clip in it that does not decode (one line)."""


_BLOCK = 512  # tar block size


def check_shard(url: str | Path) -> str | None:
    """Why ``url`` is not a readable clip shard, or None when it is one.

    A cheap structural check, images not decoded: the tar headers in turn, every member's data
    inside the file, the end-of-archive block where the members end (a corrupt header stops a
    tar reader early without an error; a truncated shard has none), at least one clip
    (``*.meta.json``). Remote URLs (``scheme://``, ``pipe:``) are not checked (None).
    """
    text = str(url)
    if "://" in text or text.startswith("pipe:"):
        return None
    try:
        with open(text, "rb") as stream:
            size = stream.seek(0, 2)
            if size == 0:
                return "empty file"
            stream.seek(0)
            clips = 0
            with tarfile.open(fileobj=stream, mode="r:") as tar:
                for member in tar:
                    if member.offset_data + member.size > size:
                        return f"truncated (member {member.name} ends past the end of the file)"
                    clips += member.isfile() and member.name.endswith(".meta.json")
                end = tar.offset
            stream.seek(end)
            block = stream.read(_BLOCK)
    except tarfile.ReadError as error:
        reason = _one_line(error.args[0] if error.args else error)
        if reason == "unexpected end of data":
            return f"truncated ({reason})"
        return f"not a tar file ({reason})"
    except (OSError, tarfile.TarError) as error:
        return f"unreadable ({_one_line(getattr(error, 'strerror', None) or error)})"
    if len(block) < _BLOCK:
        return "truncated (no end-of-archive block)"
    if block.count(0) != _BLOCK:
        return f"corrupt tar header at byte {end}"
    if not clips:
        return "no clip samples (no .meta.json member)"
    return None


def _one_line(reason: object) -> str:
    return " ".join(str(reason).split())


class _BadData:
    """What the pipeline does with a shard that does not read or a clip that does not decode:
    raise :class:`BadShardError`, or (``skip``) warn in one line, count and go on.

    The counts live in a shared-memory tensor (any DataLoader start method passes it to the
    workers), one slot per process: the main one and each worker add to their own, no lock."""

    SLOTS = 257

    def __init__(self, skip: bool) -> None:
        self.skip = skip
        self.counts = torch.zeros(self.SLOTS, dtype=torch.int64).share_memory_()

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def __call__(self, where: str, reason: str) -> None:
        if not self.skip:
            raise BadShardError(f"{where}: {reason}")
        info = torch.utils.data.get_worker_info()
        self.counts[0 if info is None else 1 + info.id % (self.SLOTS - 1)] += 1
        print(f"warning: skipping {where}: {reason}", file=sys.stderr, flush=True)


class _TarSamples:
    """``webdataset.tarfile_to_samples`` with a shard's problems handled by ``bad_data``: each
    shard is checked (:func:`check_shard`, unless ``check`` is False: the caller has) before it
    is read, so a bad one yields no clip; a read error later drops the rest of that shard."""

    def __init__(self, bad_data: _BadData, check: bool = True) -> None:
        self.bad_data, self.check = bad_data, check

    def __call__(self, source: Iterable[dict[str, str]]) -> Iterator[dict[str, Any]]:
        for item in source:
            url = item["url"]
            problem = check_shard(url) if self.check else None
            if problem is not None:
                self.bad_data(f"clip shard {url}", problem)
                continue
            try:
                stream = gopen(url)
                try:
                    yield from group_by_keys(self._files(stream, url))
                finally:
                    stream.close()
            except (OSError, EOFError, ValueError, tarfile.TarError) as error:  # it reads badly
                reason = _one_line(error.args[0] if error.args else type(error).__name__)
                self.bad_data(f"clip shard {url}", f"read error ({reason})")

    @staticmethod
    def _files(stream: Any, url: str) -> Iterator[dict[str, Any]]:
        for file in tar_file_iterator(stream):
            file["__url__"] = url
            yield file


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
    def __init__(self, image_size, with_labels, with_frames, bad_data: _BadData):
        self.image_size, self.with_labels, self.with_frames = image_size, with_labels, with_frames
        self.bad_data = bad_data

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return decode_sample(sample, self.image_size, self.with_labels, self.with_frames)
        except CorruptSampleError as error:
            where = f"clip {sample.get('__key__')} in shard {sample.get('__url__')}"
            reason = _one_line(error).removeprefix(f"{sample.get('__key__')}: ")
            self.bad_data(where, reason)
            return None  # skipped (webdataset's map drops None)


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
        skip_bad_data: skip (warn, count) a shard that does not read and a clip that does
            not decode, instead of raising :class:`BadShardError` (module docstring).
        check_shards: check each shard (:func:`check_shard`) every time it is read; False when
            the caller checked them once (the trainer). The check reads every tar header: about
            0.1 s per 100-clip shard, 4.5 s per pass over the recipe's 48 shards, nearly half
            of an epoch of a head trained on cached latents.

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
        skip_bad_data: bool = False,
        check_shards: bool = True,
    ):
        if (rank is None) != (world_size is None):
            raise ValueError("give both rank and world_size, or neither")
        if rank is not None and not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.urls = list_shards(shards)
        self.epoch_state = {"epoch": 0}
        self._bad_data = _BadData(skip_bad_data)
        stages = [
            _ShardList(self.urls, shuffle_shards, seed, self.epoch_state),
            _SplitByNode(rank, world_size),
            wds.split_by_worker if split_by_worker else None,
            _TarSamples(self._bad_data, check_shards),
            _Shuffle(shuffle_buffer, seed, rank, self.epoch_state),
            wds.map(_Decode(image_size, with_labels, with_frames, self._bad_data)),
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

    @property
    def skipped_bad_data(self) -> int:
        """Shards and clips skipped so far (``skip_bad_data``; in every worker, every epoch)."""
        return self._bad_data.total

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
