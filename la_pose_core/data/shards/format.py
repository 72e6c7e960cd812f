"""Clip shards: WebDataset tar files of training clips, and a streaming reader for PyTorch.

Shard format, version 1
=======================

A shard is a POSIX tar file named ``{prefix}-{NNNNNN}.tar`` (default prefix ``clips``). It holds
one *sample* per clip: tar members named ``{key}.{field}`` with the clip's ``key`` (no dots,
no slashes; unique within a data set, e.g. ``kitti_00-00000042``). The members of a sample are
consecutive in the tar. Fields:

``frame_00.png`` ... ``frame_{T-1}.png`` (or ``.jpg``)
    The ``T`` frames in clip order (already time-reversed for reversed clips), index
    zero-padded to at least 2 digits. PNG (lossless, default) or JPEG; 8-bit greyscale or
    8-bit colour (channels in the files' usual order, i.e. decoded as RGB).
``meta.json``
    UTF-8 JSON object:

    ``format``           ``"la_pose.clip"``
    ``version``          ``1``
    ``key``              the sample key
    ``source``           name of the sequence (or bag) the clip came from
    ``num_frames``       ``T``
    ``image_format``     ``"png"`` or ``"jpeg"``
    ``image_size``       ``[W, H]`` pixels (every frame)
    ``channels``         1 (greyscale) or 3 (RGB)
    ``fps``              the drawn clip frame rate (Hz)
    ``stamps``           ``T`` playback times (s) from the first frame, increasing, first 0
    ``source_stamps``    ``T`` stamps of the frames in the source (s; decreasing if reversed)
    ``indices``          ``T`` frame indices in the source (or -1 where meaningless)
    ``reversed``         time-reversal augmentation applied (bool)
    ``intrinsics``       ``{"fx", "fy", "cx", "cy"}`` in pixels of ``image_size``, or null
    ``world_from_cam``   ``T`` row-major 4x4 camera-to-world poses (optical frame x right,
                         y down, z forward; metres), or null for unlabelled clips
    ``label_noise``      ``world_from_cam`` was corrupted on purpose (bool; injected label
                         noise, ``la_pose_core.data.label_noise``); a missing key (older
                         shards) reads as false

    Readers ignore unknown keys; a change that breaks readers bumps ``version``. Labels are not
    stored: the reader derives them from ``world_from_cam`` (``la_pose_core.geometry``), so
    they cannot disagree with the poses. Python's JSON writes floats with round-trip
    precision.

Reading
=======

:class:`ClipShardDataset` is a ``webdataset.DataPipeline`` (an ``IterableDataset``):
shard list (deterministically shuffled per epoch) -> split by node (DDP rank, from
``torch.distributed`` when initialised, or given) -> split by DataLoader worker -> tar samples
-> shuffle buffer -> decode -> optional left-right mirror -> optional virtual camera rotation
-> optional batching with :func:`collate_clips`. Splitting is by shard, so use at least
``world_size * num_workers`` shards, and a multiple of ``world_size`` shards of equal size so
that every rank gets as many clips (DDP needs equal step counts; or cap the epoch with
``.with_epoch(n)``).
:meth:`ClipShardDataset.set_epoch` reaches the workers of a ``DataLoader`` only when they are
re-created each epoch (the default, ``persistent_workers=False``). Each decoded sample is a dict:

``frames``                  ``(T, 3, H, W)`` float32 in [0, 1] at the target size. Crop policy
                            (the model's, ``la_pose_core.inference.preprocess``): centre-crop
                            the largest region with the target aspect ratio, then resize
                            (bilinear, antialiased); greyscale is replicated to 3 channels.
``dt``                      ``(T-1,)`` float32 seconds between frames
``stamps``                  ``(T,)`` float64 playback times
``fps``                     ``()`` float32 drawn rate
``reversed``                ``()`` bool
``label_noise``             ``()`` bool: the poses were deliberately corrupted (meta key
                            ``label_noise``; False when absent). Known outliers, to measure a
                            loss filter; batches get a ``(B,)`` bool mask.
``fov``                     ``()`` float32 vertical FoV (rad) of the model input after the
                            crop, ``2 atan(crop_H / (2 fy))``; only with intrinsics, and not
                            with ``with_labels=False`` (a label: clips with and without
                            intrinsics then batch together, as label-free stages mix them)
with poses (labels):
``relative_poses``          ``(T-1, 4, 4)`` float64 ``cam_t_from_cam_{t+1}`` (metres)
``translation_normalized``  ``(T-1, 3)`` float32 ``t / max(scale, 1 m)``
``quaternion``              ``(T-1, 4)`` float32 canonical ``(x, y, z, w)``
``scale``                   ``()`` float32 mean translation norm (m)
and ``key``, ``source`` (str). Batches stack every tensor on a new first axis and list the
strings.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import webdataset as wds

from la_pose_core.data.clips import Clip, ClipSampler, SequenceSource, source_name
from la_pose_core.data.label_noise import corrupt_clip_labels
from la_pose_core.data.mirror import RandomMirror
from la_pose_core.data.pose_labels import pose_labels
from la_pose_core.data.virtual_rotation import RandomVirtualRotation, VirtualRotation
from la_pose_core.geometry import (
    adjacent_relative_poses,
)

FORMAT_NAME = "la_pose.clip"
FORMAT_VERSION = 1
IMAGE_FORMATS = {"png": ".png", "jpeg": ".jpg"}
_FRAME_FIELD = re.compile(r"^frame_(\d+)\.(png|jpg|jpeg)$")
_BAD_KEY_CHARACTERS = re.compile(r"[^A-Za-z0-9_\-]")
# second word of the label-noise generator's seed: a stream apart from the clip sampler's
_LABEL_NOISE_STREAM = 0x1ABE1


def sanitize_key(text: str) -> str:
    """A sample key from any text: characters outside ``[A-Za-z0-9_-]`` become ``_``."""
    return _BAD_KEY_CHARACTERS.sub("_", text) or "clip"


# --------------------------------------------------------------------------------------------
# Writing


def encode_image(image: np.ndarray, image_format: str = "png", jpeg_quality: int = 95) -> bytes:
    """uint8 ``(H, W)`` or ``(H, W, 3)`` RGB image -> PNG or JPEG bytes."""
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image format must be one of {sorted(IMAGE_FORMATS)}")
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {image.dtype}")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if image_format == "jpeg" else []
    ok, encoded = cv2.imencode(IMAGE_FORMATS[image_format], image, params)
    if not ok:
        raise ValueError("image encoding failed")
    return encoded.tobytes()


def decode_image(data: bytes) -> np.ndarray:
    """PNG/JPEG bytes -> uint8 ``(H, W)`` greyscale or ``(H, W, 3)`` RGB."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("undecodable image in shard")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image


