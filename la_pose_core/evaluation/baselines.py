"""The reference methods run beside LA-Pose, on exactly the frames LA-Pose used.

``opencv_vo_gt_scale``               classical monocular OpenCV VO
                                     (:class:`la_pose_core.baselines.MonocularVO`); its step
                                     lengths come from ground truth: **metric only with GT
                                     scale** (AUC and ATE-S are fair comparisons, ATE-M and RPE
                                     borrow the ground truth's scale);
``constant_velocity_gt_first_pair``  the first pair's ground-truth motion, applied over every
                                     later pair's interval (uses ground truth once).
"""

from collections.abc import Iterable

import numpy as np

from la_pose_core.baselines import MonocularVO, VOStats, constant_velocity_trajectory
from la_pose_core.geometry import chain_relative_poses, inverse

OPENCV_VO = "opencv_vo_gt_scale"
CONSTANT_VELOCITY = "constant_velocity_gt_first_pair"
BASELINES = (OPENCV_VO, CONSTANT_VELOCITY)


def vo_trajectory(
    images: Iterable[np.ndarray],
    ground_truth: np.ndarray,
    camera_matrix: np.ndarray,
    features: str = "klt",
) -> tuple[np.ndarray, VOStats]:
    """Monocular VO over ``images`` (read once, in order) with ground-truth step lengths.

    Returns the ``(N, 4, 4)`` camera-to-world trajectory (starting at ``ground_truth[0]``) and
    the VO's statistics (failures, still pairs, inliers).
    """
    vo = MonocularVO(camera_matrix, features)
    motions = []
    for index, image in enumerate(images):
        step = 0.0
        if index > 0:
            step = float(
                np.linalg.norm((inverse(ground_truth[index - 1]) @ ground_truth[index])[:3, 3])
            )
        motion = vo.step(image, step)
        if motion is not None:
            motions.append(motion)
    return chain_relative_poses(np.stack(motions), ground_truth[0]), vo.stats


def baseline_trajectories(
    images: list[np.ndarray],
    stamps: np.ndarray,
    ground_truth: np.ndarray,
    camera_matrix: np.ndarray,
    names: tuple[str, ...] = BASELINES,
    vo_features: str = "klt",
) -> dict[str, np.ndarray]:
    """Camera-to-world ``(N, 4, 4)`` trajectories of the named baselines over ``N`` frames.

    Args:
        images: the ``N`` frames (uint8, any layout ``MonocularVO`` takes).
        stamps: ``(N,)`` seconds; ``ground_truth``: ``(N, 4, 4)`` camera-to-world.
        camera_matrix: ``(3, 3)`` intrinsics of ``images``.
    """
    trajectories = {}
    if OPENCV_VO in names:
        trajectories[OPENCV_VO], _ = vo_trajectory(images, ground_truth, camera_matrix, vo_features)
    if CONSTANT_VELOCITY in names:
        trajectories[CONSTANT_VELOCITY] = constant_velocity_trajectory(ground_truth, stamps)
    return trajectories


def run_baselines(
    sequence,
    used: list[int],
    ground_truth: np.ndarray,
    stamps: np.ndarray,
    baselines: tuple[str, ...] | list[str],
    vo_features: str,
) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """The baselines' trajectories (name -> (N, 4, 4)) and details, on exactly the used frames.

    ``sequence`` is read again at the ``used`` indices, one image at a time (``image(i)``,
    ``intrinsics``); ``ground_truth`` ``(N, 4, 4)`` and ``stamps`` ``(N,)`` are those frames'.
    """
    estimates, details = {}, {}
    used_images = (sequence.image(index) for index in used)  # read again, one at a time
    camera_matrix = sequence.intrinsics.matrix
    if OPENCV_VO in baselines:
        estimates[OPENCV_VO], stats = vo_trajectory(
            used_images, ground_truth, camera_matrix, vo_features
        )
        details[OPENCV_VO] = {"features": vo_features, **stats.to_dict()}
    if CONSTANT_VELOCITY in baselines:
        estimates[CONSTANT_VELOCITY] = constant_velocity_trajectory(ground_truth, stamps)
    return estimates, details
