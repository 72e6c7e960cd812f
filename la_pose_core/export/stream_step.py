"""The streaming step of the inverse dynamics model as a pure function of tensors, for export.

:class:`~la_pose_core.model.inverse_dynamics.InverseDynamicsStream` keeps Python state: a
:class:`~la_pose_core.model.layers.KeyValueCache` per block that grows until it holds
``clip_len`` frames, the previous frame's inputs (``None`` at the start) and a frame count. An
exported graph cannot hold state, so :class:`StreamStep` takes all of it in and gives the new
state out, with fixed shapes (one graph for every step, static for TensorRT):

- the caches of all blocks stacked, ``(depth, S, heads, clip_len, head_dim)``, one slot per
  frame of the window; the new frame's keys/values go to slot ``frame_index % clip_len`` (the
  ring buffer of ``KeyValueCache``) and attention is masked to the slots written so far
  (``slot <= frame_index``), which is the same attention as over the shorter cache;
- the previous frame's :meth:`~la_pose_core.model.inverse_dynamics.InverseDynamics.frame_inputs`
  (only with motion features); at the first frame (``dt`` NaN) its motion features are zeroed,
  as ``MotionFeatures`` does without a previous frame;
- ``frame_index``: frames pushed before this one, the rotary position of the new frame (angles
  in float64 as in torch).

Batch 1: the runtime runs the views of a mirror-averaged stream one after the other (every
normalisation is per sample in eval mode, so that is the same as a batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from la_pose_core.model.config import LAPoseConfig
from la_pose_core.model.frame_features import XFEAT_CELL, XFEAT_CHANNELS
from la_pose_core.model.inverse_dynamics import InverseDynamics
from la_pose_core.model.layers import SpaceTimeBlock


@dataclass(frozen=True)
class StreamShapes:
    """Shapes of the exported step's tensors for one config (batch 1)."""

    frame: tuple[int, ...]  # (1, 3, H, W)
    cache: tuple[int, ...]  # (depth, S, heads, clip_len, head_dim)
    previous_inputs: tuple[int, ...] | None  # (1, C, h, w); None without motion features
    latent_dim: int
    bottleneck_dim: int

    @classmethod
    def of(cls, config: LAPoseConfig) -> StreamShapes:
        cfg = config.inverse_dynamics
        rows, cols = config.patch_grid
        tokens = rows * cols + 1  # patches + the action query
        cache = (cfg.depth, tokens, cfg.heads, config.clip_len, cfg.dim // cfg.heads)
        previous = None
        if cfg.frame_encoder == "xfeat" and cfg.correlation_radius > 0:
            cells = (config.image_height // XFEAT_CELL, config.image_width // XFEAT_CELL)
            previous = (1, XFEAT_CHANNELS, *cells)
        frame = (1, 3, config.image_height, config.image_width)
        return cls(frame, cache, previous, cfg.dim, cfg.bottleneck_dim)


def _block_step(
    block: SpaceTimeBlock,
    x: Tensor,
    keys: Tensor,
    values: Tensor,
    frame_index: Tensor,
    write: Tensor,
    attend: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """:meth:`SpaceTimeBlock.step` on a fixed-size cache.

    Args:
        x: ``(1, 1, S, D)`` the new frame's tokens.
        keys, values: ``(S, heads, L, e)`` this block's cache, ``L = clip_len`` slots.
        frame_index: ``(1,)`` int64, the new frame's position.
        write: ``(L, 1)`` bool, the slot the new frame goes to.
        attend: ``(1, L)`` bool, the slots holding frames once it is written.
    Returns:
        ``(1, 1, S, D)`` tokens, and the updated keys and values.
    """
    x = block._spatial(x)  # (1, 1, S, D)
    slots = rearrange(block.norm_time(x), "b t s d -> (b s) t d")  # (S, 1, D)
    query, key, value = block.time._project(slots, frame_index)  # (S, h, 1, e) each
    keys = torch.where(write, key, keys)  # (S, h, L, e)
    values = torch.where(write, value, values)  # (S, h, L, e)
    heads = F.scaled_dot_product_attention(query, keys, values, attn_mask=attend)  # (S, h, 1, e)
    mixed = block.time.out(rearrange(heads, "n h l e -> n l (h e)"))  # (S, 1, D)
    x = x + rearrange(mixed, "(b s) t d -> b t s d", b=1)  # (1, 1, S, D)
    return x + block.mlp(block.norm_mlp(x)), keys, values


class StreamStep(nn.Module):
    """One frame through an :class:`InverseDynamics` against the given state (see module doc).

    ``forward(frame, dt, frame_index, keys, values[, previous_inputs])`` with ``frame``
    ``(1, 3, H, W)`` in [0, 1], ``dt`` ``(1,)`` seconds since the previous frame (NaN at the
    first frame of a stream), ``frame_index`` ``(1,)`` int64 and the state of :class:`StreamShapes`
    returns ``latent_actions`` ``(1, d)``, ``bottleneck_codes`` ``(1, k)``, the new ``keys`` and
    ``values`` and, with motion features, this frame's ``inputs`` ``(1, C, h, w)`` (the next
    step's ``previous_inputs``). The first frame's action is computed but means nothing.
    """

    def __init__(self, model: InverseDynamics) -> None:
        super().__init__()
        self.model = model.eval()
        self.capacity = model.clip_len

    def forward(
        self,
        frame: Tensor,
        dt: Tensor,
        frame_index: Tensor,
        keys: Tensor,
        values: Tensor,
        previous_inputs: Tensor | None = None,
    ) -> tuple[Tensor, ...]:
        inputs = self.model.frame_inputs(frame[:, None])  # (1, 1, C, h, w)
        x = self.model.embed_features(self._features(inputs, dt, previous_inputs), dt[:, None])
        slots = torch.arange(self.capacity, device=frame.device)  # (L,)
        write = (slots == frame_index % self.capacity)[:, None]  # (L, 1)
        attend = (slots <= frame_index)[None]  # (1, L)
        new_keys, new_values = [], []
        for block, block_keys, block_values in zip(self.model.blocks, keys, values, strict=True):
            x, block_keys, block_values = _block_step(
                block, x, block_keys, block_values, frame_index, write, attend
            )  # (1, 1, S, D), (S, h, L, e) x 2
            new_keys.append(block_keys)
            new_values.append(block_values)
        actions = self.model.norm(x[:, 0, 0])  # (1, d)
        outputs = (actions, self.model.bottleneck.encode(actions))  # (1, d), (1, k)
        outputs += (torch.stack(new_keys), torch.stack(new_values))  # (depth, S, h, L, e) x 2
        if self.model.motion_features is not None:
            outputs += (inputs[:, 0],)  # (1, C, h, w)
        return outputs

    def _features(self, inputs: Tensor, dt: Tensor, previous_inputs: Tensor | None) -> Tensor:
        """``(1, 1, C, h, w)`` inputs -> what the patch embedding reads ``(1, 1, C', h, w)``:
        with motion features, those against ``previous_inputs``, zero at the first frame."""
        motion_features = self.model.motion_features
        if motion_features is None:
            return inputs
        known = (~torch.isnan(dt)).to(inputs.dtype)[:, None, None, None]  # (1, 1, 1, 1)
        motion = motion_features(inputs[:, 0], previous_inputs) * known  # (1, K', h, w)
        return torch.cat((inputs, motion[:, None]), dim=2)  # (1, 1, C + K', h, w)