def clip_metadata(
    clip: Clip, key: str, image_format: str = "png", label_noise: bool = False
) -> dict[str, Any]:
    """The ``meta.json`` object of a clip (see the module docstring).

    ``label_noise`` flags a clip whose poses were corrupted on purpose (the caller corrupts
    them, :func:`la_pose_core.data.label_noise.corrupt_clip_labels`).
    """
    if clip.frames is None:
        raise ValueError("the clip has no frames (sample it with load_images=True)")
    frames = clip.frames
    intrinsics = None
    if clip.intrinsics is not None:
        intrinsics = {
            name: float(getattr(clip.intrinsics, name)) for name in ("fx", "fy", "cx", "cy")
        }
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "key": key,
        "source": clip.source,
        "num_frames": len(clip),
        "image_format": image_format,
        "image_size": [int(frames.shape[2]), int(frames.shape[1])],
        "channels": 1 if frames.ndim == 3 else int(frames.shape[3]),
        "fps": float(clip.fps),
        "stamps": [float(v) for v in clip.stamps],
        "source_stamps": [float(v) for v in clip.source_stamps],
        "indices": [int(v) for v in clip.indices],
        "reversed": bool(clip.reversed),
        "intrinsics": intrinsics,
        "world_from_cam": None if clip.world_from_cam is None else clip.world_from_cam.tolist(),
        "label_noise": bool(label_noise),
    }


def clip_to_sample(
    clip: Clip,
    key: str,
    image_format: str = "png",
    jpeg_quality: int = 95,
    label_noise: bool = False,
) -> dict[str, Any]:
    """A WebDataset sample dict (``__key__`` and encoded fields) of one clip."""
    if "." in key or "/" in key:
        raise ValueError(f"sample key {key!r} must not contain '.' or '/'")
    meta = clip_metadata(clip, key, image_format, label_noise)
    width = max(2, len(str(len(clip) - 1)))
    extension = IMAGE_FORMATS[image_format]
    sample: dict[str, Any] = {"__key__": key, "meta.json": json.dumps(meta).encode("utf-8")}
    for index, frame in enumerate(clip.frames):
        sample[f"frame_{index:0{width}d}{extension}"] = encode_image(
            frame, image_format, jpeg_quality
        )
    return sample


