"""The node's whole per-image path without ROS I/O, shared by the node and bag replay.

image message -> :func:`decode_image_message` -> the core's streaming ``PoseEstimator`` -> the
core's ``VehicleOdometry`` -> output messages keyed by :data:`OUTPUTS`. With ``output_rate.mode:
camera`` the estimator is the core's ``CameraRateEstimator`` over the same modules (one output
per camera frame, each a pair spanning one model interval, chained by the core) and the
odometry takes its chained pose (``VehicleOdometry.update_on_track``). The node publishes them;
bag replay writes them; both therefore produce the same messages from the same images.
:func:`load_estimator` builds that estimator for both, with the optional test-time translation
refinement (``refinement.*``): the refined translation is then what every output carries.

Revised odometry (``streaming.fixed_lag`` = L > 0, model rate): the estimator revises each pair
until L later pairs have come; the core's :class:`~la_pose_core.inference.final_pairs.FinalPairs`
gives out each used frame once its pair is final, and a second ``VehicleOdometry`` chains those
into ``odometry_revised``: the revised trajectory, L frames late and never changed after. The
live outputs (odometry, TF, path) keep each pair as first reported (README, "Revised pairs").
"""

import os
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from builtin_interfaces.msg import Time
from nav_msgs.msg import Path
from tf2_msgs.msg import TFMessage

from la_pose_core.export.manifest import NotAnExportError
from la_pose_core.geometry import inverse, quaternion_from_matrix
from la_pose_core.inference.camera_rate import CameraRateEstimator, online_estimator
from la_pose_core.inference.estimator import RUNTIMES, PoseEstimator, StepResult
from la_pose_core.inference.final_pairs import FinalPair, FinalPairs
from la_pose_core.inference.frame_selector import Selection
from la_pose_core.model.checkpoint import NotACheckpointError
from la_pose_core.model.config import RefinementConfig, StreamingConfig
from la_pose_core.odometry import OdometryEstimate, VehicleOdometry
from la_pose_ros import messages
from la_pose_ros.diagnostics import camera_info_vertical_fov
from la_pose_ros.image_decoding import BadImage, decode_image_message
from la_pose_ros.settings import ModelSettings, NodeSettings

OUTPUTS = (
    "odometry",
    "tf",
    "tf_static",
    "path",
    "relative_pose",
    "latent_action",
    "odometry_revised",
)
"""Keys of :attr:`PipelineOutput.messages` (topics: see the node and replay). The value of
``odometry_revised`` is a list: the frames an image made final (none, one, or the rest of a
track that ended)."""

DEFAULT_CAMERA_FRAME = "camera_optical"


class BadStamp(BadImage):
    """A frame whose stamp is off the track's timeline (an outlier, or one of the first frames
    of a new timeline): not used, the track and the odometry unchanged."""


class ConfigurationError(ValueError):
    """The model or refinement parameters do not give a working estimator (the reason says
    which parameter, which file and why)."""


