"""``make demo``: the whole product end to end, live, on an embedded default.

1. Data: a synthetic drive rendered here (``la_pose_core.data.synthetic``, deterministic), or
   the KITTI-layout folder or bag given as argument. A folder becomes an mcap bag with images,
   camera_info and ground truth (the ``la-pose bag from-sequence`` code).
2. The real node (``la_pose_node`` in its own process, ``config/la_pose.yaml``) with the shipped
   checkpoint (``models/la_pose_demo.pt``: trained by the project on synthetic data only; the
   README gives the command that reproduces it).
3. The bag is played live at its recorded timing (the ``la-pose bag play`` code) while this
   process records everything the node publishes into an mcap bag.
   At the end the node is deactivated, so it publishes the revised odometry of its last frames.
4. Report: ``metrics.json`` and ``trajectory.png`` of the node's live odometry and of its
   revised odometry (``~/odometry/revised``, each pair final 1.5 s late) against the bag's
   ground truth, beside the OpenCV monocular VO (ground-truth scale) and constant-velocity
   baselines on the same frames (``la_pose_core.evaluation``).

Everything lands in ``--out`` (default ``demo_output/``); the paths are printed at the end.
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = REPO_ROOT / "models/la_pose_demo.pt"
PARAMS_FILE = REPO_ROOT / "config/la_pose.yaml"
GROUND_TRUTH_TOPIC = "/ground_truth/odometry"
LIVE_ODOMETRY, REVISED_ODOMETRY = "/la_pose/odometry", "/la_pose/odometry/revised"
RECORDED = {  # topic -> what the recorder keeps
    LIVE_ODOMETRY: "nav_msgs/msg/Odometry",
    REVISED_ODOMETRY: "nav_msgs/msg/Odometry",
    "/la_pose/relative_pose": "la_pose_msgs/msg/RelativePose",
    "/la_pose/latent_action": "la_pose_msgs/msg/LatentAction",
    "/la_pose/path": "nav_msgs/msg/Path",
    "/tf": "tf2_msgs/msg/TFMessage",
    "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
}


def say(step: str, message: str) -> None:
    print(f"[demo {step}] {message}", flush=True)


def is_bag(path: Path) -> bool:
    return path.is_file() or (path / "metadata.yaml").exists()


def replace_own_bag(path: Path) -> Path:
    """Remove a bag an earlier demo run wrote at ``path`` (the demo re-runs onto its output)."""
    if path.is_dir() and (path / "metadata.yaml").exists():
        shutil.rmtree(path)
    return path


def prepare_bag(source: Path | None, out: Path, frames: int, seed: int) -> Path:
    """The bag to play: the user's bag, or one written from a (synthetic) KITTI-layout folder."""
    from la_pose_core.data.synthetic import write_synthetic_sequence
    from la_pose_ros.bags.from_sequence import sequence_to_bag

    if source is not None and is_bag(source):
        return source
    folder = source
    if folder is None:
        folder = out / "synthetic_sequence"
        say(
            "1/4",
            f"rendering a synthetic drive ({frames} frames at 10 Hz, seed {seed}) -> {folder}",
        )
        # greyscale, a FoV inside the range of the training drives
        write_synthetic_sequence(
            folder, frames=frames, seed=seed, size=(480, 224), fps=10.0, overwrite=True,
            grayscale=True, vertical_fov_deg=34.0, progress=True,
        )  # fmt: skip
    bag = replace_own_bag(out / "input_bag")
    say("1/4", f"writing {folder} as an mcap bag -> {bag}")
    sequence_to_bag(folder, bag, "mcap", time_offset_s=1000.0)
    return bag


def record_while_playing(
    bag: Path, checkpoint: Path, out: Path, domain_id: int, rate: float
) -> dict:
    """Start the node, play the bag to it live, record its outputs; returns {topic: [(msg, ns)]}."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from la_pose_ros.bags.play import message_class, play_bag

    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), PYTHONUNBUFFERED="1")
    command = [
        sys.executable, "-m", "la_pose_ros.node", "--ros-args", "--params-file", str(PARAMS_FILE),
        "-p", f"model.checkpoint:={checkpoint}", "-p", "model.device:=cpu",
        "-p", "input.image_topic:=/camera/image_raw",
        "-p", "input.camera_info_topic:=/camera/camera_info",
        "-p", "input.qos_reliability:=reliable",
    ]  # fmt: skip
    log_path = out / "node.log"
    say("2/4", f"starting la_pose_node (log: {log_path})")
    with open(log_path, "w") as log:
        node_process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    recorder = rclpy.create_node("la_pose_demo_recorder", context=context)
    recorded: dict[str, list] = {topic: [] for topic in RECORDED}
    for topic, msgtype in RECORDED.items():
        recorder.create_subscription(
            message_class(msgtype), topic,
            lambda message, topic=topic: recorded[topic].append((message, time.time_ns())), 100,
        )  # fmt: skip
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(recorder)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        say("3/4", f"playing {bag} live at {rate}x; the node publishes as it goes")
        published = play_bag(
            bag, rate=rate, node=recorder, wait_for_subscribers_s=120.0, start_delay_s=1.0
        )
        time.sleep(2.0)  # the last frames' outputs
        deactivate(recorder)  # the node publishes the revised odometry of its last frames
        time.sleep(1.0)
        received = len(recorded[LIVE_ODOMETRY]), len(recorded[REVISED_ODOMETRY])
        say("3/4", f"played {published} messages; odometry messages received: {received[0]} "
            f"live, {received[1]} revised")  # fmt: skip
    finally:
        node_process.terminate()
        node_process.wait(timeout=30)
        executor.shutdown()
        recorder.destroy_node()
        rclpy.shutdown(context=context)
    return recorded


def deactivate(node, timeout_s: float = 30.0) -> bool:
    """Ask la_pose_node to deactivate (lifecycle); whether it did."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    client = node.create_client(ChangeState, "/la_pose/change_state")
    if not client.wait_for_service(timeout_sec=timeout_s):
        return False
    request = ChangeState.Request()
    request.transition.id = Transition.TRANSITION_DEACTIVATE
    future = client.call_async(request)
    deadline = time.monotonic() + timeout_s
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.05)
    return future.done() and future.result().success


