"""``la-pose bag extract``: training clips from bags, written as clip shards.

Per bag, images are streamed in bag order and filtered:

- undecodable or undeserialisable messages are skipped and counted by reason;
- duplicates (a stamp not after the last kept one, or the same picture again) are skipped;
- static stretches are skipped: a frame that moved less than ``min_motion_m`` from the last
  kept one (when poses are known), or, without poses, whose 64x32 thumbnail differs from the
  last kept one's by less than ``static_threshold`` grey levels on average.

Kept frames are centre-cropped to the target aspect ratio and resized (the model's policy,
``la_pose_core.inference.preprocess``), intrinsics adjusted to match, and gathered into
*segments* of continuous driving (a gap over ``max_gap_s``, e.g. a removed stop, or
``segment_s`` of footage closes a segment; only a segment is held in memory). From each segment
``clips_per_minute`` clips per minute of footage are drawn with the core's
:class:`~la_pose_core.data.clips.ClipSampler` (frame rate jittered in 1-4 fps) and written in the
shard format of :mod:`la_pose_core.data.shards.format` to ``OUT/<bag key>-NNNNNN.tar``.

Poses for labelled (post-training) data come from a ``nav_msgs/Odometry`` or
``geometry_msgs/PoseStamped`` topic, or a ``/tf`` chain between two frames, matched to images by
nearest stamp (within ``pose_tolerance_s``; no interpolation). Vehicle poses are moved to the
camera through the camera extrinsics (``pose_frame="base"``, default) or used as camera poses.

Bookkeeping: every finished bag leaves ``OUT/manifest/<bag key>.json`` (its summary and the
bag's size and mtime); a re-run skips bags whose manifest matches. A bag that fails (cannot be
opened, or breaks mid-way) is reported, its partial shards are removed, and it gets no
manifest, so the next run retries it; the other bags are unaffected. Bags are processed in
parallel (``workers``) and can be split over cluster jobs (``shard_index``/``num_shards``:
job i takes every num_shards-th bag of the sorted list).
"""

import hashlib
import json
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from la_pose_core.atomic_write import atomic_write_text
from la_pose_core.data.clips import ClipSampler
from la_pose_core.data.kitti import CameraIntrinsics
from la_pose_core.data.shards import ClipShardWriter
from la_pose_core.geometry import BASE_FROM_OPTICAL, center_crop_box
from la_pose_core.paper import PAPER_CLIP_LEN, PAPER_FPS_RANGE, PAPER_FRAME_SIZE
from la_pose_ros.bags.reader import (
    IMAGE_TYPES,
    POSE_TYPES,
    choose_topic,
    first_camera_info,
    iter_images,
    open_bag,
    read_poses,
)
from la_pose_ros.bags.tf_chain import read_tf_chain

MANIFEST_DIR = "manifest"


@dataclass(frozen=True)
class ExtractOptions:
    out: str
    image_topic: str | None = None
    pose_topic: str | None = None
    tf_chain: tuple[str, str] | None = None  # (parent, child) frames
    pose_frame: str = "base"  # "base": vehicle poses (moved through the extrinsics); "camera"
    base_from_camera: tuple = tuple(BASE_FROM_OPTICAL.ravel())  # row-major 4x4
    size: tuple[int, int] = PAPER_FRAME_SIZE  # (W, H) of the stored frames
    clip_len: int = PAPER_CLIP_LEN
    min_fps: float = PAPER_FPS_RANGE[0]
    max_fps: float = PAPER_FPS_RANGE[1]
    clips_per_minute: float = 10.0
    segment_s: float = 30.0
    max_gap_s: float = 1.0
    min_motion_m: float = 0.05
    static_threshold: float = 1.5
    pose_tolerance_s: float = 0.05
    image_format: str = "png"  # as la-pose shards (la_pose_core.cli.defaults.IMAGE_FORMAT)
    jpeg_quality: int = 95
    seed: int = 0


