"""``la-pose synth`` (render a synthetic drive) and ``la-pose shards`` (clips -> tar shards)."""

from __future__ import annotations

import argparse

import numpy as np

from la_pose_core.cli.common import fail, print_json


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
    synth.add_argument("--size", default="960x448", help="WxH pixels (default 960x448)")
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
        "meta.json (format: la_pose_core.data.shards). Prints a JSON summary.",
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
        default=600,
        help="--synthetic: length of the drive in frames at 10 fps (default 600)",
    )
    shards.add_argument(
        "--size", default="960x448", help="--synthetic: WxH pixels (default 960x448)"
    )


def _add_clip_sampling_arguments(shards: argparse.ArgumentParser) -> None:
    """How clips are drawn: seed, length, frame rate, time reversal, label noise."""
    shards.add_argument(
        "--seed", type=int, default=0, help="sampling and label-noise seed (default 0)"
    )
    shards.add_argument("--clip-len", type=int, default=16, help="frames per clip (default 16)")
    shards.add_argument("--min-fps", type=float, default=1.0, help="lowest clip rate (1)")
    shards.add_argument("--max-fps", type=float, default=4.0, help="highest clip rate (4)")
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
        "--image-format", choices=("png", "jpeg"), default="png", help="frame encoding"
    )
    shards.add_argument("--jpeg-quality", type=int, default=95, help="JPEG quality (95)")
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


def run_shards(args: argparse.Namespace) -> int:
    from la_pose_core.data.clips import ClipSampler
    from la_pose_core.data.kitti import KittiSequence
    from la_pose_core.data.shards import write_clips_to_shards
    from la_pose_core.data.synthetic import SyntheticSequence, parse_size

    if args.clips < 1:
        fail(f"--clips must be at least 1, got {args.clips}")
    if args.clips_per_shard < 1:
        fail(f"--clips-per-shard must be at least 1, got {args.clips_per_shard}")
    if not 0.0 <= args.label_noise <= 1.0:
        fail(f"--label-noise must be a fraction in [0, 1], got {args.label_noise}")
    try:
        sampler = ClipSampler(
            clip_len=args.clip_len,
            min_fps=args.min_fps,
            max_fps=args.max_fps,
            fps_sampling=args.fps_sampling,
            reverse_prob=args.reverse_prob,
        )
    except ValueError as error:
        fail(str(error))
    if args.synthetic is not None:
        if args.frames < args.clip_len:
            fail(f"--frames {args.frames} is shorter than a clip (--clip-len {args.clip_len})")
        sequence = SyntheticSequence(args.frames, args.synthetic, size=parse_size(args.size))
    else:
        sequence = KittiSequence(args.sequence, camera=args.camera)
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
            "reversed": result.num_reversed,
            "labelled": sequence.world_from_cam is not None,
            "label_noise": result.num_label_noise,
            "fps": {"min": float(fps.min()), "mean": float(fps.mean()), "max": float(fps.max())},
        }
    )
    return 0
