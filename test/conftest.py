"""Shared fixtures: paths to the repository and to the real KITTI sample in ``../shared/data``."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
KITTI_SAMPLE = Path(
    os.environ.get(
        "LA_POSE_KITTI_SAMPLE", REPO_ROOT.parent / "shared/data/kitti_odometry_00_f0000-0090"
    )
)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def kitti_sample() -> Path:
    """The real KITTI odometry sample (sequence 00, frames 0-90); skipped if it is absent."""
    if not (KITTI_SAMPLE / "poses.txt").exists():
        pytest.skip(f"KITTI sample not found at {KITTI_SAMPLE} (set LA_POSE_KITTI_SAMPLE)")
    return KITTI_SAMPLE


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` skip themselves on a machine whose torch sees no CUDA device."""
    cuda_items = [item for item in items if item.get_closest_marker("cuda")]
    if not cuda_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in cuda_items:
        item.add_marker(skip)