@dataclass
class BagSummary:
    bag: str
    key: str
    status: str = "extracted"  # extracted | skipped (manifest) | failed
    error: str = ""
    frames_read: int = 0
    frames_kept: int = 0
    clips: int = 0
    shards: list = field(default_factory=list)
    skipped: dict = field(default_factory=dict)  # reason -> frames
    seconds: float = 0.0


def bag_key(path: Path) -> str:
    """Stable, file-name-safe key of a bag: its name plus a hash of its absolute path."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.name)
    return f"{stem}-{digest}"


def bag_fingerprint(path: Path) -> dict:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {
        "bytes": sum(p.stat().st_size for p in files),
        "mtime": max(p.stat().st_mtime for p in files),
    }


class Segment:
    """Kept frames of one stretch of continuous driving: a clip source for the sampler."""

    def __init__(self, name: str, intrinsics: CameraIntrinsics | None) -> None:
        self.name = name
        self.intrinsics = intrinsics
        self.frames: list[np.ndarray] = []
        self.stamp_list: list[float] = []
        self.poses: list[np.ndarray | None] = []

    @property
    def stamps(self) -> np.ndarray:
        return np.asarray(self.stamp_list)

    @property
    def world_from_cam(self) -> np.ndarray | None:
        if not self.poses or any(pose is None for pose in self.poses):
            return None
        return np.stack(self.poses)

    def image(self, index: int) -> np.ndarray:
        return self.frames[index]

    def duration(self) -> float:
        return self.stamp_list[-1] - self.stamp_list[0] if self.stamp_list else 0.0


def resize_to(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, tuple]:
    """Centre-crop to the target aspect and resize; returns the image and (top, left, scale)."""
    width, height = size
    top, left, crop_height, crop_width = center_crop_box(
        image.shape[0], image.shape[1], height, width
    )
    crop = image[top : top + crop_height, left : left + crop_width]
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA), (
        top,
        left,
        width / crop_width,
    )


def intrinsics_after(message, crop: tuple, size: tuple[int, int]) -> CameraIntrinsics | None:
    """Intrinsics of the resized image from a CameraInfo (None without one)."""
    if message is None or message.k[0] <= 0.0:
        return None
    top, left, scale = crop
    k = message.k
    return CameraIntrinsics(
        fx=k[0] * scale,
        fy=k[4] * scale,
        cx=(k[2] - left) * scale,
        cy=(k[5] - top) * scale,
        width=size[0],
        height=size[1],
    )


def thumbnail(image: np.ndarray) -> np.ndarray:
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (64, 32), interpolation=cv2.INTER_AREA).astype(np.float32)


def pose_lookup(reader, options: ExtractOptions):
    """``stamp -> world_from_cam or None`` from the configured pose source (None: unlabelled)."""
    if options.tf_chain is not None:
        stamps, poses = read_tf_chain(reader, *options.tf_chain)
    elif options.pose_topic is not None:
        stamps, poses = read_poses(
            reader, choose_topic(reader, options.pose_topic, POSE_TYPES, "pose")
        )
    else:
        return None
    if options.pose_frame == "base":
        base_from_camera = np.asarray(options.base_from_camera).reshape(4, 4)
        poses = poses @ base_from_camera
    order = np.argsort(stamps)
    stamps, poses = stamps[order], poses[order]

    def lookup(stamp: float) -> np.ndarray | None:
        index = int(np.searchsorted(stamps, stamp))
        candidates = [i for i in (index - 1, index) if 0 <= i < len(stamps)]
        nearest = min(candidates, key=lambda i: abs(stamps[i] - stamp))
        return poses[nearest] if abs(stamps[nearest] - stamp) <= options.pose_tolerance_s else None

    return lookup


class FrameFilter:
    """Which frames of a bag are kept, in bag order (see the module docstring); counts the rest."""

    def __init__(self, options: ExtractOptions, lookup, skipped: Counter) -> None:
        self.options = options
        self.lookup = lookup  # stamp -> (4, 4) world_from_cam or None; None: unlabelled bag
        self.skipped = skipped  # reason -> frames
        self.last_seen: float | None = None  # stamp of the last frame read
        self.last_thumb: np.ndarray | None = None  # (32, 64) thumbnail of the last kept frame
        self.last_pose: np.ndarray | None = None  # (4, 4) pose of the last kept frame

    def keep(self, frame) -> bool:
        """Whether to keep ``frame`` (then its pose is ``last_pose``); counts the reason if not."""
        reason, pose, thumb = self._skip_reason(frame)
        if reason is not None:
            self.skipped[reason] += 1
            return False
        self.last_thumb, self.last_pose = thumb, pose
        return True

    def _skip_reason(self, frame) -> tuple[str | None, np.ndarray | None, np.ndarray | None]:
        """Why the frame is skipped (None: kept), with its pose and thumbnail once known."""
        if frame.error is not None:
            return "undecodable", None, None
        if self.last_seen is not None and frame.stamp <= self.last_seen:
            return "duplicate_or_backwards_stamp", None, None
        self.last_seen = frame.stamp
        pose = self.lookup(frame.stamp) if self.lookup else None
        if self.lookup and pose is None:
            return "no_pose", None, None
        thumb = thumbnail(frame.image)
        if self.last_thumb is not None:
            if np.array_equal(thumb, self.last_thumb):
                return "duplicate_image", pose, thumb
            if self._is_static(pose, thumb):
                return "static", pose, thumb
        return None, pose, thumb

    def _is_static(self, pose: np.ndarray | None, thumb: np.ndarray) -> bool:
        """Moved less than ``min_motion_m`` (with poses), else a near-identical thumbnail."""
        if pose is not None and self.last_pose is not None:
            return np.linalg.norm(pose[:3, 3] - self.last_pose[:3, 3]) < self.options.min_motion_m
        return float(np.mean(np.abs(thumb - self.last_thumb))) < self.options.static_threshold


class SegmentBuffer:
    """The segment being gathered; a gap or a full segment draws its clips and starts a new one."""

    def __init__(
        self,
        key: str,
        camera_info,
        options: ExtractOptions,
        writer: ClipShardWriter,
        sampler: ClipSampler,
        rng: np.random.Generator,
        skipped: Counter,
    ) -> None:
        self.key = key  # the bag's key: the segments' name
        self.camera_info = camera_info  # the bag's first CameraInfo (None: no intrinsics)
        self.options = options
        self.writer = writer
        self.sampler = sampler
        self.rng = rng
        self.skipped = skipped  # reason -> frames
        self.segment: Segment | None = None
        self.clips = 0  # clips written so far

    def add(self, image: np.ndarray, stamp: float, pose: np.ndarray | None) -> None:
        """Resize a kept frame and append it, first closing the segment on a gap or when full."""
        resized, crop = resize_to(image, self.options.size)
        segment = self.segment
        gap = segment is not None and stamp - segment.stamp_list[-1] > self.options.max_gap_s
        if segment is None or gap or segment.duration() >= self.options.segment_s:
            self.flush()
            intrinsics = intrinsics_after(self.camera_info, crop, self.options.size)
            segment = self.segment = Segment(self.key, intrinsics)
        segment.frames.append(resized)
        segment.stamp_list.append(stamp)
        segment.poses.append(pose)

    def flush(self) -> None:
        """Draw the segment's clips; a segment too short for any counts as skipped."""
        segment, self.segment = self.segment, None
        if segment is None:
            return
        wanted = max(1, int(np.ceil(segment.duration() / 60.0 * self.options.clips_per_minute)))
        written = 0
        for _ in range(wanted):
            try:
                self.writer.write(self.sampler.sample(segment, self.rng))
            except ValueError:  # too short or sparse for a clip at these rates
                break
            written += 1
        self.clips += written
        if written == 0:
            self.skipped["short_segment"] += len(segment.frames)


