"""The LA-Pose networks (PyTorch): tokenizer, inverse/forward dynamics, pose head, wrappers.

Read in this order: ``config`` (sizes and presets), ``layers`` (attention blocks),
``tokenizer``, ``frame_features`` (frozen XFeat, an optional front end), ``inverse_dynamics``,
``forward_dynamics``, ``pose_head``, ``targets`` and ``losses``, ``lapose`` (the pretraining and
post-training modules), ``pose_encoder`` (the Camera Pose Auto-Encoder's pose -> latent action
network), ``checkpoint``, ``precision`` (device choice and bf16 autocast, shared by inference
and training).

Images enter every network as float tensors ``(B, T, 3, H, W)`` in [0, 1] (greyscale replicated
to 3 channels). Poses follow ``la_pose_core.geometry``: camera optical frame (x right, y down,
z forward), quaternions ``(x, y, z, w)`` with ``w >= 0``, pair ``t`` is ``cam_t_from_cam_{t+1}``.
"""

from la_pose_core.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from la_pose_core.model.config import LAPoseConfig, get_config
from la_pose_core.model.forward_dynamics import ForwardDynamics
from la_pose_core.model.inverse_dynamics import InverseDynamics, InverseDynamicsStream
from la_pose_core.model.lapose import LAPosePosttrainer, LAPosePretrainer
from la_pose_core.model.losses import PoseLoss, sign_invariant_quaternion_l1
from la_pose_core.model.pose_head import PoseHead
from la_pose_core.model.targets import PoseTargets
from la_pose_core.model.tokenizer import Tokenizer

__all__ = [
    "Checkpoint",
    "ForwardDynamics",
    "InverseDynamics",
    "InverseDynamicsStream",
    "LAPoseConfig",
    "LAPosePosttrainer",
    "LAPosePretrainer",
    "PoseHead",
    "PoseLoss",
    "PoseTargets",
    "Tokenizer",
    "get_config",
    "load_checkpoint",
    "save_checkpoint",
    "sign_invariant_quaternion_l1",
]
