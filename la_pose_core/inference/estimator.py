"""Online camera odometry: one image at a time in, relative and accumulated pose out.

:meth:`PoseEstimator.step` does, per incoming image:

1. frame selection by stamp (:mod:`.frame_selector`): frames come in at camera rate, the model
   sees about ``streaming.target_fps``; skipped frames return None. A lone stamp off the
   track's timeline (backwards, or over ``streaming.max_gap_s`` ahead) is an outlier: skipped,
   the track unchanged. A new timeline that persists (a few frames in a row) clears the state,
   and its frame starts a new track;
2. preprocessing (:mod:`.preprocess`): centre crop to the model aspect, resize, [0, 1] floats;
3. the inverse dynamics model on that one frame, against the cached temporal keys/values of the
   previous frames of the window (at most ``clip_len`` frames;
   :class:`~la_pose_core.model.inverse_dynamics.InverseDynamicsStream`): the cost of one frame,
   not of the window, and the latent action of the pair (previous frame, this frame);
4. the pose head over the window's latent actions (at most ``clip_len - 1``): a motion for
   every pair of the window, the newest pair's reported;
   With ``streaming.mirror_average`` the frame and its left-right flip go through 3-4 as a
   batch of two streams, and the pair's motion is the mean of the one and the other mirrored
   back (:func:`average_with_mirror`): a turn the model adds whatever the images show cancels;
5. with ``streaming.epipolar_yaw``, the newest pair's yaw corrected against the XFeat keypoint
   matches between its two frames (:mod:`.epipolar_yaw`; with mirror averaging, those between
   the mirrored frames too, flipped back), the rest of its motion kept; with
   ``streaming.road_step`` and the road known (:meth:`PoseEstimator.set_road_plane`), its step
   length read from the road's image motion (:mod:`.road_step`), its direction kept;
6. optional test-time refinement of the newest pair's metric translation against a bank of
   post-training motions (Camera Pose Auto-Encoder; :mod:`la_pose_core.pose_autoencoder`);
7. chaining: ``world_from_cam <- world_from_cam @ cam_prev_from_cam_new``, each pair as first
   reported, world being the first camera of the track (camera optical frame: x right, y down,
   z forward): a continuous pose, what the node publishes;
8. revision (``streaming.fixed_lag`` = L): a pair's motion reads better once the pose head also
   sees the pairs after it. So 5-6 are done, from this window's outputs, for every pair of the
   track not yet final, and ``StepResult.recent_motions`` holds those estimates; a pair is
   final once it has L later pairs (or would leave the window). The revised trajectory, each
   pair's last estimate chained (:func:`keep_latest_motions`), is L pairs late: for offline
   trajectories and evaluation. L = 0: each pair final as it comes.

Streaming vs clip mode (:func:`estimate_clip`, a whole clip in one pass): the latent actions are
identical while the window is not full (causal attention, rotary relative time). Two things
differ by design: (a) once frames leave the window, cached states keep the context they were
computed with, while clip mode would recompute them from the window alone; (b) the pose head is
non-causal, so in clip mode a pair's pose also uses *later* pairs, whereas streaming reports
each pair when it is the newest (the clip's last pair is the same in both) and, with
``streaming.fixed_lag``, revises it while up to that many later pairs come.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from la_pose_core.data.mirror import flip_pixels, mirror_quaternion, mirror_translation
from la_pose_core.data.synthetic.renderer import intrinsics_from_fov
from la_pose_core.geometry import (
    canonical_quaternion,
    input_camera_matrix,
    input_vertical_fov,
    pose_from_translation_quaternion,
    quaternion_from_matrix,
)
from la_pose_core.inference.epipolar_yaw import (
    KeypointMatcher,
    Keypoints,
    yaw_correction,
    yaw_rotation,
)
from la_pose_core.inference.frame_selector import FrameSelector, Selection
from la_pose_core.inference.preprocess import preprocess_image
from la_pose_core.inference.road_step import RoadPlane, road_step_length
from la_pose_core.model.checkpoint import Checkpoint, load_checkpoint, module_fingerprint
from la_pose_core.model.config import LAPoseConfig, RefinementConfig, StreamingConfig
from la_pose_core.model.inverse_dynamics import InverseDynamics, InverseDynamicsStream
from la_pose_core.model.pose_head import PoseHead
from la_pose_core.model.precision import autocast_context, resolve_device
from la_pose_core.pose_autoencoder.refinement import TranslationRefiner

if TYPE_CHECKING:  # onnxruntime is imported only when an exported model is opened
    from la_pose_core.data.kitti import CameraIntrinsics
    from la_pose_core.export.runtime import ExportedModel

WARMING_UP = "warming_up"  # the window holds fewer than clip_len frames
TRACKING = "tracking"  # the window is full
RESET = "reset"  # this frame restarted tracking (a new timeline: backwards, or after a gap)


@dataclass(frozen=True)
class StepResult:
    """Estimate after one used frame. Pair fields are None on the first frame of a track.

    Attributes:
        stamp: this frame's stamp (s).
        previous_stamp: stamp of the previous used frame of the track (s), or None.
        state: ``"warming_up"``, ``"tracking"`` or ``"reset"`` (see module constants).
        world_from_cam: ``(4, 4)`` pose of this camera in the track's world (= its first camera):
            the track's pair motions as first reported, chained (revisions do not move it).
        translation_normalized: ``(3,)`` scale-normalised ``t~`` of ``cam_prev_from_cam_this``.
        translation: ``(3,)`` metric translation (m): this camera's position in the previous
            camera's optical frame; the pose head's ``t~ * max(scale, 1)``, or its refinement
            when the estimator refines.
        quaternion: ``(4,)`` ``(x, y, z, w)`` rotation of ``cam_prev_from_cam_this``, ``w >= 0``.
        fov: vertical field of view of the model input (rad).
        scale: the window's metric scale ``s`` (m).
        latent: ``(bottleneck_dim,)`` bottleneck code of the pair's latent action.
        translation_head: ``(3,)`` the pose head's metric translation before refinement (m);
            None when the estimator does not refine.
        refinement_ms: time the refinement of this pair took (ms); None without refinement.
        yaw_correction_deg: what ``streaming.epipolar_yaw`` added to the model's yaw (degrees,
            left positive); None when it is off or the matches could not tell.
        road_step_m: the step length ``streaming.road_step`` read from the road (m), which
            ``translation`` then has; None when off or the road could not tell.
        recent_motions: ``(4, 4)`` motions ``cam_prev_from_cam_this`` of the track's last
            pairs, oldest first, this frame's pair last: their latest estimates. With
            ``streaming.fixed_lag`` = L they are the pair made final now (the first, once the
            track has L + 1 pairs) and those still revised; otherwise this pair's alone.
            Empty on the first frame of a track.
    """

    stamp: float
    previous_stamp: float | None
    state: str
    world_from_cam: np.ndarray
    translation_normalized: np.ndarray | None = None
    translation: np.ndarray | None = None
    quaternion: np.ndarray | None = None
    fov: float | None = None
    scale: float | None = None
    latent: np.ndarray | None = None
    translation_head: np.ndarray | None = None
    refinement_ms: float | None = None
    yaw_correction_deg: float | None = None
    road_step_m: float | None = None
    recent_motions: tuple[np.ndarray, ...] = ()


@dataclass(frozen=True)
class _Pair:
    """What the estimator keeps of a pair of its track while the pair may be revised."""

    matches: tuple[np.ndarray, np.ndarray] | None  # (M, 2) keypoints of the two frames, matched
    road_frames: tuple[np.ndarray, np.ndarray] | None  # (H, W) greyscale of the two frames
    latent_action: Tensor  # (d,) of the unmirrored view, for the refiner


@dataclass(frozen=True)
class _PairEstimate:
    """One pair's motion from one window: the pose head's outputs (mirror-averaged where on)
    and what steps 5-6 of :meth:`PoseEstimator.step` made of them."""

    outputs: dict[str, np.ndarray]  # translation_normalized, quaternion, fov, scale, ...
    translation: np.ndarray  # (3,) metric, after the road step and the refinement
    yaw_correction: float | None  # rad
    road_step_m: float | None
    translation_head: np.ndarray | None  # (3,) before the refinement; None without one
    refinement_ms: float | None

    @property
    def motion(self) -> np.ndarray:
        """``(4, 4)`` ``cam_prev_from_cam_this``."""
        return pose_from_translation_quaternion(self.translation, self.outputs["quaternion"])


RUNTIMES = ("torch", "onnxruntime")  # what runs the networks (model.runtime, --runtime)


def estimator_modules(checkpoint: Checkpoint, path: str) -> tuple[InverseDynamics, PoseHead]:
    """The inverse dynamics model and pose head of a checkpoint holding a ``posttrainer``, or
    ``inverse_dynamics`` and ``pose_head`` parts; ``ValueError`` when it holds neither."""
    modules = checkpoint.modules
    if "posttrainer" in modules:
        return modules["posttrainer"].inverse_dynamics, modules["posttrainer"].pose_head
    if "inverse_dynamics" in modules and "pose_head" in modules:
        return modules["inverse_dynamics"], modules["pose_head"]
    raise ValueError(f"{path} holds no pose estimator (parts: {sorted(modules)})")


def _open_exported(
    folder: str, backbone: InverseDynamics, head: PoseHead, path: str, device, precision: str
) -> ExportedModel:
    """The export in ``folder``, checked against the checkpoint's modules (one-line errors)."""
    from la_pose_core.export.runtime import ExportedModel

    if precision != "fp32":
        raise ValueError(f"runtime onnxruntime runs the fp32 graphs, not precision {precision}")
    exported = ExportedModel(folder, resolve_device(device))
    fingerprints = {"inverse_dynamics": module_fingerprint(backbone)}
    exported.check_fingerprints({**fingerprints, "pose_head": module_fingerprint(head)}, path)
    return exported


