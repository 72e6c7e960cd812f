"""Writing clip shards: :class:`ClipShardWriter`, and :func:`write_clips_to_shards`.

The writer numbers the shards and encodes each clip as one sample (format: :mod:`.format`);
:func:`write_clips_to_shards` samples the clips of a source, with optional injected label noise.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import webdataset as wds

from la_pose_core.data.clips import Clip, ClipSampler, SequenceSource, source_name
from la_pose_core.data.label_noise import corrupt_clip_labels
from la_pose_core.data.shards.format import IMAGE_FORMATS, clip_to_sample, sanitize_key

# second word of the label-noise generator's seed: a stream apart from the clip sampler's
_LABEL_NOISE_STREAM = 0x1ABE1


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