def odometry_poses(messages: list) -> tuple[np.ndarray, np.ndarray]:
    """nav_msgs/Odometry messages -> their stamps ``(N,)`` (s) and ``odom_from_base``
    ``(N, 4, 4)``."""
    from la_pose_ros.bags.reader import pose_matrix

    stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in messages])
    return stamps, np.stack([pose_matrix(m.pose.pose) for m in messages])


def write_recording(recorded: dict, path: Path) -> None:
    from la_pose_ros.bags.writer import BagWriter

    with BagWriter(path, "mcap") as bag:
        for topic, items in recorded.items():
            for message, received_ns in items:
                bag.write(topic, message, received_ns)


def report(bag: Path, recorded: dict, out: Path) -> dict:
    """metrics.json + trajectory.png of the node's odometry and the baselines on its frames."""
    from la_pose_core.evaluation import write_report
    from la_pose_core.evaluation.baselines import baseline_trajectories
    from la_pose_core.geometry import BASE_FROM_OPTICAL
    from la_pose_ros.bags.reader import choose_topic, iter_images, open_bag, read_poses

    stamps, odom_from_base = odometry_poses([m for m, _ in recorded[LIVE_ODOMETRY]])
    with open_bag(bag) as reader:
        gt_stamps, world_from_base = read_poses(reader, GROUND_TRUTH_TOPIC)
        topic = choose_topic(
            reader, None, ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"), "image"
        )
        wanted = {round(s, 6) for s in stamps}
        images = {
            round(f.stamp, 6): f.image
            for f in iter_images(reader, topic)
            if round(f.stamp, 6) in wanted
        }
        camera_info = next(
            reader.deserialize(raw, c.msgtype)
            for c, _, raw in reader.messages()
            if c.msgtype.endswith("CameraInfo")
        )
    gt_index = [int(np.argmin(np.abs(gt_stamps - s))) for s in stamps]
    base_from_camera = BASE_FROM_OPTICAL  # the node's default extrinsics, as from-sequence used
    ground_truth = world_from_base[gt_index] @ base_from_camera
    estimates = {"LA-Pose (live node)": odom_from_base @ base_from_camera}
    revised = [m for m, _ in recorded[REVISED_ODOMETRY]]
    if revised:  # every frame once its pair is final (the last ones at deactivate)
        revised_stamps, revised_poses = odometry_poses(revised)
        if np.array_equal(np.round(revised_stamps, 6), np.round(stamps, 6)):
            estimates["LA-Pose (node, revised)"] = revised_poses @ base_from_camera
        else:
            say("4/4", f"the revised odometry has {len(revised)} of {len(stamps)} frames: left out")
    estimates.update(
        baseline_trajectories(
            [images[round(s, 6)] for s in stamps],
            stamps,
            ground_truth,
            np.reshape(camera_info.k, (3, 3)),
        )
    )
    return write_report(out, ground_truth, estimates, title="demo: live node vs ground truth")


def _figure(value) -> str:
    """A skill measure for the console: nan (undefined) as '-'."""
    return "-" if value is None or value != value else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "source", nargs="?", help="KITTI-layout folder or bag (default: synthetic drive)"
    )
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--out", type=Path, default=Path("demo_output"))
    parser.add_argument("--frames", type=int, default=300, help="synthetic drive length (10 Hz)")
    parser.add_argument(
        "--seed",
        type=int,
        default=301,
        help="synthetic drive seed (301: an evaluation drive with a 90-degree turn)",
    )
    parser.add_argument("--rate", type=float, default=1.0, help="playback rate")
    args = parser.parse_args(argv)
    if not args.checkpoint.exists():
        print(f"demo: checkpoint {args.checkpoint} not found", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    bag = prepare_bag(Path(args.source) if args.source else None, args.out, args.frames, args.seed)
    recorded = record_while_playing(
        bag, args.checkpoint, args.out, random.randint(100, 200), args.rate
    )
    if not recorded[LIVE_ODOMETRY]:
        print(f"demo: the node published no odometry; see {args.out / 'node.log'}", file=sys.stderr)
        return 1
    write_recording(recorded, replace_own_bag(args.out / "node_outputs"))
    say("4/4", "computing metrics and the trajectory plot")
    metrics = report(bag, recorded, args.out)
    for name, values in metrics["methods"].items():
        figures = f"AUC@5 {values['auc5']:5.1f}  ATE-S {values['ate_s']:.3f}"
        say("4/4", f"{name:34s} {figures}  ATE-M {values['ate_m']:.2f} m")
        # what a motion prior cannot fake: does the estimate turn and speed up with the car?
        skill = f"yaw corr {_figure(values['yaw_corr'])}  yaw spread ratio "
        skill += f"{_figure(values['yaw_spread_ratio'])}  step corr {_figure(values['step_corr'])}"
        say("4/4", f"{'':34s} {skill}")
    say("done", f"in {time.perf_counter() - started:.0f} s")
    print(f"  metrics:      {args.out / 'metrics.json'}")
    print(f"  trajectory:   {args.out / 'trajectory.png'}")
    print(f"  node outputs: {args.out / 'node_outputs'} (mcap)")
    print(f"  node log:     {args.out / 'node.log'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
