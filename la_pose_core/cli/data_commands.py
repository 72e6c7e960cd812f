"""``la-pose synth`` (render a synthetic drive) and ``la-pose shards`` (clips -> tar shards).

The clips must fit the model config they will train: ``pretrain`` and ``posttrain`` take only
clips of the config's ``clip_len`` frames (frames of any size are cropped and resized to the
config's when read). ``shards --config NAME`` cuts clips for a preset (its clip length and
frame size); without it, ``--clip-len`` and ``--size`` default to the paper config's 16 frames
at 960x448. ``la-pose train tokenizer``, which takes clips of any length, warns in one line
when its shards' clips will not fit its config's later stages (:func:`clip_fit_warning`).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import numpy as np

from la_pose_core.cli.common import fail, print_json
from la_pose_core.cli.defaults import (
    CLIP_LEN,
    FRAME_SIZE,
    IMAGE_FORMAT,
    IMAGE_FORMATS,
    JPEG_QUALITY,
    MAX_FPS,
    MIN_FPS,
    PRESET_CLIPS,
    PRESET_NAMES,
)

if TYPE_CHECKING:
    from la_pose_core.training.options import TrainOptions


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``synth`` and ``shards`` to the ``la-pose`` subcommands."""
    _register_synth(subparsers)
    _register_shards(subparsers)


def _register_synth(subparsers: argparse._SubParsersAction) -> None:
    """``la-pose synth``: the drive (frames, seed, motion) and how it is rendered."""
    synth = subparsers.add_parser(
        "synth",
        help="render a synthetic driving sequence into a KITTI-layout folder",
        description="Procedural streets rendered by ray casting, with exact camera poses, "
        "stamps and intrinsics (image_0/*.png, times.txt, calib.txt, poses.txt). "
        "Deterministic by seed. Prints a JSON summary; progress on stderr.",
    )
    synth.add_argument("--out", required=True, help="output folder")
    synth.add_argument("--frames", type=int, required=True, help="number of frames")
    synth.add_argument("--seed", type=int, default=0, help="world and drive seed (default 0)")
    synth.add_argument("--size", default=FRAME_SIZE, help=f"WxH pixels (default {FRAME_SIZE})")
    synth.add_argument("--fps", type=float, default=10.0, help="frame rate (default 10)")
    synth.add_argument(
        "--fov-deg", type=float, default=None, help="vertical field of view (default: by seed)"
    )
    synth.add_argument(
        "--stop-prob",
        type=float,
        default=None,
        help="probability that the car stops after each cruise (default 0.25)",
    )
    synth.add_argument(
        "--reverse-prob",
        type=float,
        default=0.0,
        help="probability that a stop is followed by reversing (default 0)",
    )
    synth.add_argument("--grayscale", action="store_true", help="greyscale frames (like KITTI)")
    synth.add_argument("--overwrite", action="store_true", help="replace existing frames")
    synth.add_argument(
        "--workers", type=int, default=1, help="rendering processes (default 1; same output)"
    )
    synth.set_defaults(run=run_synth)


def _register_shards(subparsers: argparse._SubParsersAction) -> None:
    """``la-pose shards``: where the clips come from, how they are sampled and written."""
    shards = subparsers.add_parser(
        "shards",
        help="sample training clips of a sequence into WebDataset tar shards",
        description="Clips of --clip-len frames at a frame rate drawn in [--min-fps, "
        "--max-fps], by timestamp, optionally time-reversed; written as PNG/JPEG frames plus "
        "meta.json (format: la_pose_core.data.shards). Pretraining and post-training need "
        "clips of their config's clip_len: --config NAME cuts them for a preset. Prints a "
        "JSON summary.",
    )
    _add_shard_source_arguments(shards)
    shards.add_argument("--out", required=True, help="output folder for the .tar shards")
    shards.add_argument("--clips", type=int, required=True, help="number of clips")
    _add_clip_sampling_arguments(shards)
    _add_shard_format_arguments(shards)
    shards.set_defaults(run=run_shards)


