"""Soak benchmark: la_pose_node fed real frames at camera rate from another process for N minutes.

    .venv/bin/python benchmarks/bench_soak.py --minutes 30 [--rate 30]
        [--frames kitti|highway-1080p] [--output-rate model|camera]
        [--checkpoint models/la_pose_demo.pt] [--transport default|large_data|shm|udp]
        [--background-load CORES] [-p name:=value ...] [--out report.json]

Three processes, as on a vehicle: the node (``la_pose_node``, config/la_pose.yaml, its own
ROS_DOMAIN_ID), a camera (``camera_publisher.py``: real frames stamped with the wall clock when
published; ``kitti``: the KITTI sample's 1241x376 mono8, 466 KB; ``highway-1080p``: the
Udacity highway frames at 1920x1080 rgb8, 6.2 MB) and this monitor, which receives the
odometry and /diagnostics and samples the node's CPU time and RSS from /proc.

Reported (a JSON object, then a markdown summary):
    - where frames go: published (the camera's count); delivered to the callback, lost before
      it (publication sequence gaps: DDS history, transport), skipped by the stamp selector,
      dropped by the mailbox, rejected, used (the node's /diagnostics counters);
    - tracking restarts, and the restarts the node saw after lost frames;
    - latency from the frame's stamp to the odometry's arrival here, p50/p95/p99 (the node's
      own receipt-to-publish p95 from /diagnostics beside it);
    - odometry rate over the run against the configured rate (``model``: streaming.target_fps;
      ``camera``: the camera rate capped at output_rate.max_hz);
    - the node's CPU share (1.0 = one core busy) and RSS each minute; RSS growth after the
      first minute (the median RSS of the last minute minus that of the second) and the
      spread (max - min) after the first minute.
``--background-load 1.5`` stands in for the rest of a vehicle's software stack: busy processes
that keep that many cores busy (in 100 ms duty cycles) while the camera plays.
The targets of issue 16 are printed beside the figures. ``--transport large_data`` (``shm``,
``udp``) sets ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` (``SHM``, ``UDPv4``) for all three
processes (see the README's "Transport" paragraph).
"""

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

from test.ros.harness import NodeProcess, free_domain_id  # noqa: E402

SHARED = ROOT.parent / "shared/data"
FRAMES = {  # name -> (folder, camera_publisher size, encoding)
    "kitti": (SHARED / "kitti_odometry_00_f0000-0090", "1241x376", "mono8"),
    "highway-1080p": (SHARED / "udacity_highway_25hz", "1920x1080", "rgb8"),
}
# --transport -> FASTDDS_BUILTIN_TRANSPORTS (Fast DDS builtin transport sets)
TRANSPORTS = {"default": None, "large_data": "LARGE_DATA", "shm": "SHM", "udp": "UDPv4"}
SAMPLE_PERIOD_S = 5.0  # CPU, RSS and counters


class Monitor:
    """Receives the node's odometry and /diagnostics in this process."""

    def __init__(self, domain_id: int) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("la_pose_soak_monitor", context=self.context)
        self.lock = threading.Lock()
        self.latencies_ms: list[float] = []
        self.odometry_times: list[float] = []  # monotonic receipt times
        self.diagnostics: dict[str, str] = {}
        self.node.create_subscription(Odometry, "/la_pose/odometry", self.on_odometry, 100)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.on_diagnostics, 10)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self.spinner.start()

    def on_odometry(self, message: Odometry) -> None:
        stamp = message.header.stamp.sec + message.header.stamp.nanosec * 1e-9
        with self.lock:
            self.latencies_ms.append((time.time() - stamp) * 1e3)
            self.odometry_times.append(time.monotonic())

    def on_diagnostics(self, message: DiagnosticArray) -> None:
        values = {item.key: item.value for item in message.status[0].values}
        if "frames_received" in values:
            with self.lock:
                self.diagnostics = values

    def wait_for_node(self, timeout_s: float = 120.0) -> bool:
        """Wait until the node subscribes to the camera topic (it is active)."""
        deadline = time.monotonic() + timeout_s
        while self.node.count_subscribers("/image_raw") == 0:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def counters(self) -> dict[str, str]:
        with self.lock:
            return dict(self.diagnostics)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far, all threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


BUSY_LOOP = """
import sys, time
duty = float(sys.argv[1])
while True:
    start = time.perf_counter()
    while time.perf_counter() - start < 0.1 * duty:
        pass
    time.sleep(0.1 * (1.0 - duty))
"""


