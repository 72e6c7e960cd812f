"""Transformer building blocks shared by the networks: rotary attention, MLP, blocks, KV cache.

Attention runs through ``torch.nn.functional.scaled_dot_product_attention``. Positions along time
(frames) or along the pose head's token sequence are given by rotary embeddings (RoPE), never by
learned absolute positions: attention scores then depend only on position *differences*, so a
streaming window can slide and cached keys of past frames stay valid.

Streaming (:meth:`SpaceTimeBlock.step`): each new frame's query and key are rotated by its
frame index since the stream started and its keys/values go into a fixed-size ring buffer
(:class:`KeyValueCache`), so a frame costs one frame's compute. In clip mode positions are
``0, ..., T-1``; only offsets matter, so the attention is the same. Angles are computed in
float64, exact for any realistic frame count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

ROTARY_BASE = 10000.0


def init_transformer_weights(module: nn.Module) -> None:
    """Truncated-normal (std 0.02) linear and embedding weights, zero biases (ViT/GPT style).

    Use as ``model.apply(init_transformer_weights)``.
    """
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.trunc_normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding along one axis (rotate-half layout).

    Args:
        head_dim: width of one attention head (even).
    """

    def __init__(self, head_dim: int, base: float = ROTARY_BASE) -> None:
        super().__init__()
        exponents = torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim
        self.register_buffer("inv_freq", base**-exponents, persistent=False)  # (head_dim / 2,)

    def forward(self, x: Tensor, positions: Tensor) -> Tensor:
        """Rotate ``x`` of shape ``(..., L, head_dim)`` by ``positions`` of shape ``(L,)``."""
        angles = positions.double()[:, None] * self.inv_freq.double()  # (L, head_dim / 2)
        cos = angles.cos().to(x.dtype)  # (L, head_dim / 2)
        sin = angles.sin().to(x.dtype)  # (L, head_dim / 2)
        x1, x2 = x.chunk(2, dim=-1)  # (..., L, head_dim / 2) each
        return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)  # (..., L, head_dim)


class KeyValueCache:
    """Ring buffer of the rotated keys and values of the last ``capacity`` positions of one
    attention layer (streaming).

    Slot ``i % capacity`` holds position ``i``, so the newest position overwrites the oldest and
    nothing is copied around. Slot order does not matter: the positions are already rotated
    into the keys, and one query's attention over a set of keys does not depend on their order.
    Buffers are ``(N, heads, capacity, head_dim)``, ``N = batch * tokens per frame``, allocated
    at the first write with that write's shape, dtype and device.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.keys: Tensor | None = None
        self.values: Tensor | None = None
        self.written = 0  # positions written since construction

    @property
    def length(self) -> int:
        """Positions held: ``min(written, capacity)``."""
        return min(self.written, self.capacity)

    def append(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """Store one position ``(N, h, 1, e)``; return all held ones, ``(N, h, L, e)`` each."""
        if self.keys is None or self.values is None:
            batch, heads, _, width = keys.shape
            self.keys = keys.new_empty(batch, heads, self.capacity, width)
            self.values = values.new_empty(batch, heads, self.capacity, width)
        slot = self.written % self.capacity
        self.keys[:, :, slot : slot + 1] = keys
        self.values[:, :, slot : slot + 1] = values
        self.written += 1
        return self.keys[:, :, : self.length], self.values[:, :, : self.length]


class Attention(nn.Module):
    """Multi-head self-attention, optionally with rotary positions.

    Args:
        dim: token width.
        heads: number of heads (``dim / heads`` must be even when ``rotary``).
        dropout: attention and output dropout (training only).
        rotary: rotate queries and keys by the given positions.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, rotary: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.out_dropout = nn.Dropout(dropout)
        self.rotary = RotaryEmbedding(dim // heads) if rotary else None

    def _project(self, x: Tensor, positions: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """``(N, L, D)`` tokens -> queries, keys, values, each ``(N, heads, L, D / heads)``.

        With ``rotary``, queries and keys are rotated by ``positions`` ``(L,)`` (in one call).
        """
        qkv = rearrange(self.qkv(x), "n l (three h e) -> three n h l e", three=3, h=self.heads)
        if self.rotary is None:
            return qkv[0], qkv[1], qkv[2]
        qk = self.rotary(qkv[:2], positions)  # (2, N, h, L, e)
        return qk[0], qk[1], qkv[2]

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, causal: bool) -> Tensor:
        """Heads ``(N, h, Lq, e)`` x ``(N, h, Lk, e)`` -> merged output ``(N, Lq, D)``."""
        dropout = self.dropout if self.training else 0.0
        o = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=causal)
        return self.out_dropout(self.out(rearrange(o, "n h l e -> n l (h e)")))  # (N, Lq, D)

    def forward(self, x: Tensor, positions: Tensor | None = None, causal: bool = False) -> Tensor:
        """Self-attention over ``x`` ``(N, L, D)`` -> ``(N, L, D)``.

        Args:
            positions: ``(L,)`` positions for the rotary embedding (required iff ``rotary``).
            causal: token ``i`` attends to tokens ``<= i`` only.
        """
        q, k, v = self._project(x, positions)  # (N, h, L, e) each
        return self._attend(q, k, v, causal)

    def step(self, x: Tensor, cache: KeyValueCache, position: Tensor | None) -> Tensor:
        """Attend from one new position to itself and the cached ones (streaming, causal).

        Args:
            x: ``(N, 1, D)`` the newest position of each sequence.
            cache: the earlier positions; the new one is added (the window is its capacity).
            position: ``(1,)`` position of the new one (required iff ``rotary``).
        Returns:
            ``(N, 1, D)``.
        """
        q, k, v = self._project(x, position)  # (N, h, 1, e) each
        keys, values = cache.append(k, v)  # (N, h, L, e) each, L <= capacity
        return self._attend(q, keys, values, causal=False)  # (N, 1, D)