def _add_shard_source_arguments(shards: argparse.ArgumentParser) -> None:
    """The sequence the clips are drawn from: a KITTI-layout folder or a synthetic drive."""
    source = shards.add_mutually_exclusive_group(required=True)
    source.add_argument("--sequence", help="KITTI-layout sequence folder")
    source.add_argument(
        "--synthetic",
        type=int,
        metavar="SEED",
        help="draw the clips from the synthetic drive of this seed (rendered on demand)",
    )
    shards.add_argument("--camera", default="image_0", help="image folder (default image_0)")
    shards.add_argument(
        "--frames",
        type=int,
        default=None,
        help="--synthetic only: length of the drive in frames at 10 fps (default 600)",
    )
    shards.add_argument(
        "--size",
        default=None,
        metavar="WxH",
        help="stored frame size: --synthetic renders at it, a --sequence's frames are "
        "centre-cropped to its aspect and resized, intrinsics following (default: --config's, "
        f"else {FRAME_SIZE} for --synthetic and the sequence's own size)",
    )
    shards.add_argument(
        "--config",
        choices=PRESET_NAMES,
        help="cut clips for this model preset: its clip_len and frame size become the "
        "defaults of --clip-len and --size ("
        + ", ".join(
            f"{name} {c[0]} frames at {c[1][0]}x{c[1][1]}" for name, c in PRESET_CLIPS.items()
        )
        + ")",
    )


def _add_clip_sampling_arguments(shards: argparse.ArgumentParser) -> None:
    """How clips are drawn: seed, length, frame rate, time reversal, label noise."""
    shards.add_argument(
        "--seed", type=int, default=0, help="sampling and label-noise seed (default 0)"
    )
    shards.add_argument(
        "--clip-len",
        type=int,
        default=None,
        help=f"frames per clip (default: --config's clip_len, else {CLIP_LEN})",
    )
    shards.add_argument(
        "--min-fps", type=float, default=MIN_FPS, help=f"lowest clip rate ({MIN_FPS:g})"
    )
    shards.add_argument(
        "--max-fps", type=float, default=MAX_FPS, help=f"highest clip rate ({MAX_FPS:g})"
    )
    shards.add_argument(
        "--fps-sampling",
        choices=("uniform", "exponential"),
        default="uniform",
        help="rate distribution: uniform in fps, or exponential decay in frame interval",
    )
    shards.add_argument(
        "--reverse-prob", type=float, default=0.0, help="time-reversal probability (default 0)"
    )
    shards.add_argument(
        "--label-noise",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="corrupt the poses of this fraction of the clips, chosen by --seed, and flag them "
        "(label_noise in meta.json; default 0). Needs a source with poses",
    )


def _add_shard_format_arguments(shards: argparse.ArgumentParser) -> None:
    """How the shards are written: frame encoding, clips per shard, file names."""
    shards.add_argument(
        "--image-format",
        choices=IMAGE_FORMATS,
        default=IMAGE_FORMAT,
        help=f"frame encoding (default {IMAGE_FORMAT}: lossless, as bag extract; jpeg for "
        "bulky real footage)",
    )
    shards.add_argument(
        "--jpeg-quality",
        type=int,
        default=JPEG_QUALITY,
        help=f"JPEG quality (default {JPEG_QUALITY})",
    )
    shards.add_argument(
        "--clips-per-shard", type=int, default=1000, help="clips per shard (default 1000)"
    )
    shards.add_argument("--prefix", default="clips", help="shard name prefix (default clips)")