def start_background_load(cores: float) -> list[subprocess.Popen]:
    """ceil(cores) processes, each busy ``cores / count`` of the time."""
    count = math.ceil(cores)
    return [
        subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(cores / count)])
        for _ in range(count)
    ]


def start_camera(args, work: Path, env: dict) -> subprocess.Popen:
    folder, size, encoding = FRAMES[args.frames]
    command = [
        sys.executable,
        str(ROOT / "benchmarks/camera_publisher.py"),
        str(folder),
        "--rate", str(args.rate),
        "--seconds", str(args.minutes * 60.0),
        "--size", size,
        "--encoding", encoding,
        "--reliability", args.camera_reliability,
        "--summary", str(work / "camera.json"),
    ]  # fmt: skip
    log = open(work / "camera.log", "w")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


def sample_until_done(camera: subprocess.Popen, monitor: Monitor, pid: int, start: float) -> list:
    """Every SAMPLE_PERIOD_S while the camera plays: elapsed s, node CPU s, RSS MB, odometry
    received so far and the node's counters."""
    samples = []
    while camera.poll() is None:
        time.sleep(SAMPLE_PERIOD_S)
        with monitor.lock:
            outputs = len(monitor.odometry_times)
        samples.append(
            {
                "t_s": time.monotonic() - start,
                "cpu_s": cpu_seconds(pid),
                "rss_mb": rss_mb(pid),
                "odometry": outputs,
                "received": int(monitor.counters().get("frames_received", 0)),
            }
        )
    return samples


def rss_after_first_minute(samples: list) -> dict:
    """RSS growth after the first minute: the median of the run's last minute of samples minus
    the median of its second minute (a leak shows in full; the phase of a sample against the
    node's step, which moves RSS by a few MB, does not), and the spread (max - min) after the
    first minute beside it."""
    after = [s for s in samples if s["t_s"] >= 60.0]
    if not after:
        return {"growth_mb": float("nan"), "spread_mb": float("nan")}
    second = [s["rss_mb"] for s in after if s["t_s"] < 120.0]
    last = [s["rss_mb"] for s in after if s["t_s"] >= after[-1]["t_s"] - 60.0]
    values = [s["rss_mb"] for s in after]
    return {
        "growth_mb": float(np.median(last) - np.median(second)),
        "spread_mb": float(max(values) - min(values)),
    }


def configured_rate(args, overrides: dict) -> float:
    target_fps = float(overrides.get("streaming.target_fps", 2.0))
    if args.output_rate == "model":
        return target_fps
    return min(args.rate, float(overrides.get("output_rate.max_hz", 30.0)))


def summarise(args, overrides, camera: dict, samples: list, monitor: Monitor, cpu0) -> dict:
    counters = monitor.counters()
    with monitor.lock:
        latencies = np.array(monitor.latencies_ms)
        times = np.array(monitor.odometry_times)
    steady = times[times >= times[0] + 5.0] if times.size else times  # after the warm-up
    rate = (steady.size - 1) / (steady[-1] - steady[0]) if steady.size > 1 else 0.0
    duration = samples[-1]["t_s"] if samples else float("nan")
    per_minute = [s for s in samples if round(s["t_s"]) % 60 < SAMPLE_PERIOD_S] or samples
    rss = rss_after_first_minute(samples)
    published = camera.get("published", 0)
    received = int(counters.get("frames_received", 0))

    def count(key: str) -> int:
        return int(counters.get(key, 0))

    return {
        "frames": {
            "published": published,
            "camera_late_frames": camera.get("late_frames"),
            "delivered": received,
            "delivered_share": received / published if published else float("nan"),
            "lost_before_callback": count("frames_lost"),
            "unaccounted": published - received - count("frames_lost"),
            "skipped": count("frames_skipped"),
            "dropped": count("frames_dropped"),
            "rejected": count("frames_rejected"),
            "used": count("frames_used"),
        },
        "tracking_restarts": count("resets"),
        "restarts_after_lost_frames": count("restarts_after_lost_frames"),
        "latency_ms": {
            f"p{q}": float(np.percentile(latencies, q)) if latencies.size else float("nan")
            for q in (50, 95, 99)
        },
        "node_latency_p95_ms": float(counters.get("latency_p95_ms", "nan")),
        "odometry_rate_hz": rate,
        "configured_rate_hz": configured_rate(args, overrides),
        "node_cpu_share": (samples[-1]["cpu_s"] - cpu0) / duration if samples else float("nan"),
        "rss_mb_per_minute": [round(s["rss_mb"], 1) for s in per_minute],
        "rss_growth_after_first_minute_mb": rss["growth_mb"],
        "rss_spread_after_first_minute_mb": rss["spread_mb"],
        "diagnostics": counters,
    }