class ClipShardWriter:
    """Writes clips into numbered shards (``webdataset.ShardWriter``).

    Args:
        out_dir: created if missing.
        max_clips_per_shard: a new shard starts after this many clips.
        image_format: ``"png"`` (lossless) or ``"jpeg"``.
        jpeg_quality: 0-100.
        prefix: shard file names are ``{prefix}-{NNNNNN}.tar``.
        max_shard_bytes: also start a new shard past this size.
        start_shard: number of the first shard (to append to a data set).

    Use as a context manager; :attr:`shard_paths` lists the finished shards.
    """

    def __init__(
        self,
        out_dir: str | Path,
        max_clips_per_shard: int = 1000,
        image_format: str = "png",
        jpeg_quality: int = 95,
        prefix: str = "clips",
        max_shard_bytes: float = 3e9,
        start_shard: int = 0,
    ):
        if image_format not in IMAGE_FORMATS:
            raise ValueError(f"image format must be one of {sorted(IMAGE_FORMATS)}")
        if max_clips_per_shard < 1:
            raise ValueError("max_clips_per_shard must be at least 1")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.image_format = image_format
        self.jpeg_quality = jpeg_quality
        self.shard_paths: list[Path] = []
        self.count = 0
        self._writer = wds.ShardWriter(
            str(self.out_dir / f"{sanitize_key(prefix)}-%06d.tar"),
            maxcount=max_clips_per_shard,
            maxsize=max_shard_bytes,
            start_shard=start_shard,
            verbose=0,
            post=self._finished,
            mtime=0.0,  # reproducible tar files
        )

    def _finished(self, path: str) -> None:
        self.shard_paths.append(Path(path))

    def write(self, clip: Clip, key: str | None = None, label_noise: bool = False) -> str:
        """Add one clip; returns its key (default ``{source}-{count:08d}``).

        ``label_noise``: flag the clip's (already corrupted) poses as injected label noise.
        """
        if key is None:
            key = f"{sanitize_key(clip.source)}-{self.count:08d}"
        sample = clip_to_sample(clip, key, self.image_format, self.jpeg_quality, label_noise)
        self._writer.write(sample)
        self.count += 1
        return key

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> ClipShardWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


@dataclass
class ShardWriteResult:
    shard_paths: list[Path]
    num_clips: int
    num_reversed: int
    fps: list[float] = field(default_factory=list)
    num_label_noise: int = 0  # clips whose poses were corrupted


def write_clips_to_shards(
    source: SequenceSource,
    out_dir: str | Path,
    num_clips: int,
    rng: np.random.Generator,
    sampler: ClipSampler | None = None,
    max_clips_per_shard: int = 1000,
    image_format: str = "png",
    jpeg_quality: int = 95,
    prefix: str = "clips",
    progress: bool = False,
    label_noise: float = 0.0,
    label_noise_seed: int = 0,
) -> ShardWriteResult:
    """Sample ``num_clips`` clips of ``source`` and write them to shards in ``out_dir``.

    Injected label noise: ``round(label_noise * num_clips)`` clips, chosen at random, get
    grossly wrong poses (:mod:`la_pose_core.data.label_noise`) and ``"label_noise": true`` in
    their ``meta.json``. The choice and the corruption come from their own generator, seeded by
    ``label_noise_seed``, so the clips themselves (frames, stamps, rates) are the same as
    without noise. ``label_noise`` must be in [0, 1]; above 0 the source needs poses.
    """
    from tqdm import tqdm

    if not 0.0 <= label_noise <= 1.0:
        raise ValueError(f"label noise fraction must be in [0, 1], got {label_noise}")
    if label_noise > 0 and getattr(source, "world_from_cam", None) is None:
        raise ValueError("label noise needs poses, and the source has none")
    noise_rng = np.random.default_rng([label_noise_seed, _LABEL_NOISE_STREAM])
    num_noisy = round(label_noise * num_clips)
    noisy = noise_rng.permutation(num_clips) < num_noisy  # (num_clips,) bool

    sampler = sampler or ClipSampler()
    name = sanitize_key(source_name(source))
    result = ShardWriteResult([], 0, 0)
    with ClipShardWriter(
        out_dir, max_clips_per_shard, image_format, jpeg_quality, prefix=prefix
    ) as writer:
        clips = sampler.iter_clips(source, num_clips, rng)
        for index, clip in enumerate(
            tqdm(
                clips,
                total=num_clips,
                desc="clips",
                unit="clip",
                file=sys.stderr,
                disable=not progress,
            )
        ):
            if noisy[index]:
                clip = corrupt_clip_labels(clip, noise_rng)
            writer.write(clip, key=f"{name}-{index:08d}", label_noise=bool(noisy[index]))
            result.num_clips += 1
            result.num_label_noise += int(noisy[index])
            result.num_reversed += int(clip.reversed)
            result.fps.append(clip.fps)
    result.shard_paths = writer.shard_paths
    return result


# --------------------------------------------------------------------------------------------
# Reading


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