def _frame_selector(streaming: StreamingConfig) -> FrameSelector:
    return FrameSelector(streaming.target_fps, streaming.rate_tolerance, streaming.max_gap_s)


@torch.no_grad()
def estimate_clip(
    inverse_dynamics: InverseDynamics,
    pose_head: PoseHead,
    frames: Tensor,
    dt: Tensor | None,
    camera_fov: Tensor | None = None,
) -> dict[str, Tensor]:
    """Clip mode: every pair of ``frames`` ``(B, T, 3, H, W)`` in one pass.

    ``dt`` ``(B, T - 1)`` seconds between frames (None: nominal); ``camera_fov`` ``(B,)`` the
    model input's vertical FoV (radians, NaN or None: unknown). Returns the union of the
    :class:`InverseDynamics` and :class:`PoseHead` output dicts (shapes documented there).
    """
    actions = inverse_dynamics(frames, dt)
    return {**actions, **pose_head(actions["latent_actions"], camera_fov)}


POSE_OUTPUTS = ("translation_normalized", "translation", "quaternion", "fov")  # per pair


def keep_latest_motions(motions: list[np.ndarray], result: StepResult) -> None:
    """Bring ``motions`` (``(4, 4)`` each, one per pair so far, the newest last) up to
    ``result``: its pair appended, and every pair it revised at its latest estimate
    (:attr:`StepResult.recent_motions`). Nothing on a track's first frame."""
    if result.recent_motions:
        motions.append(result.recent_motions[-1])
        motions[-len(result.recent_motions) :] = result.recent_motions


