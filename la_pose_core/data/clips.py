"""Training clips: ``T`` frames of a sequence at a jittered frame rate, with pose labels.

LA-Pose pretrains on 16-frame clips whose frame rate is drawn uniformly in 1-4 fps, so the
model sees the same street at many speeds. A clip is sampled **by timestamp**, which works for
any source rate and for irregular stamps (real cameras drop frames):

1. draw a rate ``f`` (uniform in ``[min_fps, max_fps]``, or the exponential option below);
2. draw a start stamp ``t0`` so that ``t0 + (T - 1) / f`` fits in the sequence;
3. take, for each target stamp ``t0 + k / f``, the frame with the nearest stamp;
4. reject the draw (and try again) when a nearest stamp is more than ``max_stamp_error``
   from its target (a gap in the recording) or when a frame would repeat (``f`` above the
   source rate).

Rates, option ``fps_sampling="exponential"`` (as in Unposed-to-3D): the frame *interval*
``dt = 1 / f`` in ``[1 / max_fps, 1 / min_fps]`` is drawn with density ``~ exp(-dt / tau)``
(``tau = interval_decay_s``), favouring short gaps (high rates) while keeping long ones.

Time reversal (probability ``reverse_prob``): the frames are played backwards. It is real
footage of a car reversing, and its labels are computed from the reversed ``world_from_cam``
exactly like any other clip (the relative poses come out as the inverses of the forward ones,
in reverse order); playback stamps stay increasing.

Labels, where the source has poses: the adjacent motions ``cam_t_from_cam_{t+1}``
(:func:`la_pose_core.geometry.adjacent_relative_poses`). The training targets (normalised
translations, clip scale, quaternions) are built from those by one builder,
:class:`la_pose_core.model.targets.PoseTargets`. The source intrinsics and image size are kept;
the model-input field of view depends on the crop/resize applied later (``shards``).

A source is anything with ``stamps`` ``(N,)`` seconds and ``image(i)``; ``world_from_cam``
``(N, 4, 4)``, ``intrinsics`` (:class:`~la_pose_core.data.kitti.CameraIntrinsics`) and
``name`` are used when present (``KittiSequence``, ``SyntheticSequence``, a bag reader).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from la_pose_core.data.kitti import CameraIntrinsics
from la_pose_core.geometry import adjacent_relative_poses
from la_pose_core.paper import PAPER_CLIP_LEN, PAPER_FPS_RANGE

FPS_SAMPLING = ("uniform", "exponential")


class SequenceSource(Protocol):
    """What a clip needs from a sequence (optional: ``world_from_cam``, ``intrinsics``,
    ``name``)."""

    stamps: np.ndarray

    def image(self, index: int) -> np.ndarray: ...


def source_name(source: Any) -> str:
    """``source.name``, else the folder of a ``KittiSequence``, else the class name."""
    name = getattr(source, "name", None)
    if name:
        return str(name)
    root = getattr(source, "root", None)
    if root is not None:
        return str(getattr(root, "name", root))
    return type(source).__name__


@dataclass(frozen=True)
class Clip:
    """One training clip of ``T`` frames (fields in clip order; ``P = T - 1`` pairs).

    Attributes:
        source: name of the sequence it came from.
        indices: ``(T,)`` int64 frame indices in the source (decreasing when reversed).
        source_stamps: ``(T,)`` float64 stamps of those frames in the source (s).
        stamps: ``(T,)`` float64 playback times (s) from the first clip frame: increasing,
            ``stamps[0] = 0`` (reversed clips play the source time backwards).
        fps: the drawn frame rate (Hz); the achieved one is :attr:`actual_fps`.
        reversed: time-reversal augmentation applied.
        frames: ``(T, H, W)`` or ``(T, H, W, 3)`` uint8 images (RGB), or None if not loaded.
        image_size: ``(W, H)`` of the source images.
        intrinsics: source camera intrinsics, or None.
        world_from_cam: ``(T, 4, 4)`` camera-to-world poses, or None (unlabelled source).
        relative_poses: ``(P, 4, 4)`` ``cam_t_from_cam_{t+1}`` (metres), or None.
    """

    source: str
    indices: np.ndarray
    source_stamps: np.ndarray
    stamps: np.ndarray
    fps: float
    reversed: bool
    frames: np.ndarray | None
    image_size: tuple[int, int] | None
    intrinsics: CameraIntrinsics | None
    world_from_cam: np.ndarray | None
    relative_poses: np.ndarray | None

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def dt(self) -> np.ndarray:
        """``(P,)`` seconds between consecutive frames (positive)."""
        return np.diff(self.stamps)

    @property
    def actual_fps(self) -> float:
        """Mean achieved rate, ``P / (stamps[-1] - stamps[0])``."""
        return (len(self) - 1) / float(self.stamps[-1] - self.stamps[0])

    @property
    def vertical_fov(self) -> float | None:
        """Vertical FoV (rad) of the *source* images, ``2 atan(H / (2 fy))``."""
        return None if self.intrinsics is None else self.intrinsics.vertical_fov

    @property
    def has_poses(self) -> bool:
        return self.world_from_cam is not None


def make_clip(
    source: SequenceSource,
    indices: np.ndarray,
    fps: float,
    reverse: bool = False,
    load_images: bool = True,
) -> Clip:
    """Build the clip of the given source frames (in forward order) with its labels.

    Args:
        source: the sequence.
        indices: ``(T,)`` strictly increasing frame indices.
        fps: the rate they were chosen for (recorded in the clip).
        reverse: play them backwards (time-reversal augmentation).
        load_images: read the frames (False: labels and stamps only).
    """
    indices = np.asarray(indices, dtype=np.int64)
    if indices.ndim != 1 or len(indices) < 2:
        raise ValueError(f"a clip needs at least 2 frame indices, got shape {indices.shape}")
    if np.any(np.diff(indices) <= 0):
        raise ValueError("clip frame indices must be strictly increasing")
    if reverse:
        indices = indices[::-1].copy()
    source_stamps = np.asarray(source.stamps, np.float64)[indices]
    stamps = np.abs(source_stamps - source_stamps[0])  # increasing either way

    frames = None
    image_size = None
    if load_images:
        frames = np.stack([np.asarray(source.image(int(i))) for i in indices])
        image_size = (int(frames.shape[2]), int(frames.shape[1]))
    intrinsics = getattr(source, "intrinsics", None)
    if image_size is None and intrinsics is not None:
        image_size = (int(intrinsics.width), int(intrinsics.height))

    world_from_cam = getattr(source, "world_from_cam", None)
    relative = None
    if world_from_cam is not None:
        world_from_cam = np.asarray(world_from_cam, np.float64)[indices]  # (T, 4, 4)
        relative = adjacent_relative_poses(world_from_cam)  # (P, 4, 4)
    return Clip(
        source=source_name(source),
        indices=indices,
        source_stamps=source_stamps,
        stamps=stamps,
        fps=float(fps),
        reversed=bool(reverse),
        frames=frames,
        image_size=image_size,
        intrinsics=intrinsics,
        world_from_cam=world_from_cam,
        relative_poses=relative,
    )


@dataclass(frozen=True)
class ClipSampler:
    """Draws clips from a sequence (see the module docstring for the procedure).

    Args:
        clip_len: frames per clip ``T`` (default the paper's, 16).
        min_fps, max_fps: range of the clip frame rate (default the paper's, 1-4 fps).
        fps_sampling: ``"uniform"`` in rate, or ``"exponential"`` decay in frame interval.
        interval_decay_s: ``tau`` of the exponential option (s).
        max_stamp_error: largest distance (s) of a chosen frame's stamp from its target;
            None: 0.6 x the source's median frame interval.
        reverse_prob: probability of time reversal.
        max_attempts: draws before giving up on a sequence (``ValueError``).
    """

    clip_len: int = PAPER_CLIP_LEN
    min_fps: float = PAPER_FPS_RANGE[0]
    max_fps: float = PAPER_FPS_RANGE[1]
    fps_sampling: str = "uniform"
    interval_decay_s: float = 0.25
    max_stamp_error: float | None = None
    reverse_prob: float = 0.0
    max_attempts: int = 200

    def __post_init__(self) -> None:
        if self.clip_len < 2:
            raise ValueError(f"clip_len must be at least 2, got {self.clip_len}")
        if not 0.0 < self.min_fps <= self.max_fps:
            raise ValueError(f"need 0 < min_fps <= max_fps, got {self.min_fps}, {self.max_fps}")
        if self.fps_sampling not in FPS_SAMPLING:
            raise ValueError(f"fps_sampling must be one of {FPS_SAMPLING}")
        if not 0.0 <= self.reverse_prob <= 1.0:
            raise ValueError(f"reverse_prob must be in [0, 1], got {self.reverse_prob}")
        if self.interval_decay_s <= 0:
            raise ValueError("interval_decay_s must be positive")

    def draw_fps(self, rng: np.random.Generator) -> float:
        """One clip frame rate (Hz)."""
        if self.fps_sampling == "uniform" or self.min_fps == self.max_fps:
            return float(rng.uniform(self.min_fps, self.max_fps))
        shortest, longest = 1.0 / self.max_fps, 1.0 / self.min_fps
        tau = self.interval_decay_s
        u = rng.uniform()
        # inverse CDF of exp(-dt / tau) truncated to [shortest, longest]
        interval = shortest - tau * math.log1p(-u * -math.expm1(-(longest - shortest) / tau))
        return 1.0 / min(max(interval, shortest), longest)

    def stamp_tolerance(self, stamps: np.ndarray) -> float:
        if self.max_stamp_error is not None:
            return float(self.max_stamp_error)
        return 0.6 * float(np.median(np.diff(stamps)))

    def choose_indices(
        self, stamps: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, float]:
        """Frame indices ``(T,)`` (increasing) and the drawn rate of one valid clip.

        Raises ``ValueError`` when the sequence is too short (or too sparse) for the clip.
        """
        stamps = np.asarray(stamps, np.float64)
        if len(stamps) < self.clip_len:
            raise ValueError(f"sequence has {len(stamps)} frames, a clip needs {self.clip_len}")
        tolerance = self.stamp_tolerance(stamps)
        span = float(stamps[-1] - stamps[0])
        shortest = (self.clip_len - 1) / self.max_fps
        if shortest > span + 2 * tolerance:
            raise ValueError(
                f"sequence lasts {span:.2f} s; a {self.clip_len}-frame clip at {self.max_fps} fps "
                f"needs {shortest:.2f} s"
            )
        steps = np.arange(self.clip_len)
        for _ in range(self.max_attempts):
            fps = self.draw_fps(rng)
            duration = (self.clip_len - 1) / fps
            latest_start = max(float(stamps[-1]) - duration, float(stamps[0]))
            start = float(rng.uniform(float(stamps[0]), latest_start))
            targets = start + steps / fps  # (T,)
            right = np.clip(np.searchsorted(stamps, targets), 1, len(stamps) - 1)
            left = right - 1
            nearest = np.where(targets - stamps[left] <= stamps[right] - targets, left, right)
            error = np.abs(stamps[nearest] - targets)
            if error.max() <= tolerance and np.all(np.diff(nearest) > 0):
                return nearest.astype(np.int64), fps
        raise ValueError(
            f"no valid {self.clip_len}-frame clip at {self.min_fps}-{self.max_fps} fps in "
            f"{self.max_attempts} draws (stamp gaps over {tolerance:.3f} s, or rates above the "
            "source frame rate)"
        )

    def sample(
        self, source: SequenceSource, rng: np.random.Generator, load_images: bool = True
    ) -> Clip:
        """Draw one clip of ``source``; deterministic given the generator's state."""
        indices, fps = self.choose_indices(source.stamps, rng)
        reverse = bool(rng.uniform() < self.reverse_prob)
        return make_clip(source, indices, fps, reverse=reverse, load_images=load_images)

    def iter_clips(
        self,
        source: SequenceSource,
        num_clips: int,
        rng: np.random.Generator,
        load_images: bool = True,
    ) -> Iterator[Clip]:
        """``num_clips`` independent clips of one source."""
        for _ in range(num_clips):
            yield self.sample(source, rng, load_images=load_images)