def print_summary(report: dict) -> None:
    frames, latency = report["frames"], report["latency_ms"]
    rate, configured = report["odometry_rate_hz"], report["configured_rate_hz"]
    rows = [
        ("delivered to the callback", f"{frames['delivered_share']:.2%}", ">= 99 %"),
        ("tracking restarts", report["tracking_restarts"], "0"),
        ("latency p95 (stamp -> odometry here)", f"{latency['p95']:.0f} ms", "<= 100 ms"),
        ("odometry rate", f"{rate:.3f} Hz (configured {configured:g})", "within 2 %"),
        ("RSS growth after the first minute (medians: last minute - second)",
         f"{report['rss_growth_after_first_minute_mb']:.1f} MB (spread "
         f"{report['rss_spread_after_first_minute_mb']:.1f})", "<= 5 MB"),
    ]  # fmt: skip
    print("\n| measure | figure | target |\n|---|---|---|")
    for name, figure, target in rows:
        print(f"| {name} | {figure} | {target} |")
    print("\nframes: " + ", ".join(f"{key} {value}" for key, value in frames.items()))
    print(
        f"latency p50/p95/p99 {latency['p50']:.0f}/{latency['p95']:.0f}/{latency['p99']:.0f} ms; "
        f"node CPU {report['node_cpu_share']:.2f} cores; RSS per minute "
        f"{report['rss_mb_per_minute']}"
    )


def parse_overrides(items: list[str]) -> dict[str, str]:
    overrides = {}
    for item in items:
        name, _, value = item.partition(":=")
        overrides[name] = value
    return overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate (Hz)")
    parser.add_argument("--frames", choices=sorted(FRAMES), default="kitti")
    parser.add_argument("--output-rate", choices=("model", "camera"), default="model")
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "models/la_pose_demo.pt")
    parser.add_argument("--transport", choices=sorted(TRANSPORTS), default="default")
    parser.add_argument("--camera-reliability", choices=("best_effort", "reliable"),
                        default="best_effort")  # fmt: skip
    parser.add_argument("--background-load", type=float, default=0.0, metavar="CORES")
    parser.add_argument("-p", dest="params", action="append", default=[],
                        help="node parameter override, name:=value")  # fmt: skip
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--work", type=Path, default=Path("/tmp/la_pose_bench_soak"),
                        help="logs of the node and the camera")  # fmt: skip
    args = parser.parse_args()

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if TRANSPORTS[args.transport]:
        env["FASTDDS_BUILTIN_TRANSPORTS"] = TRANSPORTS[args.transport]
        os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = TRANSPORTS[args.transport]  # the monitor
    overrides = {
        "model.checkpoint": str(args.checkpoint),
        "model.device": "cpu",
        "output_rate.mode": args.output_rate,
        **parse_overrides(args.params),
    }
    domain_id = free_domain_id()
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    node = NodeProcess(domain_id, overrides, work / "node.log")
    monitor = Monitor(domain_id)
    load = []
    try:
        env["ROS_DOMAIN_ID"] = str(domain_id)
        if not monitor.wait_for_node():
            raise SystemExit(f"the node did not start:\n{node.output()}")
        load = start_background_load(args.background_load) if args.background_load else []
        camera = start_camera(args, work, env)
        start = time.monotonic()
        cpu0 = cpu_seconds(node.process.pid)
        samples = sample_until_done(camera, monitor, node.process.pid, start)
        time.sleep(2.0 * float(overrides.get("output.diagnostics_period_s", 1.0)) + 1.0)
        summary_path = work / "camera.json"
        if camera.returncode != 0 or not summary_path.exists():
            raise SystemExit(f"camera failed:\n{(work / 'camera.log').read_text()}")
        camera_summary = json.loads(summary_path.read_text())
        summary_path.unlink()
        report = {
            "benchmark": "node_soak",
            "minutes": args.minutes,
            "camera": camera_summary,
            "output_rate": args.output_rate,
            "transport": args.transport,
            "background_load_cores": args.background_load,
            "checkpoint": str(args.checkpoint),
            "overrides": overrides,
            "machine": {
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "load_average_at_end": os.getloadavg(),
            },
            **summarise(args, overrides, camera_summary, samples, monitor, cpu0),
            "samples": samples,
        }
    finally:
        for process in load:
            process.kill()
        monitor.close()
        node.stop()
    print(json.dumps(report, indent=2))
    print_summary(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
