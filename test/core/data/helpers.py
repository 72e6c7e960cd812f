"""A tiny in-memory sequence for data tests (random smooth images, a gentle drive)."""

import numpy as np
from scipy.spatial.transform import Rotation

from la_pose_core.data.kitti import CameraIntrinsics
from la_pose_core.geometry import make_pose


class TinySequence:
    """``N`` frames of ``(H, W, 3)`` (or ``(H, W)``) smooth random images with stamps and poses.

    The camera drives forward (+z) about 1 m per 0.1 s with a slow yaw.
    """

    def __init__(
        self,
        stamps: np.ndarray,
        size: tuple[int, int] = (16, 12),
        with_poses: bool = True,
        grayscale: bool = False,
        seed: int = 0,
        name: str = "tiny",
    ):
        self.stamps = np.asarray(stamps, np.float64)
        self.name = name
        width, height = size
        rng = np.random.default_rng(seed)
        shape = (len(self.stamps), height, width) + (() if grayscale else (3,))
        coarse = rng.uniform(0, 255, (len(self.stamps), 4, 4, *shape[3:]))
        # smooth images (bilinear upsampling of a 4x4 grid): friendly to JPEG
        rows = np.linspace(0, 3, height)
        columns = np.linspace(0, 3, width)
        r0 = np.floor(rows).astype(int).clip(0, 2)
        c0 = np.floor(columns).astype(int).clip(0, 2)
        fr, fc = (rows - r0)[:, None], (columns - c0)[None, :]
        if not grayscale:
            fr, fc = fr[..., None], fc[..., None]
        top = coarse[:, r0][:, :, c0] * (1 - fc) + coarse[:, r0][:, :, c0 + 1] * fc
        bottom = coarse[:, r0 + 1][:, :, c0] * (1 - fc) + coarse[:, r0 + 1][:, :, c0 + 1] * fc
        self._images = np.round(top * (1 - fr) + bottom * fr).astype(np.uint8)
        assert self._images.shape == shape
        self.intrinsics = CameraIntrinsics(
            fx=20.0, fy=20.0, cx=(width - 1) / 2, cy=(height - 1) / 2, width=width, height=height
        )
        self.world_from_cam = None
        if with_poses:
            yaw = 0.02 * self.stamps
            rotation = Rotation.from_euler(
                "y", yaw[:, None]
            ).as_matrix()  # about the optical y (down)
            position = np.stack([np.sin(yaw) * 0.5, np.zeros_like(yaw), 10.0 * self.stamps], axis=1)
            self.world_from_cam = make_pose(rotation, position)

    def __len__(self) -> int:
        return len(self.stamps)

    def image(self, index: int) -> np.ndarray:
        return self._images[index]
