"""Camera Pose Auto-Encoder (Shavit & Keller) for LA-Pose: pose -> latent action encoder.

Read in this order: the pose encoder itself (Fourier features + MLP) lives with the other
networks in :mod:`la_pose_core.model.pose_encoder` and is re-exported here; ``teacher_student``
(training it against the frozen inverse dynamics model and pose head), ``refinement``
(test-time translation refinement from a bank of post-training motions), ``virtual_actions``
(encoded rare motions as extra pose-head training data). Its settings,
:class:`~la_pose_core.model.config.PoseEncoderConfig` and
:class:`~la_pose_core.model.config.RefinementConfig`, live with the other configs in
:mod:`la_pose_core.model.config` (both re-exported or used here). The encoder stays in
``la_pose_core.model``: the checkpoint module builds every stored network, this one too, and
``la_pose_core.model`` importing this package (which imports ``la_pose_core.model``) would be a
cycle.

Conventions as in ``la_pose_core.geometry``: relative poses ``cam_t_from_cam_{t+1}`` in the
camera optical frame (x right, y down, z forward), metres, quaternions ``(x, y, z, w)``,
canonical ``w >= 0``. No ROS import here (``la_pose_core`` runs without ROS).
"""

from la_pose_core.geometry.rotations_torch import canonical_quaternion_torch
from la_pose_core.model.config import RefinementConfig
from la_pose_core.model.pose_encoder import FourierFeatures, PoseEncoder, pose_tensors
from la_pose_core.pose_autoencoder.refinement import (
    MotionBank,
    Refinement,
    TranslationRefiner,
    affine_weights,
    refine,
    save_refinement_checkpoint,
    teacher_record,
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
    "RefinementConfig",
    "TeacherBatch",
    "TranslationRefiner",
    "affine_weights",
    "canonical_quaternion_torch",
    "fit_pose_encoder",
    "pose_tensors",
    "refine",
    "save_refinement_checkpoint",
    "teacher_record",
    "teacher_student_loss",
]