def _extract_clips(
    path: Path,
    options: ExtractOptions,
    summary: BagSummary,
    skipped: Counter,
    sampler: ClipSampler,
    rng: np.random.Generator,
) -> None:
    """Stream the bag's images through the frame filter into segments, written as clip shards."""
    with (
        open_bag(path) as reader,
        ClipShardWriter(
            Path(options.out),
            max_clips_per_shard=200,
            image_format=options.image_format,
            jpeg_quality=options.jpeg_quality,
            prefix=summary.key,
        ) as writer,
    ):
        topic = choose_topic(reader, options.image_topic, IMAGE_TYPES, "image")
        frame_filter = FrameFilter(options, pose_lookup(reader, options), skipped)
        camera_info = first_camera_info(reader)
        segments = SegmentBuffer(summary.key, camera_info, options, writer, sampler, rng, skipped)
        for frame in iter_images(reader, topic):
            summary.frames_read += 1
            if not frame_filter.keep(frame):
                continue
            segments.add(frame.image, frame.stamp, frame_filter.last_pose)
            summary.frames_kept += 1
        segments.flush()
        summary.clips = segments.clips


def extract_bag(bag: str, options: ExtractOptions) -> BagSummary:
    """Extract one bag (see the module docstring); never raises for a bad bag."""
    path = Path(bag)
    summary = BagSummary(bag=str(path), key=bag_key(path))
    out = Path(options.out)
    started = time.perf_counter()
    skipped: Counter = Counter()
    rng = np.random.default_rng([options.seed, int(summary.key.rsplit("-", 1)[1], 16)])
    sampler = ClipSampler(options.clip_len, options.min_fps, options.max_fps)
    try:
        _extract_clips(path, options, summary, skipped, sampler, rng)
        summary.shards = [str(p) for p in sorted(out.glob(f"{summary.key}-*.tar"))]
    except Exception as error:  # a corrupt bag: report, clean up, leave no manifest
        summary.status, summary.error = "failed", f"{type(error).__name__}: {error}"
        for partial in out.glob(f"{summary.key}-*.tar"):
            partial.unlink()
        summary.shards, summary.clips = [], 0
    summary.skipped = dict(skipped)
    summary.seconds = time.perf_counter() - started
    if summary.status == "extracted":
        write_manifest(out, path, summary)
    return summary