def run_synth(args: argparse.Namespace) -> int:
    from la_pose_core.data.synthetic import TrajectoryConfig, parse_size, write_synthetic_sequence

    if args.frames < 1:
        fail(f"--frames must be at least 1, got {args.frames}")
    if args.fps <= 0:
        fail(f"--fps must be positive, got {args.fps}")
    if args.fov_deg is not None and not 1.0 < args.fov_deg < 179.0:
        fail(f"--fov-deg must be in (1, 179), got {args.fov_deg}")
    size = parse_size(args.size)
    drive = {"reverse_probability": args.reverse_prob}
    if args.stop_prob is not None:
        drive["stop_probability"] = args.stop_prob
    try:
        config = TrajectoryConfig(**drive)
    except ValueError as error:
        fail(str(error))
    try:
        sequence = write_synthetic_sequence(
            args.out,
            args.frames,
            args.seed,
            size=size,
            fps=args.fps,
            progress=True,
            overwrite=args.overwrite,
            vertical_fov_deg=args.fov_deg,
            trajectory_config=config,
            grayscale=args.grayscale,
            workers=max(1, args.workers),
        )
    except FileExistsError as error:
        fail(f"{error}")
    speed = sequence.trajectory.speed
    interval = 1.0 / args.fps
    print_json(
        {
            "out": str(args.out),
            "frames": len(sequence),
            "seed": args.seed,
            "size": list(size),
            "fps": args.fps,
            "vertical_fov_deg": sequence.vertical_fov_deg,
            "distance_m": float(np.abs(np.diff(sequence.trajectory.distance)).sum()),
            "standing_s": float((speed == 0).sum() * interval),
            "reversing_s": float((speed < 0).sum() * interval),
        }
    )
    return 0


class ResizedSequence:
    """A sequence whose frames are centre-cropped to the aspect of ``size`` and resized to it
    (the model's crop, :func:`la_pose_core.geometry.center_crop_box`; area interpolation, as
    ``bag extract``), with the intrinsics moved to match; poses and stamps unchanged."""

    def __init__(self, source: Any, size: tuple[int, int]):
        from la_pose_core.data.clips import source_name

        self.source, self.size = source, size
        self.stamps = source.stamps
        self.world_from_cam = getattr(source, "world_from_cam", None)
        self.name = source_name(source)
        self.intrinsics = None
        intrinsics = getattr(source, "intrinsics", None)
        if intrinsics is not None:
            self.intrinsics = self._resized_intrinsics(intrinsics)

    def __len__(self) -> int:
        return len(self.stamps)

    def _box(self, height: int, width: int) -> tuple[int, int, int, int]:
        from la_pose_core.geometry import center_crop_box

        return center_crop_box(height, width, self.size[1], self.size[0])

    def _resized_intrinsics(self, intrinsics):
        from la_pose_core.data.kitti import CameraIntrinsics

        top, left, crop_height, crop_width = self._box(intrinsics.height, intrinsics.width)
        scale_x, scale_y = self.size[0] / crop_width, self.size[1] / crop_height
        return CameraIntrinsics(
            fx=intrinsics.fx * scale_x,
            fy=intrinsics.fy * scale_y,
            cx=(intrinsics.cx - left) * scale_x,
            cy=(intrinsics.cy - top) * scale_y,
            width=self.size[0],
            height=self.size[1],
        )

    def image(self, index: int) -> np.ndarray:
        import cv2

        image = np.asarray(self.source.image(index))
        if image.shape[1] == self.size[0] and image.shape[0] == self.size[1]:
            return image
        top, left, crop_height, crop_width = self._box(image.shape[0], image.shape[1])
        crop = image[top : top + crop_height, left : left + crop_width]
        return cv2.resize(crop, self.size, interpolation=cv2.INTER_AREA)


def _recipe(args: argparse.Namespace) -> tuple[int, tuple[int, int] | None]:
    """``--clip-len`` and ``--size`` as given, else ``--config``'s, else the defaults (for a
    ``--sequence`` no size: its own)."""
    from la_pose_core.data.synthetic import parse_size

    preset = PRESET_CLIPS.get(args.config) if args.config else None
    clip_len = args.clip_len if args.clip_len is not None else (preset or (CLIP_LEN,))[0]
    if args.size is not None:
        try:
            size = parse_size(args.size)
        except ValueError as error:
            fail(f"--size: {error}")
    elif preset is not None:
        size = preset[1]
    else:
        size = parse_size(FRAME_SIZE) if args.synthetic is not None else None
    return clip_len, size


