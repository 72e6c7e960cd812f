"""A live camera stand-in: plays a folder of real frames as sensor_msgs/Image at a fixed rate.

    .venv/bin/python benchmarks/camera_publisher.py FOLDER --rate 30 --seconds 60
        [--size 1241x376] [--encoding mono8|rgb8] [--reliability best_effort|reliable]
        [--topic /image_raw] [--summary out.json]

Each frame is stamped with the wall clock when it is published, as a camera driver stamps its
capture time, so a subscriber on this machine measures its latency as ``time.time() - stamp``.
The frames of FOLDER (``.png``/``.jpg``, sorted, looped) are converted once, before the first
publish, to ``--size`` and ``--encoding``. Publishing waits for a subscriber, then keeps the
schedule: a frame is never sent early, and one that is late is sent at once (``late_frames``
counts those later than one period). At the end it writes a JSON summary (frames published, the
rate kept) to ``--summary`` and stdout; the soak benchmark (``bench_soak.py``) runs it in its
own process.
"""

import argparse
import array
import json
import sys
import time
from pathlib import Path

import cv2
import rclpy
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}


def load_frames(folder: Path, size: tuple[int, int] | None, encoding: str, limit: int) -> list:
    """Up to ``limit`` frames of ``folder`` as (height, width[, 3]) uint8 arrays in
    ``encoding``, resized to ``size`` (width, height) when given."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".jpg"))[:limit]
    if not files:
        raise SystemExit(f"camera_publisher: no .png or .jpg frames under {folder}")
    frames = []
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # (H, W, 3) BGR
        if size is not None:
            image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        if encoding == "mono8":
            frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))  # (H, W)
        else:
            frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))  # (H, W, 3)
    return frames


def image_messages(frames: list, encoding: str, frame_id: str) -> list[Image]:
    """One reusable Image message per frame (only the stamp changes per publish)."""
    out = []
    for frame in frames:
        height, width = frame.shape[:2]
        channels = 1 if frame.ndim == 2 else frame.shape[2]
        message = Image(height=height, width=width, encoding=encoding, step=width * channels)
        message.header.frame_id = frame_id
        message.data = array.array("B", frame.tobytes())
        out.append(message)
    return out


def stamp_now(message: Image) -> None:
    nanoseconds = time.time_ns()
    message.header.stamp.sec = nanoseconds // 1_000_000_000
    message.header.stamp.nanosec = nanoseconds % 1_000_000_000


def publish_at_rate(publisher, messages: list[Image], rate_hz: float, seconds: float) -> dict:
    """Publish ``rate_hz * seconds`` frames on schedule; returns the summary counters."""
    period = 1.0 / rate_hz
    count = round(rate_hz * seconds)
    late = 0
    start = time.perf_counter()
    for index in range(count):
        delay = start + index * period - time.perf_counter()
        if delay > 0.0:
            time.sleep(delay)
        elif delay < -period:
            late += 1
        message = messages[index % len(messages)]
        stamp_now(message)
        publisher.publish(message)
    elapsed = time.perf_counter() - start
    return {"published": count, "late_frames": late, "rate_hz": (count - 1) / max(elapsed, 1e-9)}


def parse_size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", type=parse_size, help="WIDTHxHEIGHT; default: the frames'")
    parser.add_argument("--encoding", choices=("mono8", "rgb8"), default="mono8")
    parser.add_argument("--reliability", choices=sorted(RELIABILITY), default="best_effort")
    parser.add_argument("--topic", default="/image_raw")
    parser.add_argument("--frame-id", default="camera_optical")
    parser.add_argument("--max-frames", type=int, default=90, help="distinct frames held")
    parser.add_argument("--wait-s", type=float, default=60.0, help="longest wait for a reader")
    parser.add_argument("--summary", type=Path)
    args = parser.parse_args(argv)

    frames = load_frames(args.folder, args.size, args.encoding, args.max_frames)
    messages = image_messages(frames, args.encoding, args.frame_id)
    rclpy.init()
    node = rclpy.create_node("la_pose_camera_publisher")
    qos = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=5, reliability=RELIABILITY[args.reliability]
    )
    publisher = node.create_publisher(Image, args.topic, qos)
    deadline = time.monotonic() + args.wait_s
    while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if publisher.get_subscription_count() == 0:
        print(f"camera_publisher: no subscriber on {args.topic} after {args.wait_s} s")
        return 1
    time.sleep(1.0)  # let discovery settle on both sides before the first frame
    summary = publish_at_rate(publisher, messages, args.rate, args.seconds)
    height, width = frames[0].shape[:2]
    summary.update(
        size=f"{width}x{height}",
        encoding=args.encoding,
        bytes_per_frame=len(messages[0].data),
        target_rate_hz=args.rate,
    )
    text = json.dumps(summary)
    print(text)
    if args.summary:
        args.summary.write_text(text)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
