"""Pose geometry of la_pose. Every convention of the project is written here, once.

Camera optical frame
    x right, y down, z forward (OpenCV; ROS REP 103 ``*_optical`` frames). Images, intrinsics and
    every pose the model sees or predicts are in this frame.

Vehicle frame (ROS ``base_link``, REP 103)
    x forward, y left, z up. The conversion between the two lives in :mod:`.frames` only.

Quaternions
    ``(x, y, z, w)``: scalar-last, Hamilton, unit norm, canonical sign ``w >= 0`` (the order of
    ROS ``geometry_msgs/Quaternion`` and of ``scipy.spatial.transform.Rotation``).

Poses
    4x4 homogeneous float64 matrices (``(..., 4, 4)`` arrays). A pose named ``a_from_b`` maps the
    coordinates of a point in frame ``b`` into frame ``a``: ``p_a = a_from_b @ p_b``. Its
    translation is the origin of ``b`` expressed in ``a``. Poses compose by name:
    ``a_from_c = a_from_b @ b_from_c``.

    A trajectory is camera-to-world, ``world_from_cam[i]`` (as in KITTI ``poses.txt``): the
    camera centre of frame i is ``world_from_cam[i, :3, 3]``. Its inverse ``cam_from_world`` is
    the extrinsic matrix of the metric definitions (``E_i``).

Relative poses
    The motion between frames i < j is ``cam_i_from_cam_j = inv(world_from_cam[i]) @
    world_from_cam[j]``: the pose of camera j seen from camera i (driving forward gives a
    translation along +z). The model predicts it for every adjacent pair (i, i + 1), and
    trajectories are rebuilt by chaining: ``world_from_cam[i + 1] = world_from_cam[i] @
    cam_i_from_cam_{i+1}``.

Image crop
    The model sees the largest centred region of a camera image with its aspect ratio
    (:mod:`.image_crop`), resized; the vertical FoV it sees is that of the crop.

Units
    metres, seconds, radians (degrees only in reported metrics, and said so in the name).
"""

from la_pose_core.geometry.frames import (
    BASE_FROM_OPTICAL,
    base_motion_from_camera_motion,
    camera_motion_from_base_motion,
)
from la_pose_core.geometry.image_crop import (
    center_crop_box,
    input_camera_matrix,
    input_vertical_fov,
)
from la_pose_core.geometry.rotations import (
    canonical_quaternion,
    matrix_from_quaternion,
    quaternion_from_matrix,
    rotation_angle,
    yaw_about_camera_y,
)
from la_pose_core.geometry.scale import denormalize_translations, normalize_translations
from la_pose_core.geometry.se3 import (
    adjacent_relative_poses,
    chain_relative_poses,
    inverse,
    make_pose,
    pose_from_translation_quaternion,
    relative_poses,
    translation_quaternion_from_pose,
)

__all__ = [
    "BASE_FROM_OPTICAL",
    "adjacent_relative_poses",
    "base_motion_from_camera_motion",
    "camera_motion_from_base_motion",
    "canonical_quaternion",
    "center_crop_box",
    "chain_relative_poses",
    "denormalize_translations",
    "input_camera_matrix",
    "input_vertical_fov",
    "inverse",
    "make_pose",
    "matrix_from_quaternion",
    "normalize_translations",
    "pose_from_translation_quaternion",
    "quaternion_from_matrix",
    "relative_poses",
    "rotation_angle",
    "translation_quaternion_from_pose",
    "yaw_about_camera_y",
]
