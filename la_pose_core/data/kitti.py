"""Reader for a folder in the KITTI odometry layout.

::

    SEQUENCE/
      image_0/000000.png ...   images of one camera (image_0..image_3; greyscale or colour)
      times.txt                one stamp per frame, seconds from the sequence start
      calib.txt                optional: projection matrices P0..P3 (3x4, row-major); Pk belongs
                               to image_k (without it ``intrinsics`` is None: fine for
                               label-free pretraining clips, not for evaluation or bags)
      poses.txt                optional: ground truth, camera-to-world 3x4 per frame (metres)

Images are returned as uint8 arrays, ``(H, W)`` greyscale or ``(H, W, 3)`` RGB.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from la_pose_core.data.trajectory_io import read_kitti_poses

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of an image of ``width`` x ``height`` pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @property
    def vertical_fov(self) -> float:
        """Vertical field of view in radians: ``2 atan(H / (2 fy))`` (what the model predicts)."""
        return float(2.0 * np.arctan(self.height / (2.0 * self.fy)))

    @property
    def matrix(self) -> np.ndarray:
        """``(3, 3)`` camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class Frame:
    index: int
    stamp: float  # seconds
    image: np.ndarray  # (H, W) or (H, W, 3) uint8, RGB
    world_from_cam: np.ndarray | None  # (4, 4) ground truth, when the sequence has poses


def read_image(path: Path) -> np.ndarray:
    """Read an image file as uint8 ``(H, W)`` greyscale or ``(H, W, 3)`` RGB."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{path}: not a readable image")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    elif image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image


def read_calibration(path: Path) -> dict[str, np.ndarray]:
    """Parse ``calib.txt`` into ``{"P0": (3, 4), ...}``."""
    matrices = {}
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        name, _, values = line.partition(":")
        numbers = values.split()
        if len(numbers) != 12:
            raise ValueError(f"{path}:{line_number}: {name} needs 12 numbers, got {len(numbers)}")
        matrices[name.strip()] = np.array([float(v) for v in numbers]).reshape(3, 4)
    return matrices


class KittiSequence:
    """Frames, stamps, ground-truth poses and intrinsics of one KITTI-layout folder."""

    def __init__(self, root: str | Path, camera: str = "image_0"):
        self.root = Path(root)
        image_dir = self.root / camera
        if not image_dir.is_dir():
            raise FileNotFoundError(
                f"{self.root}: no {camera}/ folder (not a KITTI-layout sequence)"
            )
        self.image_paths = sorted(
            p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not self.image_paths:
            raise FileNotFoundError(f"{image_dir}: no images")

        self.stamps = np.loadtxt(self.root / "times.txt", dtype=np.float64, ndmin=1)  # (N,)
        if len(self.stamps) != len(self.image_paths):
            raise ValueError(
                f"{self.root}: {len(self.image_paths)} images but {len(self.stamps)} stamps"
            )
        if np.any(np.diff(self.stamps) <= 0.0):
            raise ValueError(f"{self.root}/times.txt: stamps are not strictly increasing")

        poses_path = self.root / "poses.txt"
        self.world_from_cam = read_kitti_poses(poses_path) if poses_path.exists() else None
        if self.world_from_cam is not None and len(self.world_from_cam) != len(self.image_paths):
            raise ValueError(
                f"{poses_path}: {len(self.world_from_cam)} poses for {len(self.image_paths)} images"
            )

        self.intrinsics = self._read_intrinsics(camera)

    def _read_intrinsics(self, camera: str) -> CameraIntrinsics | None:
        """The camera's pinhole intrinsics from ``calib.txt``, or None without that file."""
        calib_path = self.root / "calib.txt"
        if not calib_path.exists():
            return None
        projection = read_calibration(calib_path)[f"P{camera[-1]}"]  # (3, 4)
        height, width = self._first_readable_image().shape[:2]
        return CameraIntrinsics(
            fx=projection[0, 0],
            fy=projection[1, 1],
            cx=projection[0, 2],
            cy=projection[1, 2],
            width=width,
            height=height,
        )

    def _first_readable_image(self) -> np.ndarray:
        """The first image that reads (the image size; a corrupt file is skipped by readers
        that skip such frames, so it must not stop the sequence from opening)."""
        for path in self.image_paths[:-1]:
            try:
                return read_image(path)
            except ValueError:
                continue
        return read_image(self.image_paths[-1])  # none reads: the last one's error

    def require_intrinsics(self) -> CameraIntrinsics:
        """``intrinsics``, or a one-line error naming the missing ``calib.txt``."""
        if self.intrinsics is None:
            raise ValueError(f"{self.root}: no calib.txt (camera intrinsics are needed here)")
        return self.intrinsics

    def __len__(self) -> int:
        return len(self.image_paths)

    def image(self, index: int) -> np.ndarray:
        return read_image(self.image_paths[index])

    def frame(self, index: int) -> Frame:
        pose = None if self.world_from_cam is None else self.world_from_cam[index]
        return Frame(index, float(self.stamps[index]), self.image(index), pose)

    def __iter__(self) -> Iterator[Frame]:
        return (self.frame(index) for index in range(len(self)))