def load_estimator(
    model: ModelSettings,
    refinement: RefinementConfig,
    streaming: StreamingConfig | None = None,
    device: str | None = None,
) -> PoseEstimator:
    """The pose estimator of ``model.checkpoint``, refining its translations with
    ``refinement.checkpoint``'s motion bank when that is set; with ``model.runtime:
    onnxruntime`` its networks run from the ONNX export in ``model.onnx_dir`` (empty: the
    checkpoint's path with ``.onnx``, where ``la-pose export`` writes).

    Args:
        streaming: frame selection; None keeps the checkpoint's own.
        device: overrides ``model.device`` (the node loads on the CPU at configure).
    Raises:
        ConfigurationError: a file is missing or unreadable, the checkpoint holds no estimator,
            the refinement file holds no motion bank or was made for another backbone,
            ``refinement.k`` is out of range, ``model.runtime`` is unknown, or the ONNX export
            is missing, corrupt or made from other weights.
    """
    if not model.checkpoint:
        raise ConfigurationError("model.checkpoint is not set")
    if model.runtime not in RUNTIMES:
        raise ConfigurationError(f"model.runtime must be one of {RUNTIMES}, got {model.runtime!r}")
    for name, path in (
        ("model.checkpoint", model.checkpoint),
        ("refinement.checkpoint", refinement.checkpoint),
    ):
        if path and not os.path.isfile(path):
            raise ConfigurationError(f"{name}: no such file {path}")
    if refinement.checkpoint and refinement.k < 1:
        raise ConfigurationError(f"refinement.k must be at least 1, got {refinement.k}")
    device = device or model.device
    try:
        return PoseEstimator.from_checkpoint(
            model.checkpoint,
            device,
            model.precision,
            refinement,
            streaming,
            runtime=model.runtime,
            onnx_dir=model.onnx_dir or None,
        )
    except NotACheckpointError as error:  # its message names the file and says why
        raise ConfigurationError(str(error)) from error
    except NotAnExportError as error:  # names the folder and says why
        raise ConfigurationError(f"model.runtime onnxruntime: {error}") from error
    except Exception as error:  # loading only: say which files, keep the core's reason
        files = f"model.checkpoint {model.checkpoint}"
        if refinement.checkpoint:
            files += f" with refinement.checkpoint {refinement.checkpoint}"
        raise ConfigurationError(f"cannot load {files}: {error}") from error


@dataclass(frozen=True)
class PipelineOutput:
    result: StepResult
    estimate: OdometryEstimate
    # key of OUTPUTS -> rclpy message (odometry_revised: a list); a key is absent when it has no
    # message. Publish or write them before the next process() call: the path message is the
    # pipeline's own, updated
    messages: dict
    revised: tuple[OdometryEstimate, ...] = ()  # the revised odometry of the frames made final

    def outgoing(self) -> Iterator[tuple[str, Any]]:
        """``(key, message)`` of every message to publish, in order."""
        for key, message in self.messages.items():
            for each in message if isinstance(message, list) else (message,):
                yield key, each


