"""``la_pose_node``: camera images in, odometry, TF, relative poses and latent actions out.

Outputs: ``~/odometry`` (nav_msgs/Odometry), ``/tf`` (odom -> base_link), ``~/path``,
``~/relative_pose`` and ``~/latent_action`` per used frame, each pair as first reported; and,
with ``streaming.fixed_lag`` = L > 0 (default 3), ``~/odometry/revised``: each frame once its
pair's motion is final, L frames late (the revised trajectory; README, "Revised pairs"; the
frames not yet final are published at deactivate, dropped by ``~/reset``).

A lifecycle node, thin by design: message -> array (:mod:`.image_decoding`) -> the core's
streaming estimator (:class:`la_pose_core.inference.estimator.PoseEstimator`, the same code bag
replay and evaluation use) -> vehicle odometry (:mod:`la_pose_core.odometry`) -> messages
(:mod:`.messages`).

Lifecycle: configure reads and validates the parameters and loads the checkpoint (on the CPU),
with the motion bank of the optional test-time translation refinement (``refinement.*``, checked
against the checkpoint's backbone; every output then carries the refined translation); activate
moves the model to ``model.device`` and creates the publishers, subscriptions and worker
thread; deactivate stops them and frees the GPU; cleanup drops the model.
``autostart: true`` runs configure and activate at start for stacks without a lifecycle manager.
/diagnostics is published every ``output.diagnostics_period_s`` in every lifecycle state: while
the node is not active, its ``state`` is the lifecycle state (``unconfigured``, ``inactive``),
so a monitor never keeps a stale "tracking".

Threading and real time (README, "Real time"): one single-threaded executor runs every
callback; the image subscription hands over the serialised bytes, and its callback only counts
them and stores the newest in a one-slot mailbox (a frame not yet taken when the next one
arrives counts as dropped: no backlog can grow). A worker thread reads the frame's stamp from
the bytes and asks the frame selection first: a frame the model will not use (28 of 30 at
30 Hz) is counted as skipped and never deserialised (:mod:`.delivery`); the others are
deserialised, decoded, run through the estimator and published. The model runs on
``model.threads`` CPU threads (0: all cores but one, left to the executor and DDS). After a
published frame the worker hands the heap's freed pages back to the system, at most every
``model.memory_trim_period_s`` (:mod:`.memory`), so RSS stays the node's live memory.

Where frames go, on /diagnostics: ``frames_lost`` (published, never delivered: gaps in the
publisher's sequence numbers), ``frames_received`` (delivered to the callback), then each of
those ends ``frames_skipped``, ``frames_dropped``, ``frames_ignored``, ``frames_rejected`` or
``frames_used``. A gap over ``streaming.max_gap_s`` in which frames were lost or dropped is a
hole, not a new timeline: the model's track restarts on the first frame after it (no
confirmation frames) while the odometry goes on from its last pose with the gap's unknown
motion in its covariance; it is logged with the count of frames missed and counted in
``holes`` (not in ``resets``).

Bad input (every rejected frame is counted in ``frames_rejected``, its reason logged, throttled,
and kept in ``last_error``, which ``~/reset``, ``~/resume`` or 10 good frames in a row clear):
    - a malformed image or an unsupported encoding (float or signed, e.g. ``32FC1``);
    - a stamp off the track's timeline (``stamps_rejected``): a lone outlier (+1e6 s, 0, one
      frame out of order) is never used and leaves the track, the odometry, /tf and ``~/path``
      as they were; tracking restarts only when the new timeline persists, on its third frame
      in a row (:mod:`la_pose_core.inference.frame_selector`);
    - an image of another size than the track's first frame: a new track takes a new size
      (after ``~/reset``, or a restart on a new timeline);
    - a CameraInfo with a non-finite or zero K or a zero image size: warned about once per kind
      (per activation) and ignored, so no FoV is shown from it and the model is told none.

Services (std_srvs/Trigger): ``~/reset`` restarts the odometry at the identity; ``~/pause``
ignores images from now on; ``~/resume`` listens again and, since frames were missed, also
restarts the odometry at the identity (a new ``odom`` origin, as ``~/reset``).

Output rate (``output_rate.*``): ``model`` publishes once per frame the model uses
(``streaming.target_fps``); ``camera`` once per camera frame (at most ``output_rate.max_hz``)
through the core's ``CameraRateEstimator``: interleaved streams at the model's rate, one
streaming step per frame, chained into one trajectory. Its warm-up (the track's first frame,
then nothing for one model interval) and the frames that begin a stream count as
``frames_skipped``.

Every output carries the stamp of the image it was computed from.
"""

