"""``la-pose bag ...``: the bag tools on the command line (a plugin of the core's ``la-pose``).

Registered through the ``la_pose.commands`` entry point group (setup.py), so ``la_pose_core``
stays free of ROS: without rclpy installed, ``la-pose`` simply has no ``bag`` command.

Building the parsers imports neither rosbags nor torch (``la-pose --help`` loads this module):
the bag modules are imported when a command runs. Conventions as the core commands'
(:mod:`la_pose_core.cli.defaults`): ``--device`` auto/cpu/cuda/cuda:N, inference precision
fp32, shard frames PNG.
"""

import argparse

from la_pose_core.cli.common import (
    add_inference_device_arguments,
    add_runtime_arguments,
    check_device,
    fail,
    print_json,
)
from la_pose_core.cli.defaults import (
    CLIP_LEN,
    EVAL_CLIP_LEN,
    FRAME_SIZE,
    IMAGE_FORMAT,
    IMAGE_FORMATS,
    JPEG_QUALITY,
    MAX_FPS,
    MIN_FPS,
    PRESET_CLIPS,
    PRESET_NAMES,
    REFINE_RIDGE,
)
from la_pose_ros.bags.defaults import (
    BAG_FORMATS,
    DEFAULT_MAX_RATE_HZ,
    DEFAULT_TIME_OFFSET_S,
    OUTPUT_RATE_MODES,
)

