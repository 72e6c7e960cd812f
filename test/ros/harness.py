"""Run the real node as a separate process and talk to it over ROS 2 (isolated domain).

Used by the node integration tests and the node benchmark.
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import ClassVar

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from la_pose_msgs.msg import LatentAction, RelativePose
from lifecycle_msgs.srv import ChangeState, GetState
from nav_msgs.msg import Odometry
from nav_msgs.msg import Path as PathMessage
from rclpy.duration import Duration
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage

from la_pose_core.model.checkpoint import save_checkpoint
from la_pose_core.model.config import get_config
from la_pose_core.model.lapose import LAPosePosttrainer
from la_pose_ros import messages

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILE = REPO_ROOT / "config/la_pose.yaml"
DEMO_MODEL = REPO_ROOT / "models/la_pose_demo.pt"  # the shipped trained model (compact)


def write_test_checkpoint(path: Path, config_name: str = "tiny", seed: int = 0) -> Path:
    """An untrained (random) pose estimator: enough to exercise every code path of the node."""
    import torch

    torch.manual_seed(seed)
    config = get_config(config_name)
    return save_checkpoint(path, LAPosePosttrainer(config), config)


def write_refinement_checkpoint(
    path: Path, checkpoint: Path = DEMO_MODEL, motions: int = 300, foreign: bool = False
) -> Path:
    """A refinement file (pose encoder + motion bank) for ``checkpoint``'s backbone.

    The encoder is untrained (enough for the plumbing); the bank holds ``motions`` pure forward
    motions (identity rotation, translation (0, 0, z), z in [0.05, 3] m), so a refined
    translation, an affine combination of bank translations, has x = y = 0. ``foreign``: the
    file names a freshly initialised backbone instead (it must be refused).
    """
    import torch

    from la_pose_core.model.checkpoint import load_checkpoint
    from la_pose_core.model.inverse_dynamics import InverseDynamics
    from la_pose_core.model.pose_encoder import PoseEncoder
    from la_pose_core.pose_autoencoder.refinement import (
        MotionBank,
        save_refinement_checkpoint,
        teacher_record,
    )

    torch.manual_seed(0)
    loaded = load_checkpoint(checkpoint)
    backbone = loaded.modules["posttrainer"].inverse_dynamics
    if foreign:
        backbone = InverseDynamics(loaded.config)
    encoder = PoseEncoder.from_config(loaded.config)
    poses = np.tile(np.eye(4), (motions, 1, 1))  # (N, 4, 4)
    poses[:, 2, 3] = np.linspace(0.05, 3.0, motions)
    bank = MotionBank.from_relative_poses(poses, encoder, source="test", fps=2.0)
    record = teacher_record(backbone, "fresh InverseDynamics" if foreign else str(checkpoint))
    save_refinement_checkpoint(path, encoder, loaded.config, bank, record)
    return path


def free_domain_id() -> int:
    return random.Random(os.getpid() ^ time.time_ns()).randint(20, 200)


def stamp_seconds(message_stamp) -> float:
    """builtin_interfaces/Time -> seconds, rounded to the microsecond (test stamps are exact)."""
    return round(message_stamp.sec + message_stamp.nanosec * 1e-9, 6)


def image_message(image: np.ndarray, stamp: float, frame_id: str = "camera_left") -> Image:
    return messages.image_message(image, messages.seconds_to_time(stamp), frame_id)


def compressed_message(
    image: np.ndarray, stamp: float, frame_id: str = "camera_left"
) -> CompressedImage:
    return messages.image_message(image, messages.seconds_to_time(stamp), frame_id, compressed=True)


class NodeProcess:
    """``la_pose_node`` in its own process, with the package's parameter file."""

    def __init__(self, domain_id: int, overrides: dict[str, object], log_path: Path):
        self.log_path = log_path
        arguments = [
            sys.executable,
            "-m",
            "la_pose_ros.node",
            "--ros-args",
            "--params-file",
            str(PARAMS_FILE),
        ]
        for name, value in overrides.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            arguments += ["-p", f"{name}:={text}"]
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), PYTHONUNBUFFERED="1")
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(
            arguments, stdout=self.log, stderr=subprocess.STDOUT, env=env
        )

    def output(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode


class Client:
    """A test-side ROS node: publishes images, records every output of la_pose, calls services."""

    OUTPUTS: ClassVar[dict[str, tuple]] = {
        "odometry": ("/la_pose/odometry", Odometry),
        "odometry_revised": ("/la_pose/odometry/revised", Odometry),
        "path": ("/la_pose/path", PathMessage),
        "relative_pose": ("/la_pose/relative_pose", RelativePose),
        "latent_action": ("/la_pose/latent_action", LatentAction),
        "tf": ("/tf", TFMessage),
        "diagnostics": ("/diagnostics", DiagnosticArray),
    }

    def __init__(self, domain_id: int, compressed: bool = False):
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("la_pose_test_client", context=self.context)
        self.received: dict[str, list] = defaultdict(list)
        self.last_diagnostics: list = []  # the newest /diagnostics message before clear()
        self.receipt_times: dict[str, list] = defaultdict(list)
        self.lock = threading.Lock()
        for key, (topic, message_type) in self.OUTPUTS.items():
            self.node.create_subscription(message_type, topic, self.recorder(key), 50)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(TFMessage, "/tf_static", self.recorder("tf_static"), latched)
        image_type = CompressedImage if compressed else Image
        # reliable (the default): publish_confirmed() can wait for the node's acknowledgement
        self.image_pub = self.node.create_publisher(image_type, "/image_raw", 10)
        self.camera_info_pub = self.node.create_publisher(CameraInfo, "/camera_info", 10)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self.spinner.start()

    def recorder(self, key: str):
        def record(message) -> None:
            with self.lock:
                self.received[key].append(message)
                self.receipt_times[key].append(time.perf_counter())

        return record

    def messages(self, key: str) -> list:
        with self.lock:
            return list(self.received[key])

    def clear(self) -> None:
        """Forget what was received (but /tf_static, which is published once, and the newest
        /diagnostics, for :meth:`node_counters`)."""
        with self.lock:
            self.last_diagnostics = self.received.get("diagnostics", [])[-1:]
            for key in list(self.received):
                if key != "tf_static":
                    del self.received[key]
                    self.receipt_times.pop(key, None)

    def wait_for(self, condition, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return False

    def wait_for_subscriber(self, timeout: float = 60.0) -> bool:
        return self.wait_for(lambda: self.image_pub.get_subscription_count() > 0, timeout)

    def publish_confirmed(self, message, timeout: float = 30.0) -> None:
        """Publish an image and wait until every matched (reliable) subscriber acknowledged it.

        An acknowledged sample is in the subscriber's history, so no discovery race or writer
        history overflow can lose it. The node's own reader may still overwrite it if its
        executor falls ``input.qos_depth`` frames behind: :meth:`node_counters` tells.
        """
        self.image_pub.publish(message)
        if not self.image_pub.wait_for_all_acked(Duration(seconds=timeout)):
            raise TimeoutError(f"the image was not acknowledged within {timeout} s")

    def publish_camera_info(self, message: CameraInfo, timeout: float = 30.0) -> None:
        """Publish a CameraInfo once the node subscribes, and wait for its acknowledgement."""
        if not self.wait_for(lambda: self.camera_info_pub.get_subscription_count() > 0, timeout):
            raise TimeoutError("nobody subscribes to /camera_info")
        self.camera_info_pub.publish(message)
        if not self.camera_info_pub.wait_for_all_acked(Duration(seconds=timeout)):
            raise TimeoutError(f"the camera info was not acknowledged within {timeout} s")

    def diagnostics_values(self) -> dict[str, str]:
        """The key/values of the newest /diagnostics message received ({} before one)."""
        with self.lock:
            arrays = self.received.get("diagnostics")
        return {item.key: item.value for item in arrays[-1].status[0].values} if arrays else {}

    def node_report(self) -> tuple[float | None, dict[str, int]]:
        """From the newest /diagnostics message: its stamp (the newest input image's, in s)
        and the node's counters (``frames_*`` and ``resets``); ``(None, {})`` before one."""
        with self.lock:
            arrays = self.received.get("diagnostics") or self.last_diagnostics
        if not arrays:
            return None, {}
        values = {item.key: item.value for item in arrays[-1].status[0].values}
        counters = {
            key: int(value)
            for key, value in values.items()
            if key.startswith("frames_") or key == "resets"
        }
        return stamp_seconds(arrays[-1].header.stamp), counters

    def call(self, service_type, name: str, request, timeout: float = 30.0):
        client = self.node.create_client(service_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f"service {name} not available")
            future = client.call_async(request)
            deadline = time.monotonic() + timeout
            while not future.done() and time.monotonic() < deadline:
                time.sleep(0.02)
            if not future.done():
                raise TimeoutError(f"service {name} did not answer")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def trigger(self, name: str) -> Trigger.Response:
        return self.call(Trigger, name, Trigger.Request())

    def change_state(self, transition_id: int) -> bool:
        request = ChangeState.Request()
        request.transition.id = transition_id
        return self.call(ChangeState, "/la_pose/change_state", request).success

    def lifecycle_state(self) -> str:
        return self.call(GetState, "/la_pose/get_state", GetState.Request()).current_state.label

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