import math
import sys
import threading
import time

import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray
from la_pose_msgs.msg import LatentAction, RelativePose
from nav_msgs.msg import Odometry, Path
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage

from la_pose_core.inference.estimator import PoseEstimator
from la_pose_core.inference.road_step import RoadPlane
from la_pose_ros import diagnostics, messages
from la_pose_ros.delivery import SequenceGaps, serialized_stamp
from la_pose_ros.image_decoding import BadImage
from la_pose_ros.memory import HeapTrimmer
from la_pose_ros.pipeline import BadStamp, OdometryPipeline, load_estimator
from la_pose_ros.settings import NodeSettings, parameter_defaults, settings_from_parameters

NODE_NAME = "la_pose"
RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}


def _on_off(flag: bool) -> str:
    return "on" if flag else "off"


class LaPoseNode(LifecycleNode):
    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        for name, default in parameter_defaults().items():
            self.declare_parameter(name, default)
        self.settings: NodeSettings | None = None
        # loaded on configure (on the CPU), on model.device while active
        self.estimator: PoseEstimator | None = None
        self.pipeline: OdometryPipeline | None = None  # exists while active
        self.stats = diagnostics.NodeStatistics()
        self.paused = False
        self.camera_info: CameraInfo | None = None  # the newest valid one
        self.camera_info_problem: str | None = None  # why the newest one was not valid
        self.camera_info_warned: set[str] = set()  # problems warned about since activation
        self.last_fov: float | None = None
        self.last_reject_log = 0.0  # monotonic time of the last "skipped image" warning
        self.last_input_stamp = None  # builtin_interfaces/Time of the newest image
        self.mailbox_lock = threading.Lock()
        self.mailbox: tuple | None = None  # (serialised message, receipt monotonic time)
        self.image_type = Image  # of the image subscription (CompressedImage when compressed)
        self.sequence_gaps = SequenceGaps()  # frames lost before the image callback
        self.missed = 0  # frames lost or dropped since the worker took the mailbox's frame
        self.missed_since_used = 0  # (worker) frames lost or dropped since the last used frame
        self.camera_period_s: float | None = None  # newest stamp interval of delivered frames
        self.last_delivered_stamp: float | None = None
        self.mailbox_ready = threading.Event()
        self.stop_worker = threading.Event()
        self.pipeline_lock = threading.Lock()  # the worker vs the reset/resume services
        self.worker: threading.Thread | None = None
        self.heap_trimmer: HeapTrimmer | None = None  # made on configure, used by the worker
        self.active_publishers: list = []  # entities of the active state
        self.active_subscriptions: list = []
        self.create_service(Trigger, "~/reset", self.handle_reset)
        self.create_service(Trigger, "~/pause", self.handle_pause)
        self.create_service(Trigger, "~/resume", self.handle_resume)
        # /diagnostics in every lifecycle state (a plain publisher, not a lifecycle one)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.diagnostics_timer = None
        self.start_diagnostics(self.get_parameter("output.diagnostics_period_s").value)

    def start_diagnostics(self, period_s: float) -> None:
        """(Re)start the /diagnostics timer; a period that is not positive means 1 s."""
        period_s = float(period_s) if period_s > 0.0 else 1.0
        if self.diagnostics_timer is not None:
            if self.diagnostics_timer.timer_period_ns == round(period_s * 1e9):
                return
            self.destroy_timer(self.diagnostics_timer)
        self.diagnostics_timer = self.create_timer(period_s, self.publish_diagnostics)

    def lifecycle_state(self) -> str:
        """Label of the current lifecycle state (``unconfigured``, ``inactive``, ``active``,
        ...)."""
        return self._state_machine.current_state[1]

    # --- lifecycle -----------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            values = {name: self.get_parameter(name).value for name in parameter_defaults()}
            self.settings = settings_from_parameters(values)
            self.settings.camera_extrinsics.matrix()  # validates the extrinsics
            if self.settings.input.qos_reliability not in RELIABILITY:
                raise ValueError(f"input.qos_reliability must be one of {sorted(RELIABILITY)}")
            settings = self.settings
            if settings.model.threads < 0:
                raise ValueError(f"model.threads must be 0 or more, got {settings.model.threads}")
            self.heap_trimmer = HeapTrimmer(settings.model.memory_trim_period_s)
            self.start_diagnostics(settings.output.diagnostics_period_s)
            torch.set_num_threads(settings.model.cpu_threads())  # before ONNX Runtime's session
            self.estimator = load_estimator(
                settings.model, settings.refinement, settings.streaming, device="cpu"
            )
            # the road under the camera, from its mounting (base_link on the road), for
            # streaming.road_step; none while the extrinsics put the camera at base_link's height
            mounting = settings.camera_extrinsics.matrix()
            self.estimator.set_road_plane(RoadPlane.from_base_from_camera(mounting))
        except Exception as error:  # any failure leaves the node unconfigured, with the reason
            self.get_logger().error(f"configure failed: {error}")
            return TransitionCallbackReturn.FAILURE
        refinement, refiner, config = "off", self.estimator.refiner, self.estimator.config
        if refiner is not None:
            refinement = (
                f"{self.settings.refinement.checkpoint} (k={refiner.k}, "
                f"{len(refiner.bank)} bank motions)"
            )
        self.get_logger().info(
            f"configured: checkpoint {self.settings.model.checkpoint} "
            f"({config.name}, {config.image_width}x{config.image_height}, "
            f"{self.settings.streaming.target_fps} fps, output rate "
            f"{self.settings.output_rate.mode}, {torch.get_num_threads()} CPU threads); "
            f"mirror averaging {_on_off(self.settings.streaming.mirror_average)}, epipolar yaw "
            f"{_on_off(self.settings.streaming.epipolar_yaw)}, road step "
            f"{self._road_step_state()}; refinement {refinement}; {self._revised_state()}"
        )
        return TransitionCallbackReturn.SUCCESS

    def _revised_state(self) -> str:
        """~/odometry/revised for the configure log: how late, or off."""
        lag = self.estimator.config.fixed_lag  # streaming.fixed_lag, bounded by the window
        if lag == 0 or self.settings.output_rate.mode == "camera":
            return "revised odometry off"
        return (
            f"revised odometry {lag} frames late ({lag / self.settings.streaming.target_fps:g} s)"
        )

    def _road_step_state(self) -> str:
        """streaming.road_step for the configure log: off, or on with the road it uses."""
        if not self.settings.streaming.road_step:
            return "off"
        plane = self.estimator.road_plane
        if plane is None:
            return "on but inert (camera_extrinsics put the camera at base_link's height)"
        return f"on (camera {plane.height_m:.2f} m above the road)"

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        settings = self.settings
        estimator = self.estimator
        try:
            estimator.to(settings.model.device)
        except Exception as error:
            self.get_logger().error(f"activate failed: {error}")
            return TransitionCallbackReturn.FAILURE
        self.pipeline = OdometryPipeline(estimator, settings)
        self.pipeline.set_camera_info(self.camera_info)
        self.camera_info_warned.clear()
        self.create_io(settings)
        self.stop_worker.clear()
        self.worker = threading.Thread(target=self.run_worker, name="la_pose_worker", daemon=True)
        self.worker.start()
        self.stats.state = diagnostics.WAITING
        self.get_logger().info(
            f"active on {estimator.device} ({settings.model.precision}); "
            f"listening to {self.resolve_topic_name(settings.input.image_topic)}"
            + (" (compressed)" if settings.input.compressed else "")
        )
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop_io(finish=True)
        self.free_model_memory()
        self.stats.state = diagnostics.INACTIVE
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.estimator = None
        self.settings = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop_io()
        return TransitionCallbackReturn.SUCCESS

    def create_io(self, settings: NodeSettings) -> None:
        qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=settings.input.qos_depth,
            reliability=RELIABILITY[settings.input.qos_reliability],
        )
        self.image_type = CompressedImage if settings.input.compressed else Image
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.publishers_by_output = {  # keys: la_pose_ros.pipeline.OUTPUTS
            "odometry": self.create_publisher(Odometry, "~/odometry", 10),
            "odometry_revised": self.create_publisher(Odometry, "~/odometry/revised", 10),
            "path": self.create_publisher(Path, "~/path", 1),
            "relative_pose": self.create_publisher(RelativePose, "~/relative_pose", 10),
            "latent_action": self.create_publisher(LatentAction, "~/latent_action", 10),
            "tf": self.create_publisher(TFMessage, "/tf", 10),
            "tf_static": self.create_publisher(TFMessage, "/tf_static", latched),
        }
        self.active_publishers = list(self.publishers_by_output.values())
        self.active_subscriptions = [
            self.create_subscription(  # serialised bytes: see on_image
                self.image_type, settings.input.image_topic, self.on_image, qos, raw=True
            ),
            self.create_subscription(
                CameraInfo, settings.input.camera_info_topic, self.on_camera_info, qos
            ),
        ]

    def stop_io(self, finish: bool = False) -> None:
        """Stop the worker and the topics; with ``finish``, first publish the revised odometry
        of the frames not yet final (the stream ends here)."""
        self.stop_worker.set()
        self.mailbox_ready.set()
        if self.worker is not None:
            self.worker.join(timeout=10.0)
            self.worker = None
        if finish and self.pipeline is not None and self.active_publishers:
            with self.pipeline_lock:
                _, revised = self.pipeline.finish()
            for message in revised:
                self.publishers_by_output["odometry_revised"].publish(message)
        for subscription in self.active_subscriptions:
            self.destroy_subscription(subscription)
        for publisher in self.active_publishers:
            self.destroy_publisher(publisher)
        self.active_subscriptions, self.active_publishers = [], []
        with self.mailbox_lock:
            self.mailbox = None
            self.missed = 0
        self.missed_since_used = 0
        self.sequence_gaps = SequenceGaps()
        self.camera_period_s = self.last_delivered_stamp = None

    def free_model_memory(self) -> None:
        if self.estimator is not None:
            self.estimator.to("cpu")
        self.pipeline = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # --- input ---------------------------------------------------------------------------

    def on_image(self, data: bytes, info) -> None:
        """Subscription callback (the serialised image): count the frames lost before it, keep
        only the newest for the worker."""
        lost = self.sequence_gaps.note(info.get("publication_sequence_number"))
        self.stats.lost += lost
        self.stats.received += 1  # before the worker can see it: in flight, never negative
        self.stats.input_rate.tick()
        with self.mailbox_lock:
            self.missed += lost
            if self.mailbox is not None:
                self.stats.dropped += 1
                self.missed += 1
            self.mailbox = (data, time.monotonic())
        self.note_camera_period(serialized_stamp(data))
        self.mailbox_ready.set()

    def note_camera_period(self, stamp) -> None:
        """Keep the newest stamp and the camera's frame interval (two consecutive deliveries
        less than ``streaming.max_gap_s`` apart)."""
        if stamp is None:
            return
        self.last_input_stamp = stamp
        seconds = messages.stamp_to_seconds(stamp)
        if self.last_delivered_stamp is not None:
            interval = seconds - self.last_delivered_stamp
            if 0.0 < interval < self.settings.streaming.max_gap_s:
                self.camera_period_s = interval
        self.last_delivered_stamp = seconds

    def on_camera_info(self, message: CameraInfo) -> None:
        """Keep a valid CameraInfo; warn once per kind of defect about an invalid one, and
        forget the previous one (its FoV would no longer describe the camera)."""
        problem = diagnostics.camera_info_problem(message)
        if problem is not None and problem not in self.camera_info_warned:
            self.camera_info_warned.add(problem)
            k = ", ".join(f"{value:g}" for value in message.k)
            self.get_logger().warning(
                f"invalid camera_info ignored: {problem} (K [{k}], image "
                f"{message.width}x{message.height}); no camera FoV check until a valid one"
            )
        self.camera_info = message if problem is None else None
        self.camera_info_problem = problem
        pipeline = self.pipeline
        if pipeline is not None:  # one float for the worker's next step: no lock needed
            pipeline.set_camera_info(self.camera_info)

    def run_worker(self) -> None:
        while not self.stop_worker.is_set():
            self.mailbox_ready.wait()
            with self.mailbox_lock:
                item, self.mailbox = self.mailbox, None
                self.missed_since_used += self.missed
                self.missed = 0
                self.mailbox_ready.clear()
            if item is None or self.stop_worker.is_set():
                continue
            try:
                self.process(*item)
            except BadImage as error:
                self.reject(item[0], str(error), bad_stamp=isinstance(error, BadStamp))
            except Exception as error:  # keep running: one bad frame must not stop odometry
                self.reject(item[0], f"{type(error).__name__}: {error}")

    def reject(self, data: bytes, reason: str, bad_stamp: bool = False) -> None:
        """Count and log a skipped frame; the same reason is logged at most once a second."""
        now = time.monotonic()
        repeated = reason == self.stats.last_error and now - self.last_reject_log < 1.0
        self.stats.note_error(reason)  # before the count: see NodeStatistics
        if bad_stamp:
            self.stats.bad_stamps += 1
        self.stats.rejected += 1
        if not repeated:
            self.last_reject_log = now
            stamp = serialized_stamp(data)
            at = "" if stamp is None else f" at {messages.stamp_to_seconds(stamp):.3f} s"
            self.get_logger().warning(f"skipped image{at}: {reason}")

    def process(self, data: bytes, received_at: float) -> None:
        """One serialised image: decided by stamp, and only deserialised when it will be used."""
        if self.paused:
            self.stats.ignored += 1
            return
        started = time.perf_counter()
        with self.pipeline_lock:
            stamp = serialized_stamp(data)
            if stamp is not None and self.pipeline.skips(messages.stamp_to_seconds(stamp)):
                output = None  # frame-rate selection, without deserialising the image
            else:
                message = deserialize_message(data, self.image_type)
                self.bridge_hole(messages.stamp_to_seconds(message.header.stamp))
                output = self.pipeline.process(message)
        self.stats.note_good()  # before the count: see NodeStatistics
        if output is None:
            self.stats.skipped += 1  # frame-rate selection: too soon after the previous used
            return
        self.missed_since_used = 0
        self.stats.step_times_ms.append((time.perf_counter() - started) * 1e3)
        for key, outgoing in output.outgoing():
            self.publishers_by_output[key].publish(outgoing)
        with self.stats.lock:
            self.stats.latencies_ms.append((time.monotonic() - received_at) * 1e3)
        self.stats.used += 1
        self.stats.output_rate.tick()
        self.heap_trimmer.maybe_trim()  # the freed frame buffers back to the system: README
        result = output.result
        if result.fov is not None:
            self.last_fov = result.fov
        if result.state == diagnostics.RESET:
            self.stats.resets += 1
            self.get_logger().warning(
                f"tracking restarted at {result.stamp:.3f} s on a new timeline "
                f"({self.pipeline.estimator.selector.confirm_frames} frames in a row went "
                f"backwards or came over {self.settings.streaming.max_gap_s} s after the track)"
            )
        self.stats.state = result.state

    def bridge_hole(self, stamp: float) -> None:
        """A frame over ``streaming.max_gap_s`` after the track's last used one, with frames
        lost or dropped since, and no longer after it than those frames explain (at most twice
        their count, plus one, camera periods: a stamp glitch stays an outlier): a hole in the
        stream, not a new timeline. The model's track restarts on this frame, the odometry goes
        on from its last pose (see the module docstring). Call with ``pipeline_lock`` held."""
        missed, period = self.missed_since_used, self.camera_period_s
        if not missed or period is None or not self.pipeline.after_gap(stamp):
            return
        gap = stamp - self.pipeline.estimator.selector.last_kept
        if gap > 2.0 * (missed + 1) * period:
            return
        self.pipeline.restart_track()
        self.stats.holes += 1
        self.get_logger().warning(
            f"hole of {gap:.2f} s in the image stream before {stamp:.3f} s: "
            f"{self.missed_since_used} frames lost before the callback or dropped by the node; "
            "the model's track restarts on this frame, the odometry goes on from its last pose"
        )
        self.missed_since_used = 0

    def publish_diagnostics(self) -> None:
        self.diagnostics_pub.publish(self.diagnostics_message())

    def diagnostics_message(self) -> DiagnosticArray:
        pipeline, estimator, settings = self.pipeline, self.estimator, self.settings
        lifecycle = self.lifecycle_state()
        extra = {
            "lifecycle_state": lifecycle,
            "device": str(pipeline.estimator.device) if pipeline else "none",
        }
        if settings is not None:
            extra["output_rate_mode"] = settings.output_rate.mode
        if self.heap_trimmer is not None:
            extra["memory_trims"] = str(self.heap_trimmer.count)  # model.memory_trim_period_s
            refiner = estimator.refiner if estimator is not None else None
            extra.update(diagnostics.refinement_values(refiner, settings.refinement.checkpoint))
        if self.last_fov is not None:
            extra["predicted_vertical_fov_deg"] = f"{math.degrees(self.last_fov):.2f}"
        if self.camera_info_problem is not None:
            extra["camera_info"] = f"invalid: {self.camera_info_problem}"
        elif pipeline is not None and pipeline.estimator.camera_fov is not None:
            # the model input's FoV from the newest valid CameraInfo: what the model is told
            fov = pipeline.estimator.camera_fov
            extra["camera_info_vertical_fov_deg"] = f"{math.degrees(fov):.2f}"
        if lifecycle != "active":
            state = lifecycle
        else:
            state = diagnostics.PAUSED if self.paused else self.stats.state
        stamp = self.last_input_stamp or self.get_clock().now().to_msg()
        return self.stats.to_message(stamp, self.get_name(), extra, state)

    # --- services ------------------------------------------------------------------------

    def handle_reset(self, request, response):
        if self.pipeline is None:
            response.success, response.message = False, "not active"
            return response
        with self.pipeline_lock:
            self.pipeline.reset()
        self.stats.clear_error()
        self.stats.resets += 1
        self.stats.state = diagnostics.WAITING
        response.success, response.message = True, "odometry reset to the identity"
        self.get_logger().info("odometry reset by service call")
        return response

    def handle_pause(self, request, response):
        self.paused = True
        response.success, response.message = True, "paused: images are ignored"
        return response

    def handle_resume(self, request, response):
        """Listen again; the frames missed while paused break the track, so the odometry
        restarts at the identity (as after ``~/reset``)."""
        with self.pipeline_lock:
            if self.pipeline is not None:
                self.pipeline.reset()  # frames were skipped: start over
                self.stats.state = diagnostics.WAITING
        self.stats.clear_error()
        self.paused = False
        response.success = True
        response.message = "resumed: odometry restarts at the identity (frames were missed)"
        return response


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    node = LaPoseNode()
    executor = SingleThreadedExecutor()  # measured: README, "Real time"
    executor.add_node(node)
    try:
        if node.get_parameter("autostart").value:
            if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                node.trigger_activate()
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # SIGINT shuts the context down at once (rclpy's signal handler); a timer callback or
        # the executor's next wait that was already under way then fails with an RCLError
        # ("publisher's context is invalid"). That is a stop, not a failure.
        if rclpy.ok():
            raise
    finally:
        node.stop_io()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
