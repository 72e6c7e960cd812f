"""The pose head as an exportable graph: the module itself, its output dict as a tuple.

The head is non-causal over the window's latent actions, so the streaming estimator runs it
over the whole window (``P = 1 .. clip_len - 1`` pairs) at every frame; the graph takes ``P``
as a dynamic axis. Its rotary positions are ``arange(1 + P)``, computed in the graph.
"""

from __future__ import annotations

from torch import Tensor, nn

from la_pose_core.model.pose_head import PoseHead

POSE_HEAD_OUTPUTS = (  # PoseHead.forward's keys, in the graph's output order
    "translation_normalized",  # (1, P, 3)
    "quaternion",  # (1, P, 4)
    "fov",  # (1, P)
    "log_scale",  # (1,)
    "scale",  # (1,)
    "translation",  # (1, P, 3)
)


class PoseHeadGraph(nn.Module):
    """``latent_actions`` ``(1, P, d)`` (and, for a head with ``camera_fov_input``,
    ``camera_fov`` ``(1,)``) -> the :class:`PoseHead` outputs in :data:`POSE_HEAD_OUTPUTS`
    order (ONNX graphs return tuples, not dicts)."""

    def __init__(self, pose_head: PoseHead) -> None:
        super().__init__()
        self.pose_head = pose_head.eval()

    def forward(self, latent_actions: Tensor, camera_fov: Tensor | None = None) -> tuple:
        outputs = self.pose_head(latent_actions, camera_fov)
        return tuple(outputs[name] for name in POSE_HEAD_OUTPUTS)
