"""Latent actions of every training clip, computed once by a frozen backbone.

Post-training with a frozen inverse dynamics model spends almost all of its time in the
backbone (XFeat, the cost volume, the spatio-temporal transformer), whose output for a clip
never changes. The pose head, though, needs many steps: the `compact` head sat on a plateau for
about 1000 steps of batch 8 before its metric-scale token began to follow the data, and kept
improving up to 16000 (README, "Why the step length was not learned"). With ``--cache-latents``
the trainer runs the backbone once over this rank's clips, keeps their latent actions ``(P, d)``
in memory (and in ``RUN/latent_cache[.rankN].pt``, so a resume does not recompute them), and
streams the clips without decoding their frames; each step then costs the head alone.

The cached latents are what the frozen backbone gives (eval mode, the run's precision), so the
training is the same as without the cache. Shorter clip prefixes (``clip_len_sampling``) slice
them: the backbone is causal in time, so a prefix's latent actions are the first pairs of the
full clip's. Clip keys must be unique across ``--data`` (a repeated key is an error). With
``--mirror`` the backbone also runs over every clip flipped left-right
(:mod:`la_pose_core.data.mirror`), and a mirrored sample of the stream reads those latents.
Memory: ``clips x (T - 1) x d x 4`` bytes (4800 clips of the `compact` config: 17 MB; twice
that with the mirrored clips).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from la_pose_core.atomic_write import atomic_write
from la_pose_core.data.shards import ClipShardDataset
from la_pose_core.model.precision import autocast_context

CACHE_FORMAT = "la_pose.latent_cache"
CACHE_VERSION = 1


class LatentCache:
    """``key -> (P, d)`` float32 latent actions on the CPU, from one backbone (its
    ``fingerprint``, :func:`la_pose_core.model.checkpoint.module_fingerprint`), and those of
    the clips flipped left-right (``mirrored``; None when not computed)."""

    def __init__(
        self,
        latents: dict[str, Tensor],
        fingerprint: str,
        mirrored: dict[str, Tensor] | None = None,
    ) -> None:
        self.latents = latents
        self.fingerprint = fingerprint
        self.mirrored = mirrored

    def __len__(self) -> int:
        return len(self.latents)

    def lookup(self, keys: Sequence[str], pairs: int, mirrored: Tensor | None = None) -> Tensor:
        """``(B, pairs, d)`` latent actions of the clips ``keys`` (their first ``pairs``);
        ``mirrored`` ``(B,)`` bool picks the flipped clip's where True."""
        flags = [False] * len(keys) if mirrored is None else [bool(m) for m in mirrored]
        if any(flags) and self.mirrored is None:
            raise KeyError("a mirrored clip, but the latent cache holds no mirrored latents")
        missing = [key for key in keys if key not in self.latents]
        if missing:
            raise KeyError(f"clip {missing[0]!r} is not in the latent cache ({len(self)} clips)")
        tables = [self.mirrored if flag else self.latents for flag in flags]
        return torch.stack([table[key][:pairs] for table, key in zip(tables, keys, strict=True)])

    @staticmethod
    @torch.no_grad()
    def build(
        backbone: nn.Module,
        urls: list[str],
        image_size: tuple[int, int],
        fingerprint: str,
        batch_size: int,
        device: torch.device,
        precision: str = "fp32",
        rank: int = 0,
        world_size: int = 1,
        mirror: bool = False,
    ) -> LatentCache:
        """Run ``backbone`` (eval mode) over this rank's clips of ``urls``, in stream order
        (``mirror``: also over each clip flipped left-right)."""
        clips = ClipShardDataset(
            urls, image_size, batch_size, rank=rank, world_size=world_size, with_labels=False
        )
        was_training = backbone.training
        backbone.eval()
        latents: dict[str, Tensor] = {}
        mirrored: dict[str, Tensor] | None = {} if mirror else None
        try:
            for batch in clips:
                frames = batch["frames"].to(device)  # (B, T, 3, H, W)
                dt = batch["dt"].to(device)  # (B, T-1)
                _check_unique(batch["key"], latents)
                _store(latents, batch["key"], _latent_actions(backbone, frames, dt, precision))
                if mirrored is not None:
                    flipped = _latent_actions(backbone, frames.flip(-1), dt, precision)
                    _store(mirrored, batch["key"], flipped)
        finally:
            backbone.train(was_training)
        return LatentCache(latents, fingerprint, mirrored)

    def save(self, path: str | Path) -> None:
        payload = {
            "format": CACHE_FORMAT,
            "version": CACHE_VERSION,
            "fingerprint": self.fingerprint,
            "latents": self.latents,
            "mirrored": self.mirrored,
        }
        atomic_write(path, lambda stream: torch.save(payload, stream))

    @staticmethod
    def load(path: str | Path, fingerprint: str, mirror: bool = False) -> LatentCache | None:
        """The cache at ``path`` if it is one of this backbone's (with mirrored latents when
        ``mirror``), else None (rebuild it)."""
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
            return None  # unreadable or torn: computed again
        if (
            not isinstance(payload, dict)
            or payload.get("format") != CACHE_FORMAT
            or payload.get("version") != CACHE_VERSION
            or payload.get("fingerprint") != fingerprint
            or (mirror and payload.get("mirrored") is None)
        ):
            return None
        return LatentCache(payload["latents"], fingerprint, payload.get("mirrored"))


def _latent_actions(backbone: nn.Module, frames: Tensor, dt: Tensor, precision: str) -> Tensor:
    """``(B, T-1, d)`` latent actions of ``frames`` ``(B, T, 3, H, W)`` at ``precision``."""
    with autocast_context(frames.device, precision):
        return backbone(frames, dt)["latent_actions"]


def _check_unique(keys: Sequence[str], latents: dict[str, Tensor]) -> None:
    """A batch's clip keys must be new: the cache is looked up by key."""
    for index, key in enumerate(keys):
        if key in latents or key in keys[:index]:
            raise ValueError(
                f"clip key {key!r} appears twice in --data: --cache-latents needs unique keys "
                "(write shards with different --prefix)"
            )


def _store(table: dict[str, Tensor], keys: Sequence[str], actions: Tensor) -> None:
    for key, clip_actions in zip(keys, actions, strict=True):  # (P, d) each
        table[key] = clip_actions.float().cpu()


def cache_file(run_dir: str | Path, rank: int, world_size: int) -> Path:
    """``RUN/latent_cache.pt`` (one rank) or ``RUN/latent_cache.rankN.pt``."""
    name = "latent_cache.pt" if world_size == 1 else f"latent_cache.rank{rank}.pt"
    return Path(run_dir) / name
