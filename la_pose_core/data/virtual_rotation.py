"""Virtual camera rotation: turns that the drives did not have, with exact labels.

Turning pairs are rare in driving (8 % of the synthetic training pairs turn by more than two
degrees), so a model learns "no turn" and pretraining has little reason to keep the heading.
A camera that rotates about its own centre sees the same scene through a homography, whatever
the depth: a frame of camera ``i`` re-rendered from a camera ``i'`` yawed by ``psi_i`` is

    u_src = K R_y(psi_i) K'^-1 u'          (u, u' homogeneous pixels; K' = K with focal * zoom)

with no parallax error. The zoom (``K'`` a slightly longer lens, same centre) keeps every sampled
pixel inside the source frame, so the warped clip has no border a model could track. Each frame
of an augmented clip gets its own yaw offset, drawn uniformly in +-a with the clip's amplitude a
drawn uniformly up to the largest the zoom allows (5-6.4 degrees at zoom 1.25 for vertical FoVs
of 30-60 degrees), so adjacent pairs gain turns of either sign and many sizes that are
independent of the road. Labels follow exactly: ``cam'_i_from_cam'_{i+1} = R_i^-1 rel_i
R_{i+1}`` (rotation changes no translation length, so the clip scale stays), and the input FoV
becomes ``2 atan(tan(fov / 2) / zoom)``.

Conventions: camera optical frame (x right, y down, z forward); ``R_y(psi)`` rotates about the
camera's y axis. Clips without intrinsics (label-free real footage) are warped with
``nominal_fov_deg``: not an exact rotation then, which a label-free stage does not need.

Measured (README, "Virtual camera rotation"): at this project's scale neither schedule helped
overall (the pretrained latents, the post-trained head on the evaluation drives); off in
``tools/train_model.sh``.
"""

from __future__ import annotations

import functools
import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from la_pose_core.geometry import yaw_about_camera_y

SCHEDULES = ("independent", "sustained")


