"""Forward dynamics model: predicts frame t+1's tokenizer codes from frames <= t and ``a_t``.

Architecture, for code indices ``(B, T', h, w)`` of frames ``0..T'-1`` and one (decoded) latent
action per frame ``(B, T', d_action)``:

1. Token embedding of each code index plus a learned spatial position embedding; the projected
   action ``a_t`` is added to every token of frame ``t``.
2. The decoder: ``depth`` causal :class:`~la_pose_core.model.layers.SpaceTimeBlock` s, so the
   state of frame ``t`` depends on frames ``<= t`` and actions ``<= t`` only (on frame ``t`` and
   ``a_t`` alone with ``past_frames=False``).
3. The refiner: ``refiner_depth`` (4 in the paper) light transformer blocks, narrower, attending
   within one frame's states.
4. A linear layer to ``codebook_size`` logits: the prediction of frame ``t + 1``'s codes.

Pretraining calls it teacher-forced once per clip: context = frames ``0..T-2``, actions
``a_0..a_{T-2}``, targets = codes of frames ``1..T-1``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from la_pose_core.model.config import LAPoseConfig
from la_pose_core.model.layers import SpaceTimeBlock, TransformerBlock, init_transformer_weights


class ForwardDynamics(nn.Module):
    """Next-frame code prediction conditioned on latent actions (see module docstring)."""

    def __init__(self, config: LAPoseConfig) -> None:
        super().__init__()
        cfg = config.forward_dynamics
        rows, cols = config.code_grid
        self.codebook_size = config.tokenizer.codebook_size
        self.past_frames = cfg.past_frames
        self.token_embed = nn.Embedding(self.codebook_size, cfg.dim)
        self.spatial_pos = nn.Parameter(torch.zeros(rows * cols, cfg.dim))  # (M, D)
        self.action_proj = nn.Linear(config.inverse_dynamics.dim, cfg.dim)
        self.blocks = nn.ModuleList(
            SpaceTimeBlock(cfg.dim, cfg.heads, cfg.mlp_ratio, cfg.dropout) for _ in range(cfg.depth)
        )
        self.to_refiner = nn.Sequential(nn.LayerNorm(cfg.dim), nn.Linear(cfg.dim, cfg.refiner_dim))
        self.refiner = nn.ModuleList(
            TransformerBlock(cfg.refiner_dim, cfg.refiner_heads, cfg.mlp_ratio, cfg.dropout)
            for _ in range(cfg.refiner_depth)
        )
        self.norm = nn.LayerNorm(cfg.refiner_dim)
        self.to_logits = nn.Linear(cfg.refiner_dim, self.codebook_size)
        self.apply(init_transformer_weights)
        nn.init.trunc_normal_(self.spatial_pos, std=0.02)

    def forward(
        self, context: Tensor, actions: Tensor, targets: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Predict the codes of each context frame's successor.

        Args:
            context: ``(B, T', h, w)`` int64 code indices of frames ``0..T'-1``.
            actions: ``(B, T', d_action)`` decoded latent actions ``a_0..a_{T'-1}``.
            targets: optional ``(B, T', h, w)`` code indices of frames ``1..T'``.
        Returns a dict:
            ``logits`` ``(B, T', h, w, codebook_size)``: frame ``t + 1``'s codes given frames
            ``<= t`` and ``a_t``.
            ``loss`` ``()`` mean cross-entropy against ``targets`` (only if targets are given).
        """
        batch, steps, rows, _ = context.shape
        tokens = self.token_embed(rearrange(context, "b t h w -> b t (h w)"))  # (B, T', M, D)
        tokens = tokens + self.spatial_pos + self.action_proj(actions)[:, :, None]  # (B,T',M,D)
        if not self.past_frames:  # every frame alone: a clip of one frame each
            tokens = rearrange(tokens, "b t m d -> (b t) 1 m d")  # (B*T', 1, M, D)
        for block in self.blocks:
            tokens = block(tokens)  # (B, T', M, D), or (B*T', 1, M, D)
        tokens = tokens.reshape(batch, steps, *tokens.shape[2:])  # (B, T', M, D)
        states = rearrange(self.to_refiner(tokens), "b t m e -> (b t) m e")  # (B*T', M, E)
        for block in self.refiner:
            states = block(states)  # (B*T', M, E)
        logits = self.to_logits(self.norm(states))  # (B*T', M, K)
        logits = rearrange(logits, "(b t) (h w) k -> b t h w k", b=batch, h=rows)
        outputs = {"logits": logits}  # (B, T', h, w, K)
        if targets is not None:
            outputs["loss"] = F.cross_entropy(
                logits.reshape(-1, self.codebook_size), targets.reshape(-1)
            )
        return outputs