def average_with_mirror(views: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One pair's outputs for ``(2, ...)`` views (the frames, then the frames flipped
    left-right) -> their mean in the unflipped world: translations and rotations of the
    flipped view are mirrored back first; quaternions are averaged on one hemisphere and
    renormalised (``w >= 0``); FoV and scale do not change under the mirror."""
    mean = {name: views[name].mean(axis=0) for name in ("fov", "scale")}
    for name in ("translation_normalized", "translation"):
        mean[name] = 0.5 * (views[name][0] + mirror_translation(views[name][1]))
    original, mirrored = views["quaternion"][0], mirror_quaternion(views["quaternion"][1])
    quaternion = original + np.sign(np.dot(original, mirrored) or 1.0) * mirrored
    quaternion /= np.linalg.norm(quaternion)
    mean["quaternion"] = quaternion if quaternion[3] >= 0 else -quaternion
    return mean


class PoseEstimator:
    """Stateful streaming estimator (see module docstring).

    Args:
        inverse_dynamics, pose_head: trained modules (moved to ``device``, set to eval mode).
        config: the config they were built from.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``).
        precision: ``"fp32"``, or ``"bf16"`` (autocast on CUDA only; CPU stays fp32).
        refiner: test-time translation refinement (its bank must come from this backbone;
            :meth:`from_checkpoint` checks that), or None.
        exported: run the streaming step and the pose head of this ONNX export instead of the
            torch modules (runtime ``onnxruntime``; :mod:`la_pose_core.export`), or None.
            The modules stay for clip mode (:meth:`run_clip`).
    """

    def __init__(
        self,
        inverse_dynamics: InverseDynamics,
        pose_head: PoseHead,
        config: LAPoseConfig,
        device: str | torch.device = "auto",
        precision: str = "fp32",
        refiner: TranslationRefiner | None = None,
        exported: ExportedModel | None = None,
    ) -> None:
        self.config = config
        self.exported = exported
        self.refiner = refiner
        self.device = resolve_device(device)
        self.precision = precision
        autocast_context(self.device, precision)  # validates precision
        self.inverse_dynamics = inverse_dynamics.to(self.device).eval()
        self.pose_head = pose_head.to(self.device).eval()
        self.selector = _frame_selector(config.streaming)
        self.stream = InverseDynamicsStream(self.inverse_dynamics, config.clip_len)
        self.window_head = self.pose_head  # the pose head of the streaming path
        if exported is not None:
            self.stream, self.window_head = exported.stream, exported.pose_head
        self.window_actions: deque[Tensor] = deque(maxlen=config.clip_len - 1)
        self.recent_pairs: deque[_Pair] = deque()  # the track's pairs not yet final, oldest first
        self.world_from_cam = np.eye(4)
        self.previous_stamp: float | None = None
        self.camera_fov: float | None = None  # the model input's vertical FoV (rad), if known
        self.camera_matrix: np.ndarray | None = None  # (3, 3) the model input's K, if known
        self.matcher: KeypointMatcher | None = None  # made on first use (streaming.epipolar_yaw)
        features = getattr(self.inverse_dynamics, "frame_features", None)
        if features is not None:  # the newest frame's XFeat outputs, for its keypoints
            features.keep_outputs = True
        self.previous_keypoints: tuple[Keypoints, ...] | None = None  # last used frame's, per view
        self.road_plane: RoadPlane | None = None  # the camera's mounting, if known
        self.previous_road_frame: np.ndarray | None = None  # (H, W) for streaming.road_step

    @property
    def runtime(self) -> str:
        """``"torch"`` or ``"onnxruntime"``: what runs the streaming networks."""
        return "torch" if self.exported is None else "onnxruntime"

    @classmethod
    def from_checkpoint(
        cls,
        path: str,
        device: str | torch.device = "auto",
        precision: str = "fp32",
        refinement: RefinementConfig | None = None,
        streaming: StreamingConfig | None = None,
        runtime: str = "torch",
        onnx_dir: str | None = None,
    ) -> PoseEstimator:
        """Build from a checkpoint holding a ``posttrainer``, or ``inverse_dynamics`` and
        ``pose_head`` parts (:mod:`la_pose_core.model.checkpoint`).

        ``refinement`` with a non-empty ``checkpoint``: load that pose encoder's motion bank
        and refine every translation; ``ValueError`` if it was trained against another
        backbone. ``streaming``: select frames by it (None: the checkpoint's own).
        ``runtime``: ``"torch"``, or ``"onnxruntime"`` to run the export in ``onnx_dir``
        (None: :func:`~la_pose_core.export.manifest.default_export_folder` of ``path``);
        ``ValueError`` (one line) when that folder is missing, corrupt or exported from other
        weights.
        """
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
        checkpoint = load_checkpoint(path, map_location="cpu")
        backbone, head = estimator_modules(checkpoint, path)
        exported = None
        if runtime == "onnxruntime":
            from la_pose_core.export.manifest import default_export_folder

            folder = onnx_dir or str(default_export_folder(path))
            exported = _open_exported(folder, backbone, head, path, device, precision)
        refiner = None
        if refinement is not None and refinement.checkpoint:
            refiner = TranslationRefiner.from_checkpoint(
                refinement.checkpoint, refinement.k, refinement.ridge
            )
            refiner.check_backbone(module_fingerprint(backbone))
        estimator = cls(backbone, head, checkpoint.config, device, precision, refiner, exported)
        if streaming is not None and streaming != estimator.config.streaming:
            estimator.set_streaming(streaming)
        return estimator

    def set_streaming(self, streaming: StreamingConfig) -> None:
        """Select frames by ``streaming`` (target frame rate, tolerance, gap) from now on; the
        track is forgotten, as after :meth:`reset`."""
        self.config = dataclasses.replace(self.config, streaming=streaming)
        self.selector = _frame_selector(streaming)
        self._clear_track()

    def to(self, device: str | torch.device) -> PoseEstimator:
        """Move the modules to ``device`` (``"auto"``, ``"cpu"``, ``"cuda[:N]"``); returns self.

        The track is forgotten, as after :meth:`reset` (its cached states were on the old
        device); precision and refinement stay.
        """
        resolved = resolve_device(device)
        self.inverse_dynamics.to(resolved)
        self.pose_head.to(resolved)
        if self.exported is not None:
            self.exported.to(resolved)
        self.device = resolved
        self.reset()
        return self

    def set_camera_fov(self, fov: float | None) -> None:
        """The vertical FoV (radians) of the model input from the camera's calibration
        (:func:`la_pose_core.geometry.input_vertical_fov`), or None when unknown. A pose head
        with ``camera_fov_input`` reads it; it stays across :meth:`reset` (the camera's)."""
        if fov is not None and not 0.0 < fov < math.pi:
            raise ValueError(f"camera FoV must be in (0, pi) radians, got {fov}")
        self.camera_fov = None if fov is None else float(fov)
        self.camera_matrix = None  # known only from full intrinsics

    def set_camera_intrinsics(self, intrinsics: CameraIntrinsics | None) -> None:
        """:meth:`set_camera_fov` from the intrinsics of the camera's full images (None:
        unknown): the vertical FoV after the model's crop and resize."""
        if intrinsics is None:
            self.set_camera_fov(None)
            return
        height, width = self.config.image_height, self.config.image_width
        self.set_camera_fov(
            input_vertical_fov(intrinsics.fy, intrinsics.height, intrinsics.width, height, width)
        )
        self.camera_matrix = input_camera_matrix(
            intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy,
            intrinsics.height, intrinsics.width, height, width,
        )  # fmt: skip

    def set_road_plane(self, plane: RoadPlane | None) -> None:
        """The road under the camera (:class:`.road_step.RoadPlane`, e.g. from the camera's
        mounting), or None when unknown: with ``streaming.road_step`` each pair's step length
        is then read from the road's image motion. It stays across :meth:`reset`."""
        self.road_plane = plane

    def camera_fov_tensor(self, views: int) -> Tensor | None:
        """``(views,)`` the camera FoV as the pose head takes it (NaN: unknown), or None for a
        head without the FoV input."""
        if not self.config.pose_head.camera_fov_input:
            return None
        fov = math.nan if self.camera_fov is None else self.camera_fov
        return torch.full((views,), fov, dtype=torch.float32, device=self.device)

    def reset(self) -> None:
        """Forget the track: the next frame starts a new one at the identity pose."""
        self.selector.reset()
        self._clear_track()

    def _clear_track(self) -> None:
        self.stream.reset()
        self.window_actions.clear()
        self.recent_pairs.clear()
        self.world_from_cam = np.eye(4)
        self.previous_stamp = None
        self.previous_keypoints = None
        self.previous_road_frame = None

    def fork(self) -> PoseEstimator:
        """Another estimator on the same modules, device, precision, refinement and config,
        with a track of its own (frame selector, cached window, pose), starting empty.

        The interleaved streams of :mod:`.camera_rate` are forks: one model, many windows.
        A fork does not follow a later :meth:`to` of this estimator: fork again after one.
        """
        twin = copy.copy(self)
        twin.selector = _frame_selector(self.config.streaming)
        twin.stream = copy.copy(self.stream)  # the same model; reset() gives it its own caches
        twin.window_actions = deque(maxlen=self.window_actions.maxlen)
        twin.recent_pairs = deque()
        twin._clear_track()
        return twin

    def preprocess(self, image: np.ndarray) -> Tensor:
        """uint8 image -> ``(3, H, W)`` model input on the device."""
        return preprocess_image(
            image, self.config.image_height, self.config.image_width, self.device
        )

    def step(self, image: np.ndarray, stamp: float) -> StepResult | None:
        """Process one camera image.

        Args:
            image: uint8 ``(H, W)`` greyscale or ``(H, W, 3)`` RGB, any size.
            stamp: capture time in seconds.
        Returns:
            None if the frame is not used (too soon after the last used one, a duplicate, or an
            outlier stamp: ``self.selector`` tells which);
            otherwise the :class:`StepResult` of this frame.
        """
        selection = self.selector.select(stamp)
        if not selection.kept:
            return None
        if selection.restarts:
            self._clear_track()
        frame = self.preprocess(image)[None]  # (1, 3, H, W)
        if self.config.streaming.mirror_average:
            frame = torch.cat([frame, frame.flip(-1)])  # (V=2, 3, H, W): the frame, its mirror
        views = frame.shape[0]
        previous = self.previous_stamp
        dt = (  # float32 whatever the stamp's type (a numpy float64 would promote the math)
            None
            if previous is None
            else torch.full((views,), stamp - previous, dtype=torch.float32, device=self.device)
        )
        with torch.inference_mode(), autocast_context(self.device, self.precision):
            pair = self.stream.push(frame, dt)  # None on the first frame of a track
            if pair is not None:
                self.window_actions.append(pair["latent_actions"])  # (V, d)
                window = torch.stack(tuple(self.window_actions), dim=1)  # (V, P, d)
                camera_fov = self.camera_fov_tensor(views)  # (V,) or None
                pose = self.window_head(window, camera_fov)  # values (V, P, ...) and (V,)
        self.previous_stamp = stamp
        state = self._track_state(selection)
        keypoints, previous_keypoints = self._keypoints(frame), self.previous_keypoints
        self.previous_keypoints = keypoints
        road_frame, previous_road_frame = self._road_frame(frame), self.previous_road_frame
        self.previous_road_frame = road_frame
        if pair is None:  # first frame of a track: no motion yet
            return StepResult(stamp, None, state, self.world_from_cam.copy())

        road_frames = None if road_frame is None else (previous_road_frame, road_frame)
        matches = self._matches(previous_keypoints, keypoints)
        self.recent_pairs.append(_Pair(matches, road_frames, pair["latent_actions"][0]))
        estimates = self._revise(pose)  # (the pairs not final before this step, oldest first)
        motions = tuple(estimate.motion for estimate in estimates)  # (4, 4) each
        newest = estimates[-1]
        self.world_from_cam = self.world_from_cam @ motions[-1]
        correction = newest.yaw_correction
        return StepResult(
            stamp=stamp,
            previous_stamp=previous,
            state=state,
            world_from_cam=self.world_from_cam.copy(),
            translation_normalized=newest.outputs["translation_normalized"],
            translation=newest.translation,
            quaternion=newest.outputs["quaternion"],
            fov=float(newest.outputs["fov"]),
            scale=float(newest.outputs["scale"]),
            latent=pair["bottleneck_codes"][0].double().cpu().numpy(),
            translation_head=newest.translation_head,
            refinement_ms=newest.refinement_ms,
            yaw_correction_deg=None if correction is None else math.degrees(correction),
            road_step_m=newest.road_step_m,
            recent_motions=motions,
        )

    def _revise(self, pose: dict[str, Tensor]) -> list[_PairEstimate]:
        """Estimate every pair not yet final (``self.recent_pairs``, the newest last) from this
        window's pose head outputs, and forget the oldest once it has ``config.fixed_lag``
        later pairs (this estimate is its last). Returns the estimates, oldest first."""
        first = pose["translation"].shape[1] - len(self.recent_pairs)  # its place in the window
        estimates = [
            self._estimate_pair(pose, first + offset, pair)
            for offset, pair in enumerate(self.recent_pairs)
        ]
        if len(self.recent_pairs) > self.config.fixed_lag:  # the oldest is final now
            self.recent_pairs.popleft()
        return estimates

    def _estimate_pair(self, pose: dict[str, Tensor], position: int, pair: _Pair) -> _PairEstimate:
        """The motion of the window's pair at ``position``: the pose head's outputs for it, then
        steps 5-6 of the module docstring."""
        outputs = self._pair_outputs(pose, position)
        correction = self._correct_yaw(outputs, pair.matches)
        road_step = self._road_step(outputs, pair.road_frames)
        translation, translation_head, refinement_ms = outputs["translation"], None, None
        if self.refiner is not None:
            translation_head = translation
            latent_action = pair.latent_action.double().cpu().numpy()  # (d,)
            translation = self.refiner(latent_action, translation_head).translation
            refinement_ms = 1000.0 * self.refiner.last_seconds
        return _PairEstimate(
            outputs, translation, correction, road_step, translation_head, refinement_ms
        )

    def _keypoints(self, frames: Tensor) -> tuple[Keypoints, ...] | None:
        """The keypoints of the frame just pushed, one set per view (``frames``
        ``(V, 3, H, W)``: it, and its mirror image when averaging) for the epipolar yaw; None
        when off. The backbone's XFeat outputs for it are reused where the torch runtime
        computed them."""
        if not self.config.streaming.epipolar_yaw:
            return None
        if self.matcher is None:
            self.matcher = KeypointMatcher()
        features = getattr(self.inverse_dynamics, "frame_features", None)
        outputs = None if self.exported is not None or features is None else features.last_outputs
        if outputs is None or outputs.descriptors.shape[0] != frames.shape[0]:
            return tuple(self.matcher.keypoints(frame) for frame in frames)
        return tuple(
            self.matcher.keypoints(frames[view], outputs.view(view))
            for view in range(frames.shape[0])
        )

    def _matches(
        self, previous: tuple[Keypoints, ...] | None, current: tuple[Keypoints, ...] | None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The pair's matched keypoints ``(M, 2)`` in its earlier and later frame, or None
        (the epipolar yaw off). With mirror averaging, those of the mirrored frames too, their
        pixels flipped back (``u -> W - 1 - u``): the matches are then the same set, mirrored,
        whichever way the footage is flipped, so the yaw search adds no turn of its own (XFeat
        finds other keypoints in a mirror image)."""
        if previous is None or current is None:
            return None
        matched = [
            self.matcher.match(before, after)
            for before, after in zip(previous, current, strict=True)
        ]
        if len(matched) == 1:
            return matched[0]
        (previous_xy, current_xy), (mirrored_previous, mirrored_current) = matched
        width = self.config.image_width
        return (
            np.concatenate((previous_xy, flip_pixels(mirrored_previous, width))),
            np.concatenate((current_xy, flip_pixels(mirrored_current, width))),
        )

    def _road_frame(self, frames: Tensor) -> np.ndarray | None:
        """``(H, W)`` float32 greyscale of the frame just pushed (``frames`` ``(V, 3, H, W)``)
        for the road step; None when off or the road is unknown."""
        if not self.config.streaming.road_step or self.road_plane is None:
            return None
        return frames[0].float().mean(dim=0).cpu().numpy()

    def _road_step(
        self,
        outputs: dict[str, np.ndarray],
        road_frames: tuple[np.ndarray, np.ndarray] | None,
    ) -> float | None:
        """Set a pair's step length in ``outputs["translation"]`` from the road's image motion
        between its two frames (:mod:`.road_step`), the direction kept; returns it (m), or None
        where the model's stays (off, no road or intrinsics known, or the road could not tell)."""
        camera_matrix = self._input_camera_matrix(float(outputs["fov"]))
        if road_frames is None or camera_matrix is None:
            return None
        motion = pose_from_translation_quaternion(outputs["translation"], outputs["quaternion"])
        step = road_step_length(*road_frames, motion, camera_matrix, self.road_plane)
        if step is not None:
            outputs["translation"] = outputs["translation"] * (step / np.linalg.norm(motion[:3, 3]))
        return step

    def _track_state(self, selection: Selection) -> str:
        """RESET, TRACKING or WARMING_UP for the frame just pushed."""
        if selection in (Selection.RESET_BACKWARDS, Selection.RESET_GAP):
            return RESET
        return TRACKING if self.stream.frames_seen >= self.config.clip_len else WARMING_UP

    def _correct_yaw(
        self, outputs: dict[str, np.ndarray], matches: tuple[np.ndarray, np.ndarray] | None
    ) -> float | None:
        """Correct a pair's yaw in ``outputs["quaternion"]`` against the matches of its two
        frames' keypoints (:mod:`.epipolar_yaw`); returns the correction (rad), or None where
        there is none (off, no intrinsics, or the matches could not tell)."""
        camera_matrix = self._input_camera_matrix(float(outputs["fov"]))
        if matches is None or camera_matrix is None:
            return None
        streaming = self.config.streaming
        motion = pose_from_translation_quaternion(outputs["translation"], outputs["quaternion"])
        correction = yaw_correction(
            motion, *matches, camera_matrix,
            streaming.epipolar_search_deg, streaming.epipolar_threshold_px,
        )  # fmt: skip
        if correction is not None:
            rotation = yaw_rotation(correction) @ motion[:3, :3]
            outputs["quaternion"] = canonical_quaternion(quaternion_from_matrix(rotation))
        return correction

    def _input_camera_matrix(self, predicted_fov: float) -> np.ndarray | None:
        """``(3, 3)`` intrinsics of the model input: from the camera's calibration, else from
        its FoV alone, else from the FoV the model predicts for the pair; None when that
        prediction is no FoV (outside (0, pi): an untrained head)."""
        if self.camera_matrix is not None:
            return self.camera_matrix
        fov = self.camera_fov if self.camera_fov is not None else predicted_fov
        if not 0.0 < fov < math.pi:
            return None
        return intrinsics_from_fov(self.config.image_width, self.config.image_height, fov).matrix

    def _pair_outputs(self, pose: dict[str, Tensor], position: int) -> dict[str, np.ndarray]:
        """The pose head's outputs for the window's pair at ``position``, float64
        (mirror-averaged when on)."""
        views = {name: pose[name][:, position].double().cpu().numpy() for name in POSE_OUTPUTS}
        views["scale"] = pose["scale"].double().cpu().numpy()  # (V,)
        if self.config.streaming.mirror_average:
            return average_with_mirror(views)
        return {name: value[0] for name, value in views.items()}

    def run_clip(self, images: Sequence[np.ndarray], stamps: Sequence[float]) -> dict:
        """Clip mode on raw images, every image used (no frame selection, no state change).

        Returns :func:`estimate_clip`'s dict for batch 1 as float64 numpy arrays (batch axis
        removed): e.g. ``latent_actions`` ``(T-1, d)``, ``translation`` ``(T-1, 3)``,
        ``scale`` ``()``.
        """
        frames = torch.stack([self.preprocess(image) for image in images])[None]
        stamps_array = torch.tensor(np.asarray(stamps, dtype=np.float64), device=self.device)
        dt = torch.diff(stamps_array).float()[None]  # (1, T-1)
        with autocast_context(self.device, self.precision):
            outputs = estimate_clip(
                self.inverse_dynamics, self.pose_head, frames, dt, self.camera_fov_tensor(1)
            )
        return {name: value[0].double().cpu().numpy() for name, value in outputs.items()}