OVERWRITE_HELP = "replace an existing output (by default it is refused)"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``bag`` (extract, from-sequence, replay, play) to the ``la-pose`` subcommands."""
    bag = subparsers.add_parser("bag", help="rosbag tools: extract, replay, from-sequence, play")
    commands = bag.add_subparsers(dest="bag_command", required=True, metavar="BAG_COMMAND")
    _register_extract(commands)
    _register_from_sequence(commands)
    _register_replay(commands)
    _register_play(commands)


def _register_extract(commands: argparse._SubParsersAction) -> None:
    """``la-pose bag extract``: bags in, topics and poses, clip sampling, shards out, jobs."""
    extract = commands.add_parser("extract", help="training clips (shards) from bags")
    extract.add_argument("bags", nargs="+", help="bags (ROS 1 .bag, rosbag2 folders, .mcap, .db3)")
    extract.add_argument("--out", required=True, help="shard folder (with manifest/)")
    extract.add_argument("--image-topic", help="default: each bag's most frequent image topic")
    poses = extract.add_mutually_exclusive_group()
    poses.add_argument("--pose-topic", help="Odometry/PoseStamped topic: labelled clips")
    poses.add_argument("--tf-chain", nargs=2, metavar=("PARENT", "CHILD"), help="poses from /tf")
    extract.add_argument(
        "--pose-frame",
        choices=("base", "camera"),
        default="base",
        help="poses are of the vehicle (moved through the default forward-looking camera "
        "extrinsics) or of the camera optical frame",
    )
    extract.add_argument(
        "--config",
        choices=PRESET_NAMES,
        help="cut clips for this model preset: its clip_len and frame size become the "
        "defaults of --clip-len and --size (pretraining and post-training need clips of their "
        "config's clip_len)",
    )
    extract.add_argument(
        "--size",
        metavar="WxH",
        help=f"stored frame size, centre crop + resize (default: --config's, else {FRAME_SIZE})",
    )
    extract.add_argument(
        "--clip-len",
        type=int,
        help=f"frames per clip (default: --config's clip_len, else {CLIP_LEN})",
    )
    extract.add_argument(
        "--min-fps",
        type=float,
        default=MIN_FPS,
        help=f"lowest clip frame rate, Hz (default {MIN_FPS:g})",
    )
    extract.add_argument(
        "--max-fps",
        type=float,
        default=MAX_FPS,
        help=f"highest clip frame rate, Hz (default {MAX_FPS:g})",
    )
    extract.add_argument(
        "--clips-per-minute",
        type=float,
        default=10.0,
        help="clips drawn per minute of kept footage (default 10)",
    )
    extract.add_argument(
        "--image-format",
        choices=IMAGE_FORMATS,
        default=IMAGE_FORMAT,
        help=f"frame encoding (default {IMAGE_FORMAT}: lossless, as la-pose shards; jpeg is "
        "several times smaller for bulky footage)",
    )
    extract.add_argument(
        "--jpeg-quality",
        type=int,
        default=JPEG_QUALITY,
        help=f"JPEG quality (default {JPEG_QUALITY})",
    )
    extract.add_argument(
        "--workers", type=int, default=1, help="bags processed in parallel (default 1)"
    )
    extract.add_argument(
        "--shard-index",
        type=int,
        default=0,
        help="this job's index in a job array: it takes every --num-shards-th bag (default 0)",
    )
    extract.add_argument(
        "--num-shards", type=int, default=1, help="number of jobs in the array (default 1)"
    )
    extract.add_argument("--seed", type=int, default=0, help="clip sampling seed (default 0)")
    extract.set_defaults(run=run_extract)


def _register_from_sequence(commands: argparse._SubParsersAction) -> None:
    """``la-pose bag from-sequence``: a KITTI-layout folder written as a bag."""
    convert = commands.add_parser(
        "from-sequence",
        help="write a bag from a KITTI-layout folder (images, camera_info, ground truth)",
    )
    convert.add_argument("sequence", help="KITTI-layout folder")
    convert.add_argument(
        "--out",
        required=True,
        help="output bag (folder for mcap/sqlite3, .bag file for ros1: added when missing)",
    )
    convert.add_argument(
        "--format", choices=BAG_FORMATS, default="mcap", help="bag storage format (default mcap)"
    )
    convert.add_argument(
        "--compressed", action="store_true", help="CompressedImage (PNG) instead of Image"
    )
    convert.add_argument(
        "--time-offset",
        type=float,
        default=DEFAULT_TIME_OFFSET_S,
        metavar="SECONDS",
        help=f"seconds added to every stamp of times.txt (default {DEFAULT_TIME_OFFSET_S:.0f}, "
        "2023-11-14 UTC: tf2 and Foxglove treat stamps near 0 (1970) as invalid)",
    )
    convert.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    convert.set_defaults(run=run_from_sequence)


def _register_replay(commands: argparse._SubParsersAction) -> None:
    """``la-pose bag replay``: model, topics, device, refinement, metrics clip length."""
    replay = commands.add_parser(
        "replay", help="run a bag through the node's pipeline, write an mcap bag"
    )
    replay.add_argument("bag", help="input bag (ROS 1 .bag, rosbag2 folder, .mcap or .db3)")
    replay.add_argument(
        "--checkpoint", required=True, help="model file with a pose estimator (post-training)"
    )
    replay.add_argument("--out", required=True, help="output mcap bag folder")
    replay.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    replay.add_argument("--image-topic", help="default: the bag's most frequent image topic")
    replay.add_argument(
        "--gt-topic",
        help="Odometry/PoseStamped ground truth: also write metrics.json and trajectory.png",
    )
    add_inference_device_arguments(replay)
    add_runtime_arguments(replay)
    replay.add_argument(
        "--refine",
        metavar="PATH",
        help="test-time translation refinement with this pose encoder and motion bank "
        "(la-pose train pose-encoder, trained against --checkpoint)",
    )
    replay.add_argument(
        "--refine-k",
        type=int,
        default=3,
        metavar="K",
        help="bank motions combined per pair (default 3)",
    )
    replay.add_argument(
        "--refine-ridge",
        type=float,
        default=REFINE_RIDGE,
        metavar="R",
        help=f"relative regulariser of the affine weights (as refinement.ridge; default "
        f"{REFINE_RIDGE:g})",
    )
    replay.add_argument(
        "--output-rate",
        choices=OUTPUT_RATE_MODES,
        default="model",
        help="model: an output per model frame (default); camera: one per camera frame "
        "(interleaved streams, as output_rate.mode)",
    )
    replay.add_argument(
        "--max-rate-hz",
        type=float,
        default=DEFAULT_MAX_RATE_HZ,
        metavar="HZ",
        help=f"camera: frames used at most this often (default {DEFAULT_MAX_RATE_HZ:g})",
    )
    replay.add_argument(
        "--clip-len",
        type=int,
        default=EVAL_CLIP_LEN,
        help=f"frames per evaluation clip of the metrics (default {EVAL_CLIP_LEN}, as evaluate)",
    )
    replay.set_defaults(run=run_replay)


def _register_play(commands: argparse._SubParsersAction) -> None:
    """``la-pose bag play``: publish a bag live at recorded timing."""
    play = commands.add_parser("play", help="publish a bag live with rclpy at recorded timing")
    play.add_argument("bag", help="bag to publish (ROS 1 .bag, rosbag2 folder, .mcap or .db3)")
    play.add_argument(
        "--rate",
        type=float,
        default=1.0,
        help="playback speed factor: 2 plays twice as fast as recorded (default 1)",
    )
    play.add_argument(
        "--loop", action="store_true", help="start again from the beginning at the end"
    )
    play.add_argument("--topics", nargs="+", help="only these topics")
    play.add_argument(
        "--wait-for-subscribers",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long until the bag's image topics have a subscriber, "
        "then until it acknowledged their first message (a reliable subscriber misses nothing)",
    )
    play.set_defaults(run=run_play)


def run_extract(args: argparse.Namespace) -> int:
    from la_pose_core.data.synthetic.sequence import parse_size
    from la_pose_ros.bags.extract import ExtractOptions, extract_bags

    preset = PRESET_CLIPS.get(args.config) if args.config else None
    clip_len = args.clip_len if args.clip_len is not None else (preset or (CLIP_LEN,))[0]
    if args.size is not None:
        try:
            width, height = parse_size(args.size)
        except ValueError as error:
            fail(f"--size: {error}")
    else:
        width, height = preset[1] if preset is not None else parse_size(FRAME_SIZE)
    options = ExtractOptions(
        out=args.out,
        image_topic=args.image_topic,
        pose_topic=args.pose_topic,
        tf_chain=tuple(args.tf_chain) if args.tf_chain else None,
        pose_frame=args.pose_frame,
        size=(width, height),
        clip_len=clip_len,
        min_fps=args.min_fps,
        max_fps=args.max_fps,
        clips_per_minute=args.clips_per_minute,
        image_format=args.image_format,
        jpeg_quality=args.jpeg_quality,
        seed=args.seed,
    )
    summary = extract_bags(args.bags, options, args.workers, args.shard_index, args.num_shards)
    print_json(summary)
    return 1 if summary["failed"] else 0


def run_from_sequence(args: argparse.Namespace) -> int:
    from la_pose_ros.bags.from_sequence import sequence_to_bag
    from la_pose_ros.bags.writer import bag_output_path

    frames = sequence_to_bag(
        args.sequence,
        args.out,
        args.format,
        args.compressed,
        time_offset_s=args.time_offset,
        overwrite=args.overwrite,
    )
    bag = str(bag_output_path(args.out, args.format))
    print_json({"bag": bag, "format": args.format, "frames": frames})
    return 0


def run_replay(args: argparse.Namespace) -> int:
    from la_pose_core.model.config import OutputRateConfig, RefinementConfig
    from la_pose_ros.bags.reader import BadBag
    from la_pose_ros.bags.replay import replay_bag
    from la_pose_ros.pipeline import ConfigurationError

    check_device(args.device)
    try:
        summary = replay_bag(
            args.bag,
            args.checkpoint,
            args.out,
            args.image_topic,
            args.gt_topic,
            device=args.device,
            precision=args.precision,
            clip_len=args.clip_len,
            refinement=RefinementConfig(args.refine or "", args.refine_k, args.refine_ridge),
            overwrite=args.overwrite,
            output_rate=OutputRateConfig(args.output_rate, args.max_rate_hz),
            runtime=args.runtime,
            onnx_dir=args.onnx_dir or "",
        )
    except (BadBag, ConfigurationError) as error:
        fail(str(error))
    print_json(summary)
    return 0


def run_play(args: argparse.Namespace) -> int:
    from la_pose_ros.bags.play import play_bag
    from la_pose_ros.bags.reader import BadBag

    try:
        count = play_bag(
            args.bag,
            args.rate,
            args.loop,
            args.topics,
            wait_for_subscribers_s=args.wait_for_subscribers,
        )
    except BadBag as error:
        fail(str(error))
    print_json({"bag": args.bag, "published": count})
    return 0