@dataclass(frozen=True)
class VirtualRotation:
    """How clips are augmented (a training option, see ``la-pose train --virtual-rotation``).

    probability: share of clips that get virtual yaw offsets (0 switches it off).
    zoom: focal-length factor of the virtual camera (> 1: the margin for rotation).
    schedule: ``independent`` (an offset per frame: turns of either sign, zig-zagging) or
        ``sustained`` (offsets linear in time: one extra yaw rate for the whole clip).
    nominal_fov_deg: vertical FoV assumed for clips without intrinsics.
    """

    probability: float = 0.5
    zoom: float = 1.25
    schedule: str = "independent"
    nominal_fov_deg: float = 45.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(
                f"virtual rotation probability must be in [0, 1], got {self.probability}"
            )
        if not 1.0 < self.zoom <= 2.0:
            raise ValueError(f"virtual rotation zoom must be in (1, 2], got {self.zoom}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"virtual rotation schedule must be one of {SCHEDULES}")


def source_points(psi: float, fov: float, zoom: float, width: int, height: int, points):
    """Where the virtual camera's pixels ``points`` ``(N, 2)`` (centred, pixels) fall in the
    source frame ``(N, 2)``: ``u_src = K R_y(psi) K'^-1 u'``, focal from the vertical ``fov``."""
    focal = (height / 2.0) / math.tan(fov / 2.0)
    rays = np.column_stack([points / (focal * zoom), np.ones(len(points))])  # (N, 3) in cam'
    rays = rays @ yaw_about_camera_y(psi).T  # (N, 3) in cam
    return focal * rays[:, :2] / rays[:, 2:3]


def _boundary(width: int, height: int) -> np.ndarray:
    """Centred pixel coordinates along the frame's border ``(N, 2)``."""
    xs, ys = np.linspace(-width / 2, width / 2, 33), np.linspace(-height / 2, height / 2, 17)
    return np.concatenate(
        [np.column_stack([xs, np.full_like(xs, y)]) for y in (-height / 2, height / 2)]
        + [np.column_stack([np.full_like(ys, x), ys]) for x in (-width / 2, width / 2)]
    )


@functools.lru_cache(maxsize=256)  # per (FoV, zoom, size): the same few values every clip
def max_yaw(fov: float, zoom: float, width: int, height: int) -> float:
    """Largest ``|psi|`` (radians) whose warp samples only inside the source frame."""
    border = _boundary(width, height)
    half = np.array([width / 2.0, height / 2.0])
    low, high = 0.0, math.pi / 4
    for _ in range(30):  # bisection on "every border point lands inside"
        psi = 0.5 * (low + high)
        inside = all(
            np.all(np.abs(source_points(s, fov, zoom, width, height, border)) <= half)
            for s in (psi, -psi)
        )
        low, high = (psi, high) if inside else (low, psi)
    return low


def warp_frames(frames: torch.Tensor, fov: float, yaws: np.ndarray, zoom: float) -> torch.Tensor:
    """Re-render ``frames`` ``(T, C, H, W)`` from cameras yawed by ``yaws`` ``(T,)`` radians
    with focal ``zoom`` times longer (bilinear)."""
    steps, _, height, width = frames.shape
    xs = torch.arange(width, dtype=torch.float64) + 0.5 - width / 2.0
    ys = torch.arange(height, dtype=torch.float64) + 0.5 - height / 2.0
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each
    pixels = torch.stack([grid_x, grid_y], dim=-1).reshape(-1, 2).numpy()  # (H W, 2)
    grids = [
        source_points(float(psi), fov, zoom, width, height, pixels) / [width / 2.0, height / 2.0]
        for psi in yaws
    ]  # T x (H W, 2) in [-1, 1] (align_corners=False)
    grid = torch.as_tensor(np.stack(grids), dtype=frames.dtype).reshape(steps, height, width, 2)
    warped = F.grid_sample(
        frames, grid, mode="bilinear", padding_mode="border", align_corners=False
    )
    return warped.clamp_(0.0, 1.0)  # (T, C, H, W)


def rotate_relative_poses(relative: np.ndarray, yaws: np.ndarray) -> np.ndarray:
    """``(T-1, 4, 4)`` ``cam_i_from_cam_{i+1}`` -> the same motions between the yawed cameras."""
    turn = np.tile(np.eye(4), (len(yaws), 1, 1))  # (T, 4, 4) cam_i_from_cam'_i
    turn[:, :3, :3] = yaw_about_camera_y(np.asarray(yaws, np.float64))
    return np.linalg.inv(turn[:-1]) @ relative @ turn[1:]


def clip_fov(sample: dict[str, Any], options: VirtualRotation) -> float:
    """Vertical FoV (radians) of a decoded clip's frames, nominal without intrinsics."""
    return float(sample["fov"]) if "fov" in sample else math.radians(options.nominal_fov_deg)


def rotate_clip(sample: dict[str, Any], yaws: np.ndarray, options: VirtualRotation) -> dict:
    """A decoded clip (``la_pose_core.data.shards`` layout) seen from yawed, zoomed cameras."""
    fov = clip_fov(sample, options)
    out = dict(sample)
    out["frames"] = warp_frames(sample["frames"], fov, yaws, options.zoom)
    if "fov" in sample:
        out["fov"] = torch.tensor(2.0 * math.atan(math.tan(fov / 2.0) / options.zoom))
    if "relative_poses" in sample:  # rotation keeps every step length, so the scale too
        out["relative_poses"] = torch.as_tensor(
            rotate_relative_poses(sample["relative_poses"].numpy(), yaws)
        )  # (T-1, 4, 4)
    return out


class RandomVirtualRotation:
    """Pipeline stage: each clip is rotated with ``options.probability``; the draw depends only
    on (seed, epoch, clip key), so a resumed or re-split run augments every clip the same way."""

    def __init__(self, options: VirtualRotation, seed: int, epoch_state: dict) -> None:
        self.options, self.seed, self.epoch_state = options, seed, epoch_state

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        key = zlib.crc32(str(sample["key"]).encode())
        rng = np.random.default_rng([self.seed, self.epoch_state["epoch"], key, 0x407A7E])
        if rng.random() >= self.options.probability:
            return sample
        _, _, height, width = sample["frames"].shape
        limit = max_yaw(clip_fov(sample, self.options), self.options.zoom, width, height)
        return rotate_clip(sample, self._yaws(rng, sample, limit), self.options)

    def _yaws(self, rng: np.random.Generator, sample: dict[str, Any], limit: float) -> np.ndarray:
        """``(T,)`` yaw offsets (radians) within +-``limit``."""
        if self.options.schedule == "sustained":  # one extra yaw rate, centred on the clip
            centred = sample["stamps"].numpy() - float(sample["stamps"].mean())  # (T,) s
            return rng.uniform(-limit, limit) * centred / max(np.abs(centred).max(), 1e-9)
        amplitude = rng.uniform(0.0, limit)
        return rng.uniform(-amplitude, amplitude, size=sample["frames"].shape[0])
