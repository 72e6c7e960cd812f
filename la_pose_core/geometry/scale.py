"""The paper's scale decoupling of a clip's metric motion (LA-Pose, Sec. "pose head").

The pose head predicts translations divided by the clip's scale, and the scale apart:
``s = mean_i ||t_i||`` over the clip's relative translations, ``t~_i = t_i / max(s, eps)`` with
``eps = 1 m`` for stability (so slow clips, ``s < 1 m``, keep metric translations). The metric
translation is recovered as ``t~_i * max(s, eps)``.
"""

import numpy as np

SCALE_FLOOR_METRES = 1.0


def normalize_translations(
    translations: np.ndarray, floor: float = SCALE_FLOOR_METRES
) -> tuple[np.ndarray, float]:
    """Split ``(T, 3)`` metric translations into normalised translations and the clip scale.

    Returns:
        ``(t~, s)``: ``(T, 3)`` translations divided by ``max(s, floor)``, and ``s`` in metres.
    """
    translations = np.asarray(translations, dtype=np.float64)
    scale = float(np.linalg.norm(translations, axis=-1).mean())
    return translations / max(scale, floor), scale


def denormalize_translations(
    normalized: np.ndarray, scale: float, floor: float = SCALE_FLOOR_METRES
) -> np.ndarray:
    """Inverse of :func:`normalize_translations`: ``t~ * max(s, floor)``."""
    return np.asarray(normalized, dtype=np.float64) * max(float(scale), floor)
