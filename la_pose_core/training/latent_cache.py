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
full clip's. Clip keys must be unique across ``--data`` (a repeated key is an error).
Memory: ``clips x (T - 1) x d x 4`` bytes (4800 clips of the `compact` config: 17 MB).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from la_pose_core.atomic_write import atomic_write
from la_pose_core.data.shards import ClipShardDataset
from la_pose_core.inference.estimator import autocast_context

CACHE_FORMAT = "la_pose.latent_cache"
CACHE_VERSION = 1


class LatentCache:
    """``key -> (P, d)`` float32 latent actions on the CPU, from one backbone (its
    ``fingerprint``, :func:`la_pose_core.model.checkpoint.module_fingerprint`)."""

    def __init__(self, latents: dict[str, Tensor], fingerprint: str) -> None:
        self.latents = latents
        self.fingerprint = fingerprint

    def __len__(self) -> int:
        return len(self.latents)

    def lookup(self, keys: Sequence[str], pairs: int) -> Tensor:
        """``(B, pairs, d)`` latent actions of the clips ``keys`` (their first ``pairs``)."""
        missing = [key for key in keys if key not in self.latents]
        if missing:
            raise KeyError(f"clip {missing[0]!r} is not in the latent cache ({len(self)} clips)")
        return torch.stack([self.latents[key][:pairs] for key in keys])

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
    ) -> LatentCache:
        """Run ``backbone`` (eval mode) over this rank's clips of ``urls``, in stream order."""
        clips = ClipShardDataset(
            urls, image_size, batch_size, rank=rank, world_size=world_size, with_labels=False
        )
        was_training = backbone.training
        backbone.eval()
        latents: dict[str, Tensor] = {}
        try:
            for batch in clips:
                frames = batch["frames"].to(device)  # (B, T, 3, H, W)
                with autocast_context(device, precision):
                    actions = backbone(frames, batch["dt"].to(device))["latent_actions"]
                for key, clip_actions in zip(batch["key"], actions, strict=True):  # (P, d) each
                    if key in latents:
                        raise ValueError(
                            f"clip key {key!r} appears twice in --data: --cache-latents needs "
                            "unique keys (write shards with different --prefix)"
                        )
                    latents[key] = clip_actions.float().cpu()
        finally:
            backbone.train(was_training)
        return LatentCache(latents, fingerprint)

    def save(self, path: str | Path) -> None:
        payload = {
            "format": CACHE_FORMAT,
            "version": CACHE_VERSION,
            "fingerprint": self.fingerprint,
            "latents": self.latents,
        }
        atomic_write(path, lambda stream: torch.save(payload, stream))

    @staticmethod
    def load(path: str | Path, fingerprint: str) -> LatentCache | None:
        """The cache at ``path`` if it is one of this backbone's, else None (rebuild it)."""
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
            return None  # unreadable or torn: computed again
        if (
            not isinstance(payload, dict)
            or payload.get("format") != CACHE_FORMAT
            or payload.get("version") != CACHE_VERSION
            or payload.get("fingerprint") != fingerprint
        ):
            return None
        return LatentCache(payload["latents"], fingerprint)


def cache_file(run_dir: str | Path, rank: int, world_size: int) -> Path:
    """``RUN/latent_cache.pt`` (one rank) or ``RUN/latent_cache.rankN.pt``."""
    name = "latent_cache.pt" if world_size == 1 else f"latent_cache.rank{rank}.pt"
    return Path(run_dir) / name
