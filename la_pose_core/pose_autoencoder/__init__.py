"""Camera Pose Auto-Encoder (Shavit & Keller) for LA-Pose: pose -> latent action encoder.

Read in this order: ``encoder`` (the pose encoder, Fourier features + MLP), ``teacher_student``
(training it against the frozen inverse dynamics model and pose head), ``refinement``
(test-time translation refinement from a bank of post-training motions).

Conventions as in ``la_pose_core.geometry``: relative poses ``cam_t_from_cam_{t+1}`` in the
camera optical frame (x right, y down, z forward), metres, quaternions ``(x, y, z, w)``,
canonical ``w >= 0``. No ROS import here (``la_pose_core`` runs without ROS).
"""

from la_pose_core.pose_autoencoder.encoder import (
    FourierFeatures,
    PoseEncoder,
    canonical_quaternion_torch,
    pose_tensors,
)
from la_pose_core.pose_autoencoder.refinement import (
    MotionBank,
    Refinement,
    affine_weights,
    refine,
)
from la_pose_core.pose_autoencoder.teacher_student import (
    TeacherBatch,
    fit_pose_encoder,
    teacher_student_loss,
)

__all__ = [
    "FourierFeatures",
    "MotionBank",
    "PoseEncoder",
    "Refinement",
    "TeacherBatch",
    "affine_weights",
    "canonical_quaternion_torch",
    "fit_pose_encoder",
    "pose_tensors",
    "refine",
    "teacher_student_loss",
]
