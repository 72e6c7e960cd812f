"""Which ONNX Runtime execution providers run an exported model on a device, and how.

CPU: the CPU execution provider alone. CUDA (``cuda``, ``cuda:N``): TensorRT, then CUDA, each
only if the installed onnxruntime build has it (the PyPI ``onnxruntime`` wheel has neither;
``onnxruntime-gpu``, or NVIDIA's Jetson wheels, do), then the CPU as the fallback for whatever
a provider cannot run. TensorRT builds an engine the first time it sees a graph (minutes on a
Jetson); its engine cache goes into the export folder so that later starts reuse it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
TENSORRT_CACHE = "tensorrt_cache"  # folder in the export folder


def execution_providers(
    device_type: str, device_index: int | None, available: Sequence[str], folder: Path
) -> list[tuple[str, dict[str, Any]]]:
    """``(provider, options)`` in priority order for ``InferenceSession(providers=...)``.

    Args:
        device_type: ``"cpu"`` or ``"cuda"`` (a torch device's type).
        device_index: the CUDA device number (None: 0).
        available: ``onnxruntime.get_available_providers()``.
        folder: the export folder (TensorRT's engine cache goes there).
    """
    chosen: list[tuple[str, dict[str, Any]]] = []
    if device_type == "cuda":
        device_id = {"device_id": device_index or 0}
        if TENSORRT in available:
            cache = str(folder / TENSORRT_CACHE)
            options = {"trt_engine_cache_enable": True, "trt_engine_cache_path": cache}
            chosen.append((TENSORRT, {**device_id, **options}))
        if CUDA in available:
            chosen.append((CUDA, device_id))
    return [*chosen, (CPU, {})]