def write_manifest(out: Path, bag: Path, summary: BagSummary) -> None:
    folder = out / MANIFEST_DIR
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"fingerprint": bag_fingerprint(bag), "summary": asdict(summary)}
    atomic_write_text(folder / f"{summary.key}.json", json.dumps(entry, indent=2))


def already_extracted(out: Path, bag: Path) -> bool:
    manifest = out / MANIFEST_DIR / f"{bag_key(bag)}.json"
    if not manifest.exists() or not bag.exists():
        return False
    return json.loads(manifest.read_text())["fingerprint"] == bag_fingerprint(bag)


def extract_bags(
    bags: list[str],
    options: ExtractOptions,
    workers: int = 1,
    shard_index: int = 0,
    num_shards: int = 1,
) -> dict:
    """Extract many bags; returns the run summary (totals, skipped by reason, failures)."""
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"need 0 <= shard_index < num_shards, got {shard_index}, {num_shards}")
    out = Path(options.out)
    mine = sorted(bags)[shard_index::num_shards]
    todo = [bag for bag in mine if not already_extracted(out, Path(bag))]
    started = time.perf_counter()
    results: list[BagSummary] = []
    progress = tqdm(total=len(todo), desc="extract", unit="bag", leave=False)
    if workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(extract_bag, todo, [options] * len(todo)):
                results.append(result)
                progress.update()
    else:
        for bag in todo:
            results.append(extract_bag(bag, options))
            progress.update()
    progress.close()
    elapsed = time.perf_counter() - started
    skipped: Counter = Counter()
    for result in results:
        skipped.update(result.skipped)
    frames_read = sum(r.frames_read for r in results)
    return {
        "bags": len(mine),
        "extracted": sum(r.status == "extracted" for r in results),
        "already_done": len(mine) - len(todo),
        "failed": {r.bag: r.error for r in results if r.status == "failed"},
        "frames_read": frames_read,
        "frames_kept": sum(r.frames_kept for r in results),
        "clips": sum(r.clips for r in results),
        "skipped": dict(skipped),
        "shards": sorted(s for r in results for s in r.shards),
        "seconds": elapsed,
        "frames_per_s": frames_read / elapsed if elapsed > 0 else 0.0,
    }
