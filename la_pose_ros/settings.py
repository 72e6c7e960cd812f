"""The node's parameters as typed sections, mirrored one-to-one by ``config/la_pose.yaml``.

Each section is a dataclass; parameter ``<section>.<field>`` is declared with the field's
default. Sections shared with the ROS-free core are the core's own dataclasses
(``streaming`` = :class:`la_pose_core.model.config.StreamingConfig`, ``covariance`` =
:class:`la_pose_core.odometry.CovarianceModel`, ``refinement`` =
:class:`la_pose_core.model.config.RefinementConfig`, ``output_rate`` =
:class:`la_pose_core.model.config.OutputRateConfig`); the rest are ROS-only.
The model architecture is not a parameter: it comes with the checkpoint, which carries its own
config."""

import os
from dataclasses import dataclass, field, fields, replace

import numpy as np

from la_pose_core.geometry import BASE_FROM_OPTICAL, make_pose, matrix_from_quaternion
from la_pose_core.geometry.rotations import quaternion_from_matrix
from la_pose_core.model.config import OutputRateConfig, RefinementConfig, StreamingConfig
from la_pose_core.odometry import CovarianceModel

DEFAULT_CAMERA_ROTATION = [float(v) for v in quaternion_from_matrix(BASE_FROM_OPTICAL[:3, :3])]


@dataclass(frozen=True)
class ModelSettings:
    checkpoint: str = ""  # path of an LA-Pose checkpoint (.pt) holding a pose estimator
    device: str = "auto"  # auto (CUDA if available, else CPU), cpu, cuda, cuda:N
    precision: str = "fp32"  # fp32, or bf16 (autocast on CUDA only)
    runtime: str = "torch"  # torch, or onnxruntime: the checkpoint's export (la-pose export)
    onnx_dir: str = ""  # export folder of runtime onnxruntime; empty: the checkpoint's .onnx
    threads: int = 0  # CPU threads of the model (torch, ONNX Runtime); 0: all cores but one,
    # left to the executor and the DDS threads (at least 1)
    memory_trim_period_s: float = 0.25  # after a published frame, hand the heap's freed pages
    # back to the system at most this often (glibc malloc_trim; la_pose_ros/memory.py); 0: never

    def cpu_threads(self) -> int:
        """The number of threads ``threads`` stands for on this machine."""
        if self.threads > 0:
            return self.threads
        return max(1, (os.cpu_count() or 1) - 1)


@dataclass(frozen=True)
class InputSettings:
    image_topic: str = "image_raw"
    compressed: bool = False  # subscribe to sensor_msgs/CompressedImage on image_topic instead
    camera_info_topic: str = "camera_info"  # optional: the camera FoV (diagnostics; a FoV head)
    qos_reliability: str = "best_effort"  # best_effort (sensor data) or reliable
    qos_depth: int = 5
    max_image_width: int = 4096  # larger images are rejected (logged and skipped)
    max_image_height: int = 4096


@dataclass(frozen=True)
class FrameSettings:
    odom_frame: str = "odom"
    base_frame: str = "base_link"
    camera_frame: str = ""  # camera optical frame id; empty: the image header's frame_id


@dataclass(frozen=True)
class CameraExtrinsics:
    """Pose ``base_from_camera`` of the camera optical frame in ``base_link``."""

    translation: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # metres
    rotation: list[float] = field(default_factory=lambda: list(DEFAULT_CAMERA_ROTATION))  # xyzw

    def matrix(self) -> np.ndarray:
        if len(self.translation) != 3 or len(self.rotation) != 4:
            raise ValueError(
                "camera_extrinsics needs translation [x, y, z] and rotation [x, y, z, w]"
            )
        return make_pose(matrix_from_quaternion(self.rotation), self.translation)


@dataclass(frozen=True)
class OutputSettings:
    publish_tf: bool = True  # odom -> base_link on /tf
    invert_tf: bool = False  # publish base_link -> odom instead (when another node owns odom)
    publish_static_tf: bool = True  # base_link -> camera optical frame on /tf_static
    path_max_length: int = 1000  # poses kept in nav_msgs/Path
    diagnostics_period_s: float = 1.0


@dataclass(frozen=True)
class NodeSettings:
    autostart: bool = True  # configure and activate at start (no lifecycle manager needed)
    model: ModelSettings = field(default_factory=ModelSettings)
    # mirror averaging on: a left or right bias of the model cancels (the 48-drive head's AUC@5
    # 75.9 -> 85.1 on the evaluation drives, KITTI ATE-M 2.81 -> 2.35 m), for a second view of
    # each frame through the backbone in the same batch (README, "Mirror averaging")
    # the epipolar yaw on: each pair's yaw corrected against keypoint matches (README, "Epipolar
    # yaw refinement": AUC@5 73.9 -> 85.9 on the evaluation drives), 6-14 ms per frame
    # fixed_lag 3: ~/odometry/revised, each pair's motion revised until 3 later pairs have come,
    # 1.5 s late at 2 fps (README, "Revised pairs": AUC@5 89.9 -> 91.2, step correlation
    # 0.72 -> 0.83 on the evaluation drives), 4-5 ms per frame; the live odometry, TF and path
    # keep each pair as first reported
    streaming: StreamingConfig = field(
        default_factory=lambda: StreamingConfig(mirror_average=True, epipolar_yaw=True, fixed_lag=3)
    )
    covariance: CovarianceModel = field(default_factory=CovarianceModel)
    refinement: RefinementConfig = field(default_factory=RefinementConfig)  # off: checkpoint ""
    input: InputSettings = field(default_factory=InputSettings)
    frames: FrameSettings = field(default_factory=FrameSettings)
    camera_extrinsics: CameraExtrinsics = field(default_factory=CameraExtrinsics)
    output: OutputSettings = field(default_factory=OutputSettings)
    # one pose per model frame (model) or per camera frame (camera, capped at max_hz)
    output_rate: OutputRateConfig = field(default_factory=OutputRateConfig)


def parameter_defaults(settings: NodeSettings = NodeSettings()) -> dict[str, object]:
    """Flat ``{"section.field": value}`` of every parameter (top-level fields without a dot)."""
    flat: dict[str, object] = {}
    for section in fields(settings):
        value = getattr(settings, section.name)
        if hasattr(value, "__dataclass_fields__"):
            for item in fields(value):
                flat[f"{section.name}.{item.name}"] = getattr(value, item.name)
        else:
            flat[section.name] = value
    return flat


def settings_from_parameters(values: dict[str, object]) -> NodeSettings:
    """Inverse of :func:`parameter_defaults`: rebuild (and validate) the typed settings."""
    settings = NodeSettings()
    updates: dict[str, object] = {}
    for section in fields(settings):
        current = getattr(settings, section.name)
        if hasattr(current, "__dataclass_fields__"):
            section_values = {
                item.name: coerce(
                    values[f"{section.name}.{item.name}"], getattr(current, item.name)
                )
                for item in fields(current)
            }
            updates[section.name] = replace(current, **section_values)
        else:
            updates[section.name] = values[section.name]
    return replace(settings, **updates)


def coerce(value: object, default: object) -> object:
    """ROS gives ints for float parameters written without a dot, and arrays as lists."""
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, list):
        return [float(v) for v in value]
    return value
