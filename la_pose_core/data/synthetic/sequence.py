"""Synthetic driving sequences: in memory (:class:`SyntheticSequence`) or as a KITTI folder.

A sequence is fixed by its seed: the world (streets, buildings, lighting), the camera's field of
view (unless given) and the drive are drawn from independent streams of the seed, and frame
``i`` is rendered from the exact pose ``scene_from_cam[i]``. Poses are reported like KITTI's
``poses.txt``: camera-to-world with the world frame = the first camera's optical frame
(``world_from_cam[0] = I``); :attr:`SyntheticSequence.world_from_scene` relates the two.

:func:`write_synthetic_sequence` writes the KITTI odometry layout that
:class:`~la_pose_core.data.kitti.KittiSequence` reads::

    OUT/
      image_0/000000.png ...   RGB (or greyscale) PNG frames
      times.txt                stamps, seconds from the first frame
      calib.txt                P0..P3 = [K | 0] (one camera: the four are the same)
      poses.txt                world_from_cam, 12 numbers per line
      synthetic.json           how it was made (seed, size, fps, FoV, configs)
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from la_pose_core.data.kitti import CameraIntrinsics, Frame
from la_pose_core.data.synthetic.renderer import Renderer, RenderOutput, intrinsics_from_fov
from la_pose_core.data.synthetic.trajectory import (
    TrajectoryConfig,
    VehicleTrajectory,
    generate_trajectory,
)
from la_pose_core.data.synthetic.world import World
from la_pose_core.data.trajectory_io import write_kitti_poses
from la_pose_core.geometry import inverse
from la_pose_core.paper import PAPER_FRAME_SIZE

DEFAULT_SIZE = PAPER_FRAME_SIZE  # (width, height): the paper's model input
VERTICAL_FOV_RANGE_DEG = (30.0, 60.0)  # drawn from the seed when no FoV is given


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` -> ``(W, H)``; raises ``ValueError`` on anything else."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"size must look like 960x448, got {text!r}")
    width, height = (int(p) for p in parts)
    if width < 8 or height < 8:
        raise ValueError(f"size must be at least 8x8, got {text!r}")
    return width, height


class SyntheticSequence:
    """A rendered-on-demand drive with the interface of ``KittiSequence``.

    Args:
        frames: number of frames ``N``.
        seed: fixes everything.
        size: ``(width, height)`` in pixels.
        fps: frame rate; stamps are ``i / fps``.
        vertical_fov_deg: camera vertical field of view; drawn from ``VERTICAL_FOV_RANGE_DEG``
            with the seed when None.
        trajectory_config: how the car drives (stops, reversing, speeds, camera mount).
        world: a ready-made world (tests); ``World(seed)`` when None. The drive depends on the
            world's street grid only.
        grayscale: images ``(H, W)`` instead of ``(H, W, 3)``.
        noise_std: standard deviation of Gaussian sensor noise in grey levels (0: none); the
            noise of frame ``i`` is seeded by ``(seed, i)``.

    Attributes:
        stamps: ``(N,)`` seconds.
        world_from_cam: ``(N, 4, 4)`` camera-to-world, world = first camera (KITTI convention).
        scene_from_cam: ``(N, 4, 4)`` the same poses in the renderer's scene frame.
        intrinsics: :class:`CameraIntrinsics` of every frame.
        trajectory: the :class:`VehicleTrajectory` (speeds, base_link poses, ...).
    """

    def __init__(
        self,
        frames: int,
        seed: int,
        size: tuple[int, int] = DEFAULT_SIZE,
        fps: float = 10.0,
        vertical_fov_deg: float | None = None,
        trajectory_config: TrajectoryConfig | None = None,
        world: World | None = None,
        grayscale: bool = False,
        noise_std: float = 0.0,
    ):
        if frames < 1:
            raise ValueError(f"need at least 1 frame, got {frames}")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.seed = int(seed)
        self.name = f"synthetic-seed{self.seed}"
        self.size = (int(size[0]), int(size[1]))
        self.fps = float(fps)
        self.grayscale = grayscale
        self.noise_std = float(noise_std)
        self.trajectory_config = trajectory_config or TrajectoryConfig()
        self.world = world if world is not None else World(self.seed)
        camera_rng = np.random.default_rng([self.seed, 0xCA3])
        drawn_fov = camera_rng.uniform(*VERTICAL_FOV_RANGE_DEG)
        self.vertical_fov_deg = float(vertical_fov_deg if vertical_fov_deg else drawn_fov)
        self.intrinsics: CameraIntrinsics = intrinsics_from_fov(
            *self.size, math.radians(self.vertical_fov_deg)
        )
        drive_rng = np.random.default_rng([self.seed, 0xD21E])
        self.trajectory: VehicleTrajectory = generate_trajectory(
            self.world.grid, frames, self.fps, drive_rng, self.trajectory_config
        )
        self.stamps = self.trajectory.stamps
        self.scene_from_cam = self.trajectory.scene_from_cam
        self.base_from_camera = self.trajectory.base_from_camera  # (4, 4) the camera's mounting
        self.world_from_scene = inverse(self.scene_from_cam[0])
        self.world_from_cam = self.world_from_scene @ self.scene_from_cam
        self.renderer = Renderer(self.world)

    def __len__(self) -> int:
        return len(self.stamps)

    def render(self, index: int) -> RenderOutput:
        """Image, depth and primitive buffers of frame ``index`` (before noise/greyscale)."""
        return self.renderer.render(self.scene_from_cam[index], self.intrinsics)

    def image(self, index: int) -> np.ndarray:
        """uint8 ``(H, W, 3)`` RGB, or ``(H, W)`` when ``grayscale``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"frame {index} of a {len(self)}-frame sequence")
        index = index % len(self)
        image = self.render(index).image
        if self.noise_std > 0:
            rng = np.random.default_rng([self.seed, 0x1015E, index])
            noisy = image + rng.normal(0.0, self.noise_std, image.shape)
            image = np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
        if self.grayscale:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return image

    def frame(self, index: int) -> Frame:
        return Frame(
            index, float(self.stamps[index]), self.image(index), self.world_from_cam[index]
        )

    def __iter__(self) -> Iterator[Frame]:
        return (self.frame(index) for index in range(len(self)))

    def description(self) -> dict:
        """JSON-ready record of how the sequence was made."""
        return {
            "generator": "la_pose_core.data.synthetic",
            "seed": self.seed,
            "frames": len(self),
            "size": list(self.size),
            "fps": self.fps,
            "vertical_fov_deg": self.vertical_fov_deg,
            "grayscale": self.grayscale,
            "noise_std": self.noise_std,
            "trajectory_config": dataclasses.asdict(self.trajectory_config),
            "street_grid": dataclasses.asdict(self.world.grid),
            "lighting": dataclasses.asdict(self.world.lighting),
            "scene_from_world": self.scene_from_cam[0].tolist(),
        }