def clip_fit_warning(options: TrainOptions) -> str | None:
    """Why the clips of a tokenizer run's shards will not serve its config's later stages
    (their clip length is not the config's ``clip_len``), as one line naming the re-cut
    command; None when they fit, for other stages (they refuse such clips themselves), or
    when the shards' first clip cannot be read (the trainer reports that)."""
    if options.stage != "tokenizer" or options.config is None:
        return None
    from la_pose_core.data.shards import read_shard_metadata
    from la_pose_core.training.data import resolve_shards

    try:
        meta = next(iter(read_shard_metadata(resolve_shards(options.data)[:1])), None)
        frames, (width, height) = int(meta["num_frames"]), meta["image_size"]
    except Exception:  # any unreadable first clip: no verdict here (the trainer reports it)
        return None
    config = options.config
    if frames == config.clip_len:
        return None
    wanted = f"{config.clip_len} frames at {config.image_width}x{config.image_height}"
    recut = f"--clip-len {config.clip_len} --size {config.image_width}x{config.image_height}"
    if config.name in PRESET_CLIPS:
        recut = f"--config {config.name} (or {recut})"
    return (
        f"the shards hold {frames}-frame clips of {width}x{height}, the {config.name!r} config "
        f"needs {wanted}: this tokenizer trains on them, but pretraining and post-training "
        f"with its config will refuse them; re-cut them with la-pose shards or la-pose bag "
        f"extract {recut}"
    )


def run_shards(args: argparse.Namespace) -> int:
    from la_pose_core.data.clips import ClipSampler
    from la_pose_core.data.kitti import KittiSequence
    from la_pose_core.data.shards import write_clips_to_shards
    from la_pose_core.data.synthetic import SyntheticSequence

    if args.sequence is not None and args.frames is not None:
        fail("--frames is the length of a --synthetic drive; a --sequence uses all its frames")
    clip_len, size = _recipe(args)
    if args.clips < 1:
        fail(f"--clips must be at least 1, got {args.clips}")
    if args.clips_per_shard < 1:
        fail(f"--clips-per-shard must be at least 1, got {args.clips_per_shard}")
    if not 0.0 <= args.label_noise <= 1.0:
        fail(f"--label-noise must be a fraction in [0, 1], got {args.label_noise}")
    try:
        sampler = ClipSampler(
            clip_len=clip_len,
            min_fps=args.min_fps,
            max_fps=args.max_fps,
            fps_sampling=args.fps_sampling,
            reverse_prob=args.reverse_prob,
        )
    except ValueError as error:
        fail(str(error))
    if args.synthetic is not None:
        frames = 600 if args.frames is None else args.frames
        if frames < clip_len:
            fail(f"--frames {frames} is shorter than a clip (--clip-len {clip_len})")
        sequence = SyntheticSequence(frames, args.synthetic, size=size)
    else:
        sequence = KittiSequence(args.sequence, camera=args.camera)
        if size is not None:
            sequence = ResizedSequence(sequence, size)
    if args.label_noise > 0 and sequence.world_from_cam is None:
        fail("--label-noise needs poses, and the source has none (no poses.txt)")
    result = write_clips_to_shards(
        sequence,
        args.out,
        args.clips,
        np.random.default_rng(args.seed),
        sampler,
        max_clips_per_shard=args.clips_per_shard,
        image_format=args.image_format,
        jpeg_quality=args.jpeg_quality,
        prefix=args.prefix,
        progress=True,
        label_noise=args.label_noise,
        label_noise_seed=args.seed,
    )
    fps = np.asarray(result.fps)
    print_json(
        {
            "out": str(args.out),
            "shards": [str(path) for path in result.shard_paths],
            "clips": result.num_clips,
            "clip_len": clip_len,
            "reversed": result.num_reversed,
            "labelled": sequence.world_from_cam is not None,
            "label_noise": result.num_label_noise,
            "fps": {"min": float(fps.min()), "mean": float(fps.mean()), "max": float(fps.max())},
        }
    )
    return 0