class OdometryPipeline:
    """Stateful: feed every image message of one camera stream in stamp order.

    Bad input raises :class:`BadImage` with a one-line reason and leaves the track as it was:
    a malformed image; a stamp off the track's timeline (:class:`BadStamp`: a lone outlier is
    never used; tracking restarts when a new timeline persists, see
    :mod:`la_pose_core.inference.frame_selector`); an image whose size differs from the
    track's. The image size is that of the first frame of the track: a new track (after
    :meth:`reset`, or a restart on a new timeline) takes the size of its first frame, so a
    camera that changed resolution is accepted again after a reset.
    """

    def __init__(self, estimator: PoseEstimator, settings: NodeSettings) -> None:
        # settings.output_rate.mode camera: a CameraRateEstimator over estimator's modules
        self.estimator = online_estimator(estimator, settings.output_rate)
        self.camera_rate = isinstance(self.estimator, CameraRateEstimator)
        self.settings = settings
        self.base_from_camera = settings.camera_extrinsics.matrix()
        self.odometry = VehicleOdometry(self.base_from_camera, settings.covariance)
        self.path = Path()
        self.stream_size: tuple[int, int] | None = None  # (height, width) of the track's images
        # seconds -> builtin_interfaces/Time of the track's recent images (a pair's earlier one)
        self.input_stamps: OrderedDict[float, Time] = OrderedDict()
        self.stamp_horizon_s = settings.streaming.max_gap_s + 2.0 / settings.streaming.target_fps
        self.static_tf_sent = False
        # the revised odometry (module docstring); camera-rate streams revise nothing
        fixed_lag = 0 if self.camera_rate else estimator.config.fixed_lag
        self.final_pairs = FinalPairs(fixed_lag) if fixed_lag > 0 else None
        self.revised_odometry = VehicleOdometry(self.base_from_camera, settings.covariance)
        self.revised_stamps: deque[Time] = deque()  # of the used frames not yet final, in order

    @property
    def revises(self) -> bool:
        """Whether the pipeline gives out revised odometry (``streaming.fixed_lag`` > 0 at the
        model's rate)."""
        return self.final_pairs is not None

    def set_camera_info(self, info) -> None:
        """The camera's sensor_msgs/CameraInfo (None: unknown) -> the vertical FoV of the
        model input, which a pose head with ``camera_fov_input`` is told. An invalid one
        (:func:`la_pose_ros.diagnostics.camera_info_problem`) counts as unknown."""
        config = self.estimator.config
        fov = (
            None
            if info is None
            else camera_info_vertical_fov(info, config.image_height, config.image_width)
        )
        self.estimator.set_camera_fov(fov)

    def reset(self) -> None:
        """Forget the track and the odometry: the next image starts at the identity, with its
        own size."""
        self.estimator.reset()
        self.odometry.reset()
        self.path.poses = []
        self.input_stamps.clear()
        self.stream_size = None
        if self.final_pairs is not None:  # the track's pairs not yet final are dropped with it
            self.final_pairs.reset()
            self.revised_odometry.reset()
            self.revised_stamps.clear()

    def skips(self, stamp: float) -> bool:
        """The estimator's frame selection would not use a frame stamped ``stamp`` (s): too soon
        after the last used one, or a duplicate. The node asks before deserialising an image."""
        return self.estimator.selector.decide(stamp) is Selection.SKIP

    def after_gap(self, stamp: float) -> bool:
        """``stamp`` comes more than ``streaming.max_gap_s`` after the track's last used frame
        (without other knowledge, a frame off the track's timeline)."""
        selector = self.estimator.selector
        return selector.last_kept is not None and stamp - selector.last_kept > selector.max_gap_s

    def restart_track(self) -> None:
        """Begin a new model track on the next image but keep the odometry: it goes on from
        its last pose, with the gap's unknown motion in its covariance (a hole in a stream, not a
        new timeline)."""
        self.estimator.reset()
        self.input_stamps.clear()
        self.stream_size = None

    def process(self, message) -> PipelineOutput | None:
        """One sensor_msgs/Image or CompressedImage (rclpy or rosbags object).

        Returns None when the estimator does not use the frame (frame-rate selection). Raises
        :class:`BadImage` for a malformed image or one of another size than the track's
        (nothing changes then), :class:`BadStamp` for a stamp off the track's timeline (only
        the frame selector's count of a new timeline changes).
        """
        limits = self.settings.input
        image = decode_image_message(message, limits.max_image_width, limits.max_image_height)
        stamp = messages.stamp_to_seconds(message.header.stamp)
        selector = self.estimator.selector
        selection = selector.decide(stamp)
        if selection is Selection.OUTLIER:
            selector.select(stamp)  # counts towards a new timeline
            raise BadStamp(
                f"stamp off the track's timeline ({stamp:.3f} s, track at "
                f"{selector.last_seen:.3f} s; frame {selector.candidate_frames} of the "
                f"{selector.confirm_frames} in a row that restart tracking on a new timeline)"
            )
        size = image.shape[:2]
        if self.stream_size is not None and size != self.stream_size and not selection.restarts:
            height, width = self.stream_size
            raise BadImage(
                f"image is {size[1]}x{size[0]}, the stream is {width}x{height} (a new size "
                "is taken when tracking restarts: call ~/reset)"
            )
        self.remember_stamp(stamp, message.header.stamp, restart=selection.restarts)
        result = self.estimator.step(image, stamp)
        if result is None:
            return None
        if selection.restarts:
            self.stream_size = size
        estimate = self.update_odometry(result)
        out = self.build_messages(message.header, result, estimate)
        revised = ()
        if self.final_pairs is not None:
            header_stamp = message.header.stamp
            self.revised_stamps.append(Time(sec=header_stamp.sec, nanosec=header_stamp.nanosec))
            revised, out["odometry_revised"] = self.chain_final_pairs(self.final_pairs.push(result))
        return PipelineOutput(result, estimate, out, revised)

    def finish(self) -> tuple[tuple[OdometryEstimate, ...], list]:
        """The end of the stream: the revised odometry of the frames not yet final (their
        pairs at their latest estimates) and its messages; nothing when the pipeline revises
        nothing."""
        if self.final_pairs is None:
            return (), []
        return self.chain_final_pairs(self.final_pairs.flush())

    def chain_final_pairs(
        self, final: list[FinalPair]
    ) -> tuple[tuple[OdometryEstimate, ...], list]:
        """The revised odometry of frames made final, and its nav_msgs/Odometry messages."""
        estimates, messages_out = [], []
        frames = self.settings.frames
        for pair in final:  # every used frame once, in order: so are the stamps kept
            stamp = self.revised_stamps.popleft()
            translation = quaternion = None
            if pair.motion is not None:
                translation = pair.motion[:3, 3]
                quaternion = quaternion_from_matrix(pair.motion[:3, :3])
            estimate = self.revised_odometry.update(
                pair.stamp, pair.previous_stamp, translation, quaternion
            )
            estimates.append(estimate)
            messages_out.append(
                messages.odometry_message(estimate, stamp, frames.odom_frame, frames.base_frame)
            )
        return tuple(estimates), messages_out

    def remember_stamp(self, seconds: float, stamp, restart: bool) -> None:
        """Keep the exact Time of a used image for the messages of a later pair starting at
        it (forgotten past the horizon, and when a track restarts)."""
        if restart:
            self.input_stamps.clear()
        self.input_stamps[seconds] = Time(sec=stamp.sec, nanosec=stamp.nanosec)
        while next(iter(self.input_stamps)) < seconds - self.stamp_horizon_s:
            self.input_stamps.popitem(last=False)

    def update_odometry(self, result: StepResult) -> OdometryEstimate:
        """Vehicle odometry after ``result``: chained per pair (model rate), or from the
        camera-rate estimator's chained pose."""
        pair = (result.stamp, result.previous_stamp, result.translation, result.quaternion)
        if self.camera_rate:
            return self.odometry.update_on_track(*pair, result.world_from_cam)
        return self.odometry.update(*pair)

    def build_messages(self, header, result: StepResult, estimate: OdometryEstimate) -> dict:
        settings = self.settings
        # the input's stamp, copied field by field (exact; also from rosbags messages)
        stamp = Time(sec=header.stamp.sec, nanosec=header.stamp.nanosec)
        camera_frame = settings.frames.camera_frame or header.frame_id or DEFAULT_CAMERA_FRAME
        odom_frame, base_frame = settings.frames.odom_frame, settings.frames.base_frame
        out = {}
        if settings.output.publish_static_tf and not self.static_tf_sent:
            static = messages.transform_stamped(
                self.base_from_camera, stamp, base_frame, camera_frame
            )
            out["tf_static"] = TFMessage(transforms=[static])
            self.static_tf_sent = True

        odometry = messages.odometry_message(estimate, stamp, odom_frame, base_frame)
        out["odometry"] = odometry
        if settings.output.publish_tf:
            if settings.output.invert_tf:
                tf = messages.transform_stamped(
                    inverse(estimate.odom_from_base), stamp, base_frame, odom_frame
                )
            else:
                tf = messages.transform_stamped(
                    estimate.odom_from_base, stamp, odom_frame, base_frame
                )
            out["tf"] = TFMessage(transforms=[tf])

        if estimate.started_over:
            self.path.poses = []  # odometry starts again at the identity: so does the path
        self.path.header = odometry.header
        self.path.poses.append(messages.pose_stamped(odometry))
        del self.path.poses[: -settings.output.path_max_length]
        out["path"] = self.path

        previous = self.input_stamps.get(result.previous_stamp)  # the pair's earlier image
        if result.translation is not None and previous is not None:
            covariance = settings.covariance.step_covariance(result.translation)
            out["relative_pose"] = messages.relative_pose_message(
                result, stamp, previous, camera_frame, covariance
            )
            out["latent_action"] = messages.latent_action_message(
                result, stamp, previous, camera_frame
            )
        return out
