"""Node benchmark: end-to-end latency, output rate and CPU share of la_pose_node fed KITTI images.

    .venv/bin/python benchmarks/bench_node.py [--config small] [--rates 10 30] [--seconds 15]
        [--output-rates model camera]

Starts the real node in its own process (isolated ROS_DOMAIN_ID, config/la_pose.yaml), once per
output rate (``output_rate.mode``: ``model``, one output per model frame; ``camera``, one per
camera frame), publishes the shared KITTI frames as sensor_msgs/Image at each input rate, and
measures, per output, publish -> odometry received (both clocks in this process). The node's
own diagnostics give the estimator's step time; the difference is the node's overhead (decode,
odometry, messages, DDS). CPU share is the node process's CPU time (user + system, all threads)
over the run's wall time: 1.0 is one core busy. The model is untrained (random weights of the
named config): speed does not depend on weights. Prints one JSON object and a markdown table.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from la_pose_core.data import KittiSequence
from test.ros.harness import (
    Client,
    NodeProcess,
    free_domain_id,
    image_message,
    write_test_checkpoint,
)

KITTI_SAMPLE = Path(__file__).resolve().parents[2] / "shared/data/kitti_odometry_00_f0000-0090"


def stamp_of(message) -> float:
    return round(message.header.stamp.sec + message.header.stamp.nanosec * 1e-9, 6)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far, all threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_rate(
    client: Client,
    images: list,
    rate_hz: float,
    seconds: float,
    first_stamp: float,
    node_pid: int | None = None,
) -> dict:
    published: dict[float, float] = {}
    client.clear()
    period = 1.0 / rate_hz
    start = time.perf_counter()
    cpu_start = cpu_seconds(node_pid) if node_pid else 0.0
    count = int(seconds * rate_hz)
    for index in range(count):
        target = start + index * period
        time.sleep(max(0.0, target - time.perf_counter()))
        stamp = round(first_stamp + index * period, 6)
        message = image_message(images[index % len(images)], stamp)
        published[stamp] = time.perf_counter()
        client.image_pub.publish(message)
    cpu_share = (
        (cpu_seconds(node_pid) - cpu_start) / (time.perf_counter() - start)
        if node_pid
        else float("nan")
    )
    time.sleep(1.5)
    odometry = client.messages("odometry")
    received = client.receipt_times["odometry"]
    latencies = [
        (at - published[stamp_of(message)]) * 1e3
        for message, at in zip(odometry, received, strict=True)
        if stamp_of(message) in published
    ]
    diagnostics = {
        item.key: item.value for item in client.messages("diagnostics")[-1].status[0].values
    }
    duration = count * period
    step_ms = float(diagnostics["estimator_step_p50_ms"])
    p50, p95 = (float(np.percentile(latencies, q)) if latencies else float("nan") for q in (50, 95))
    return {
        "input_rate_hz": rate_hz,
        "frames_published": count,
        "outputs": len(latencies),
        "output_rate_hz": len(latencies) / duration,
        "latency_p50_ms": p50,
        "latency_p95_ms": p95,
        "estimator_step_p50_ms": step_ms,
        "node_overhead_p50_ms": p50 - step_ms,
        "frames_dropped": int(diagnostics["frames_dropped"]),
        "node_cpu_share": cpu_share,
    }


def run_mode(args, images: list, checkpoint: Path, mode: str, work: Path) -> list[dict]:
    """Every input rate through one node process with ``output_rate.mode`` = ``mode``."""
    domain_id = free_domain_id()
    overrides = {
        "model.checkpoint": checkpoint,
        "model.device": "cpu",
        "streaming.target_fps": args.target_fps,
        "input.qos_reliability": "reliable",
        "output.diagnostics_period_s": 0.5,
        "output_rate.mode": mode,
    }
    node = NodeProcess(domain_id, overrides, work / f"node_{mode}.log")
    client = Client(domain_id)
    try:
        assert client.wait_for_subscriber(60), node.output()
        run_rate(client, images, 5.0, 3.0, first_stamp=100.0)  # warm-up, discovery
        pid = node.process.pid
        return [
            {
                "output_rate": mode,
                **run_rate(client, images, rate, args.seconds, 1000.0 * (i + 1), pid),
            }
            for i, rate in enumerate(args.rates)
        ]
    finally:
        client.close()
        node.stop()


def print_table(results: list[dict]) -> None:
    columns = ["output rate", "input Hz", "outputs/s", "e2e p50 ms", "e2e p95 ms"]
    columns += ["estimator step p50 ms", "node overhead p50 ms", "node CPU (cores)", "dropped"]
    print("\n| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in results:
        print(
            f"| {r['output_rate']} | {r['input_rate_hz']:.0f} | {r['output_rate_hz']:.2f} | "
            f"{r['latency_p50_ms']:.1f} | {r['latency_p95_ms']:.1f} | "
            f"{r['estimator_step_p50_ms']:.1f} | {r['node_overhead_p50_ms']:.1f} | "
            f"{r['node_cpu_share']:.2f} | {r['frames_dropped']} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="small")
    parser.add_argument("--rates", type=float, nargs="+", default=[10.0, 30.0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--target-fps", type=float, default=2.0, help="model frame rate")
    parser.add_argument(
        "--output-rates", nargs="+", choices=("model", "camera"), default=["model", "camera"]
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()

    sequence = KittiSequence(KITTI_SAMPLE)
    images = [sequence.image(i) for i in range(30)]
    work = Path("/tmp/la_pose_bench_node")
    work.mkdir(exist_ok=True)
    checkpoint = write_test_checkpoint(work / f"{args.config}.pt", args.config)
    results = [
        row for mode in args.output_rates for row in run_mode(args, images, checkpoint, mode, work)
    ]
    report = {
        "benchmark": "node_end_to_end",
        "config": args.config,
        "target_fps": args.target_fps,
        "image_size": list(images[0].shape),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "results": results,
    }
    print(json.dumps(report, indent=2))
    print_table(results)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
