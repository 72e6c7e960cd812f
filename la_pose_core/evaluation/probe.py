"""Linear probe: how much motion can be read out of frozen latent actions?

Before blaming (or training) a pose head, ask whether the backbone's latent actions carry the
motion at all. Drives are streamed through the deployed estimator (so the latents are exactly
what the pose head sees at run time); each used pair gives its bottleneck code ``(k,)`` and the
ground-truth motion: yaw (degrees, left positive), step length (m) and lateral translation
(m, camera x: right positive). A ridge regression fitted on the training drives predicts the
motion of held-out drives; R^2 near 0 means no motion in the latents, whatever a head does.

With context (:func:`with_context`) a pair's features are the codes of the pairs around it in
its drive as well: ``before`` earlier and ``after`` later ones. Context ``(3, 0)`` is what a
causal reader of the newest pair has (the streaming estimator's live pose); ``(3, 3)`` what it
has once three later pairs have come (its revised pairs). The gap between the two is motion the
backbone only writes into later latent actions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from la_pose_core.evaluation.sequence import start_track
from la_pose_core.geometry import inverse
from la_pose_core.metrics import yaw_left

TARGETS = ("yaw_deg", "step_m", "lateral_m")


@dataclass(frozen=True)
class ProbeSet:
    """Pairs of one or more drives: ``latents`` ``(P, k)``, ``motions`` ``(P, 3)`` (TARGETS)."""

    latents: np.ndarray
    motions: np.ndarray

    @staticmethod
    def concatenate(sets: list[ProbeSet]) -> ProbeSet:
        return ProbeSet(
            np.concatenate([s.latents for s in sets]), np.concatenate([s.motions for s in sets])
        )


class RenderedSequence:
    """A sequence with every image read (or rendered) once and kept in memory."""

    def __init__(self, sequence) -> None:
        self.name = getattr(sequence, "name", "sequence")
        self.stamps = sequence.stamps
        self.world_from_cam = sequence.world_from_cam
        self.images = [sequence.image(index) for index in range(len(sequence.stamps))]

    def image(self, index: int) -> np.ndarray:
        return self.images[index]


def collect_pairs(estimator, sequence) -> ProbeSet:
    """Stream ``sequence`` (KITTI-like, with ``world_from_cam``) through ``estimator``."""
    start_track(estimator, sequence)
    latents, motions, previous = [], [], None
    for index in range(len(sequence.stamps)):
        result = estimator.step(sequence.image(index), float(sequence.stamps[index]))
        if result is None:
            continue
        if result.latent is not None and previous is not None:
            motion = inverse(sequence.world_from_cam[previous]) @ sequence.world_from_cam[index]
            yaw = float(np.degrees(yaw_left(motion[None])[0]))
            motions.append((yaw, float(np.linalg.norm(motion[:3, 3])), float(motion[0, 3])))
            latents.append(np.asarray(result.latent, np.float64))
        previous = index
    if not latents:
        raise ValueError(f"{getattr(sequence, 'name', 'sequence')}: no pair was used")
    return ProbeSet(np.stack(latents), np.asarray(motions))


def with_context(pairs: ProbeSet, before: int, after: int) -> ProbeSet:
    """One drive's pairs with each pair's features the codes of pairs ``n - before .. n +
    after``, concatenated ``(P, (before + 1 + after) k)``; at the drive's ends the nearest pair
    stands in for the missing ones. The motions stay each pair's own."""
    if before < 0 or after < 0:
        raise ValueError(f"context must be >= 0 pairs either side, got {before}, {after}")
    count = len(pairs.latents)
    offsets = range(-before, after + 1)
    columns = [
        pairs.latents[np.clip(np.arange(count) + offset, 0, count - 1)] for offset in offsets
    ]
    return ProbeSet(np.concatenate(columns, axis=1), pairs.motions)


@dataclass(frozen=True)
class RidgeProbe:
    """``motion = ((latent - mean) / std) @ weights + bias``, fitted in closed form."""

    mean: np.ndarray  # (k,)
    std: np.ndarray  # (k,)
    weights: np.ndarray  # (k, 3)
    bias: np.ndarray  # (3,)

    @staticmethod
    def fit(train: ProbeSet, ridge: float = 1e-2) -> RidgeProbe:
        """Ridge regression on standardised latents; ``ridge`` is relative to the pair count."""
        mean = train.latents.mean(axis=0)
        std = train.latents.std(axis=0) + 1e-8
        x = (train.latents - mean) / std  # (P, k)
        bias = train.motions.mean(axis=0)  # (3,)
        gram = x.T @ x + ridge * len(x) * np.eye(x.shape[1])
        weights = np.linalg.solve(gram, x.T @ (train.motions - bias))  # (k, 3)
        return RidgeProbe(mean, std, weights, bias)

    def predict(self, latents: np.ndarray) -> np.ndarray:
        return ((latents - self.mean) / self.std) @ self.weights + self.bias

    def r2(self, held_out: ProbeSet) -> dict[str, float]:
        """R^2 per target on ``held_out`` (1 = perfect; 0 = no better than its own mean)."""
        residual = held_out.motions - self.predict(held_out.latents)
        spread = held_out.motions - held_out.motions.mean(axis=0)
        scores = 1.0 - (residual**2).sum(axis=0) / np.maximum((spread**2).sum(axis=0), 1e-12)
        return {name: float(score) for name, score in zip(TARGETS, scores, strict=True)}