_WORKER_JOB: tuple[SyntheticSequence, Path] | None = None  # set before forking workers


def _write_frame(index: int) -> int:
    sequence, image_dir = _WORKER_JOB
    image = sequence.image(index)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    path = image_dir / f"{index:06d}.png"
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")
    return index


def write_synthetic_sequence(
    out_dir: str | Path,
    frames: int,
    seed: int,
    size: tuple[int, int] = DEFAULT_SIZE,
    fps: float = 10.0,
    progress: bool = False,
    overwrite: bool = False,
    workers: int = 1,
    **options,
) -> SyntheticSequence:
    """Render a sequence into a KITTI-layout folder (see the module docstring).

    Args:
        out_dir: created if missing; must not already hold frames unless ``overwrite``.
        frames, seed, size, fps: as :class:`SyntheticSequence`.
        progress: show a tqdm bar on stderr.
        overwrite: replace the frames of an existing folder.
        workers: render in this many processes (fork; the files do not depend on it).
        **options: further :class:`SyntheticSequence` arguments (``vertical_fov_deg``,
            ``trajectory_config``, ``grayscale``, ``noise_std``, ``world``).
    Returns:
        The in-memory sequence (same poses, stamps and images as the files).
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    image_dir = out_dir / "image_0"
    if image_dir.is_dir() and any(image_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{image_dir} already holds frames (use overwrite)")
        for old in image_dir.iterdir():
            if old.suffix.lower() == ".png":
                old.unlink()
    sequence = SyntheticSequence(frames, seed, size=size, fps=fps, **options)
    image_dir.mkdir(parents=True, exist_ok=True)

    global _WORKER_JOB
    _WORKER_JOB = (sequence, image_dir)
    bar = tqdm(
        total=len(sequence), desc="rendering", unit="frame", file=sys.stderr, disable=not progress
    )
    try:
        if workers > 1 and len(sequence) > 1:
            context = multiprocessing.get_context("fork")
            with context.Pool(min(workers, len(sequence))) as pool:
                for _ in pool.imap_unordered(_write_frame, range(len(sequence)), chunksize=2):
                    bar.update()
        else:
            for index in range(len(sequence)):
                _write_frame(index)
                bar.update()
    finally:
        bar.close()
        _WORKER_JOB = None

    np.savetxt(out_dir / "times.txt", sequence.stamps, fmt="%.9e")
    projection = np.hstack([sequence.intrinsics.matrix, np.zeros((3, 1))]).ravel()  # (12,)
    numbers = " ".join(f"{value:.12e}" for value in projection)
    (out_dir / "calib.txt").write_text("".join(f"P{k}: {numbers}\n" for k in range(4)))
    write_kitti_poses(out_dir / "poses.txt", sequence.world_from_cam)
    (out_dir / "synthetic.json").write_text(json.dumps(sequence.description(), indent=2) + "\n")
    return sequence