def frames_to_tensor(images: Sequence[np.ndarray], height: int, width: int) -> torch.Tensor:
    """uint8 frames of one size -> float ``(T, 3, height, width)`` in [0, 1].

    The inference preprocessing (``la_pose_core.inference.preprocess.preprocess_image``:
    centre crop to the target aspect ratio, bilinear antialiased resize, greyscale replicated),
    done for the whole clip at once: one crop stack, one resize, one output allocation.
    """
    import torch.nn.functional as F

    from la_pose_core.inference.preprocess import center_crop_box

    shapes = {image.shape for image in images}
    if len(shapes) != 1:
        raise ValueError(f"frames of different shapes in one clip: {sorted(shapes)}")
    image_height, image_width = images[0].shape[:2]
    top, left, crop_height, crop_width = center_crop_box(image_height, image_width, height, width)
    crops = np.stack([image[top : top + crop_height, left : left + crop_width] for image in images])
    if crops.ndim == 3:
        crops = crops[..., None]  # (T, h, w, 1)
    pixels = torch.from_numpy(crops).permute(0, 3, 1, 2)  # (T, C, h, w) uint8 view
    if (crop_height, crop_width) != (height, width):
        pixels = F.interpolate(
            pixels.float().div_(255.0), size=(height, width), mode="bilinear", antialias=True
        )
    out = torch.empty((len(images), 3, height, width), dtype=torch.float32)
    out.copy_(pixels.expand(-1, 3, -1, -1))
    if pixels.dtype == torch.uint8:
        out.div_(255.0)
    return out


def decode_sample(
    sample: dict[str, Any],
    image_size: tuple[int, int] | None = None,
    with_labels: bool | None = None,
    with_frames: bool = True,
) -> dict[str, Any]:
    """A raw WebDataset sample (bytes per field) -> the training dict (module docstring).

    Args:
        sample: ``{"__key__", "meta.json", "frame_00.png", ...}``.
        image_size: target ``(W, H)``; None keeps the stored size.
        with_labels: True requires poses (``ValueError`` otherwise), False drops them and the
            FoV, None includes them when present.
        with_frames: False leaves the images undecoded (no ``frames``): for a head trained on
            cached latent actions (:mod:`la_pose_core.training.latent_cache`).
    """
    from la_pose_core.inference.preprocess import input_vertical_fov

    meta = json.loads(sample["meta.json"])
    if meta.get("format") != FORMAT_NAME or int(meta.get("version", 0)) > FORMAT_VERSION:
        raise ValueError(
            f"{sample.get('__key__')}: not a version <= {FORMAT_VERSION} {FORMAT_NAME} sample"
        )
    frame_fields = sorted(
        ((int(m.group(1)), name) for name in sample if (m := _FRAME_FIELD.match(name))),
    )
    if len(frame_fields) != meta["num_frames"]:
        raise ValueError(
            f"{meta['key']}: {len(frame_fields)} frames stored, meta says {meta['num_frames']}"
        )
    stored_width, stored_height = meta["image_size"]
    width, height = image_size if image_size is not None else (stored_width, stored_height)
    stamps = np.asarray(meta["stamps"], np.float64)
    out: dict[str, Any] = {"key": meta["key"], "source": meta["source"]}
    if with_frames:
        images = [decode_image(sample[name]) for _, name in frame_fields]
        out["frames"] = frames_to_tensor(images, height, width)
    out |= {
        "dt": torch.as_tensor(np.diff(stamps), dtype=torch.float32),
        "stamps": torch.as_tensor(stamps),
        "fps": torch.tensor(float(meta["fps"]), dtype=torch.float32),
        "reversed": torch.tensor(bool(meta["reversed"])),
        "label_noise": torch.tensor(bool(meta.get("label_noise", False))),
    }
    if meta.get("intrinsics") is not None and with_labels is not False:
        fov = input_vertical_fov(
            meta["intrinsics"]["fy"], stored_height, stored_width, height, width
        )
        out["fov"] = torch.tensor(fov, dtype=torch.float32)
    poses = meta.get("world_from_cam")
    if with_labels and poses is None:
        raise ValueError(f"{meta['key']}: no poses in this clip (with_labels=True)")
    if poses is not None and with_labels is not False:
        out.update(pose_labels(adjacent_relative_poses(np.asarray(poses, np.float64))))
    return out


def collate_clips(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack decoded samples into a batch: tensors on a new axis 0, strings into lists.

    Every sample must have the same fields (do not mix labelled and unlabelled clips in one
    batch; use ``with_labels=False`` to drop labels).
    """
    if not samples:
        raise ValueError("empty batch")
    names = set(samples[0])
    for sample in samples[1:]:
        if set(sample) != names:
            raise ValueError(
                f"samples with different fields in one batch: {sorted(names ^ set(sample))}"
            )
    batch: dict[str, Any] = {}
    for name in samples[0]:
        values = [sample[name] for sample in samples]
        batch[name] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return batch


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
    """Streaming reader of clip shards (pipeline and sample layout: module docstring).

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
