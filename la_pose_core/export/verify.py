"""Exported graphs against PyTorch over a streamed sequence: the largest absolute differences.

:func:`compare_streams` pushes the same frames through the torch stream and pose head and
through an :class:`~la_pose_core.export.runtime.ExportedModel`, as the streaming estimator does
(one frame at a time, the pose head over a window of at most ``clip_len - 1`` pairs), so the
comparison covers the warm-up, the full window and frames leaving it. :func:`sequence_frames`
gives the frames of a KITTI-layout folder the estimator would use (its frame selection).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from la_pose_core.export.pose_head_graph import POSE_HEAD_OUTPUTS
from la_pose_core.export.runtime import ExportedModel
from la_pose_core.inference.frame_selector import FrameSelector
from la_pose_core.inference.preprocess import preprocess_image
from la_pose_core.model.config import LAPoseConfig
from la_pose_core.model.inverse_dynamics import InverseDynamics, InverseDynamicsStream
from la_pose_core.model.pose_head import PoseHead

DEFAULT_TOLERANCE = 1e-3  # absolute; float32 graphs differ from torch by ~1e-5 (BatchNorm codes)


@dataclass(frozen=True)
class StreamComparison:
    """Largest absolute differences, ONNX Runtime vs torch, over one streamed sequence."""

    frames: int  # frames pushed
    pairs: int  # latent actions compared
    latent_actions: float
    bottleneck_codes: float
    pose: dict[str, float]  # per PoseHead output, over every pair of every window
    tolerance: float

    @property
    def pose_max(self) -> float:
        return max(self.pose.values())

    @property
    def within_tolerance(self) -> bool:
        return max(self.latent_actions, self.bottleneck_codes, self.pose_max) <= self.tolerance

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "pose_max": self.pose_max,
            "within_tolerance": self.within_tolerance,
        }


def _record(largest: dict[str, float], name: str, expected: Tensor, found: Tensor) -> None:
    """Keep in ``largest[name]`` the largest absolute difference seen so far."""
    difference = float((expected.double() - found.double()).abs().max())
    largest[name] = max(largest.get(name, 0.0), difference)


@torch.no_grad()
def compare_streams(
    inverse_dynamics: InverseDynamics,
    pose_head: PoseHead,
    exported: ExportedModel,
    frames: Tensor,
    dt: Tensor,
    tolerance: float = DEFAULT_TOLERANCE,
) -> StreamComparison:
    """Stream ``frames`` ``(T, 3, H, W)`` (CPU, [0, 1]) with intervals ``dt`` ``(T - 1,)``
    through both runtimes; the exported model's stream is reset first and after."""
    clip_len = exported.config.clip_len
    reference = InverseDynamicsStream(inverse_dynamics.eval(), clip_len)
    exported.stream.reset()
    windows: tuple[deque, deque] = (deque(maxlen=clip_len - 1), deque(maxlen=clip_len - 1))
    largest: dict[str, float] = {}
    pairs = 0
    # a head with the camera FoV input is compared at one known FoV (0.6 rad, about 34 deg)
    camera_fov = None if pose_head.camera_fov is None else torch.full((1,), 0.6)  # (1,)
    for index, frame in enumerate(frames):
        interval = None if index == 0 else dt[index - 1 : index]  # (1,)
        expected = reference.push(frame[None], interval)  # (1, d), (1, k) or None
        found = exported.stream.push(frame[None], interval)
        if expected is None:
            continue
        pairs += 1
        for name in ("latent_actions", "bottleneck_codes"):
            _record(largest, name, expected[name], found[name])
        windows[0].append(expected["latent_actions"])  # (1, d)
        windows[1].append(found["latent_actions"])
        pose_expected = pose_head.eval()(torch.stack(tuple(windows[0]), dim=1), camera_fov)
        pose_found = exported.pose_head(torch.stack(tuple(windows[1]), dim=1), camera_fov)
        for name in POSE_HEAD_OUTPUTS:
            _record(largest, name, pose_expected[name], pose_found[name])
    exported.stream.reset()
    return StreamComparison(
        frames=len(frames),
        pairs=pairs,
        latent_actions=largest.get("latent_actions", 0.0),
        bottleneck_codes=largest.get("bottleneck_codes", 0.0),
        pose={name: largest.get(name, 0.0) for name in POSE_HEAD_OUTPUTS},
        tolerance=tolerance,
    )


def sequence_frames(
    root: str, config: LAPoseConfig, camera: str = "image_0", max_frames: int | None = None
) -> tuple[Tensor, Tensor]:
    """The frames of a KITTI-layout folder that the streaming estimator would use (frame
    selection at the config's ``streaming.target_fps``), preprocessed: ``(T, 3, H, W)`` and
    their intervals ``(T - 1,)`` in seconds."""
    from la_pose_core.data.kitti import KittiSequence

    sequence = KittiSequence(root, camera=camera)
    streaming = config.streaming
    selector = FrameSelector(streaming.target_fps, streaming.rate_tolerance, streaming.max_gap_s)
    used = [i for i, stamp in enumerate(sequence.stamps) if selector.select(float(stamp)).kept]
    used = used[:max_frames] if max_frames is not None else used
    frames = torch.stack(
        [
            preprocess_image(sequence.image(i), config.image_height, config.image_width, "cpu")
            for i in used
        ]
    )  # (T, 3, H, W)
    stamps = torch.tensor(np.asarray(sequence.stamps, np.float64)[used])  # (T,)
    return frames, torch.diff(stamps).float()


def random_frames(config: LAPoseConfig, count: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``count`` random frames ``(T, 3, H, W)`` at the nominal interval ``(T - 1,)``."""
    generator = torch.Generator().manual_seed(seed)
    frames = torch.rand(count, 3, config.image_height, config.image_width, generator=generator)
    return frames, torch.full((count - 1,), config.nominal_dt)