class MLP(nn.Module):
    """``Linear -> GELU -> Linear`` with dropout."""

    def __init__(self, dim: int, hidden: int, out: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, out if out is not None else dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        """``(..., dim)`` -> ``(..., out)``."""
        return self.net(x)


class TransformerBlock(nn.Module):
    """Pre-norm block over one sequence axis: attention then MLP, both residual."""

    def __init__(
        self, dim: int, heads: int, mlp_ratio: float, dropout: float = 0.0, rotary: bool = False
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = Attention(dim, heads, dropout, rotary=rotary)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, int(dim * mlp_ratio), dropout=dropout)

    def forward(self, x: Tensor, positions: Tensor | None = None) -> Tensor:
        """Non-causal block over ``x`` ``(N, L, D)`` -> ``(N, L, D)``."""
        x = x + self.attention(self.norm1(x), positions)  # (N, L, D)
        return x + self.mlp(self.norm2(x))  # (N, L, D)


class SpaceTimeBlock(nn.Module):
    """Factorised video block: spatial attention, causal temporal attention, MLP.

    Tokens are ``(B, T, S, D)``: ``T`` frames of ``S`` tokens. Spatial attention mixes the ``S``
    tokens of one frame (no positions here: the caller adds spatial embeddings once). Temporal
    attention mixes, for each token slot ``s``, that slot across frames, causally and with
    rotary frame positions, so frame ``t``'s outputs depend on frames ``<= t`` only.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm_space = nn.LayerNorm(dim)
        self.space = Attention(dim, heads, dropout)
        self.norm_time = nn.LayerNorm(dim)
        self.time = Attention(dim, heads, dropout, rotary=True)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = MLP(dim, int(dim * mlp_ratio), dropout=dropout)

    def _spatial(self, x: Tensor) -> Tensor:
        """Residual spatial attention within each frame of ``x`` ``(B, T, S, D)``."""
        frames = rearrange(self.norm_space(x), "b t s d -> (b t) s d")  # (B*T, S, D)
        mixed = self.space(frames)  # (B*T, S, D)
        return x + rearrange(mixed, "(b t) s d -> b t s d", t=x.shape[1])  # (B, T, S, D)

    def forward(self, x: Tensor) -> Tensor:
        """Whole clip ``(B, T, S, D)`` -> ``(B, T, S, D)``."""
        batch, frames = x.shape[:2]
        x = self._spatial(x)  # (B, T, S, D)
        slots = rearrange(self.norm_time(x), "b t s d -> (b s) t d")  # (B*S, T, D)
        positions = torch.arange(frames, device=x.device)  # (T,)
        mixed = self.time(slots, positions, causal=True)  # (B*S, T, D)
        x = x + rearrange(mixed, "(b s) t d -> b t s d", b=batch)  # (B, T, S, D)
        return x + self.mlp(self.norm_mlp(x))  # (B, T, S, D)

    def step(self, x: Tensor, cache: KeyValueCache, position: Tensor) -> Tensor:
        """One new frame ``(B, 1, S, D)`` against the cached past frames -> ``(B, 1, S, D)``.

        ``position`` ``(1,)`` is the frame's index since the stream started; ``cache`` holds the
        window (its capacity, in frames). The output equals the last frame of :meth:`forward` on
        the cached frames plus this one, as long as no frame has left the window.
        """
        batch = x.shape[0]
        x = self._spatial(x)  # (B, 1, S, D)
        slots = rearrange(self.norm_time(x), "b t s d -> (b s) t d")  # (B*S, 1, D)
        mixed = self.time.step(slots, cache, position)  # (B*S, 1, D)
        x = x + rearrange(mixed, "(b s) t d -> b t s d", b=batch)  # (B, 1, S, D)
        return x + self.mlp(self.norm_mlp(x))  # (B, 1, S, D)
