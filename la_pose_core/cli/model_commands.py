"""``la-pose model-info`` and ``la-pose bench inference``: model sizes, streaming speed (JSON).

torch and the model are imported when a command runs, not to build the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from la_pose_core.cli.common import (
    add_inference_device_arguments,
    check_device,
    fail,
    print_json,
)
from la_pose_core.cli.defaults import PRESET_NAMES, RUNTIMES

if TYPE_CHECKING:
    import torch
    from torch import nn

    from la_pose_core.inference.estimator import PoseEstimator
    from la_pose_core.model.config import LAPoseConfig


def model_parts() -> dict[str, Callable[[LAPoseConfig], nn.Module]]:
    """The networks whose parameters ``model-info`` counts, by name."""
    from la_pose_core.model.forward_dynamics import ForwardDynamics
    from la_pose_core.model.inverse_dynamics import InverseDynamics
    from la_pose_core.model.pose_head import PoseHead
    from la_pose_core.model.tokenizer import Tokenizer

    return {
        "tokenizer": Tokenizer,
        "inverse_dynamics": InverseDynamics,
        "forward_dynamics": ForwardDynamics,
        "pose_head": PoseHead,
    }


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``model-info`` and ``bench inference`` to the ``la-pose`` subcommands."""
    info = subparsers.add_parser(
        "model-info",
        help="parameter counts and token sizes of a model config (JSON)",
        description="Sizes of the named config's networks, counted without allocating weights.",
    )
    info.add_argument("--config", default="paper", choices=PRESET_NAMES, help="preset (paper)")
    info.set_defaults(run=run_model_info)

    bench = subparsers.add_parser("bench", help="benchmarks (JSON)")
    benches = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    inference = benches.add_parser(
        "inference",
        help="streaming per-frame time vs full-window recomputation",
        description="Random weights and images. Streams frames through the PoseEstimator with "
        "a full window, and times clip mode over the same window (what a new frame would cost "
        "without caching). With --runtime onnxruntime the same weights are exported to ONNX "
        "(a temporary folder) and streamed in ONNX Runtime too, alternating with torch.",
    )
    inference.add_argument("--config", default="tiny", choices=PRESET_NAMES, help="preset (tiny)")
    add_inference_device_arguments(inference, "cpu", ", the device of the README's figures")
    inference.add_argument(
        "--frames", type=int, default=None, help="window length (default: the config's clip_len)"
    )
    inference.add_argument("--repeats", type=int, default=20, help="timed frames / passes")
    inference.add_argument(
        "--mirror-average",
        action="store_true",
        help="stream each frame with its mirror image (streaming.mirror_average)",
    )
    inference.add_argument(
        "--runtime",
        default=RUNTIMES[0],
        choices=RUNTIMES,
        help="torch (default), or onnxruntime: also time the ONNX export of the same weights "
        "in ONNX Runtime, per frame beside torch (the onnxruntime field)",
    )
    inference.set_defaults(run=run_bench_inference)


def count_parameters(config: LAPoseConfig) -> dict[str, int]:
    """Parameters per network, built on the meta device (no memory, no initialisation time)."""
    import torch

    with torch.device("meta"):
        counts = {
            name: sum(p.numel() for p in build(config).parameters())
            for name, build in model_parts().items()
        }
    counts["total"] = sum(counts.values())
    return counts


def run_model_info(args: argparse.Namespace) -> int:
    from la_pose_core.model.config import get_config

    config = get_config(args.config)
    rows, cols = config.patch_grid
    code_rows, code_cols = config.code_grid
    print_json(
        {
            "config": config.name,
            "image_size": {"height": config.image_height, "width": config.image_width},
            "clip_len": config.clip_len,
            "patch_size": config.inverse_dynamics.patch_size,
            "patch_grid": [rows, cols],
            "tokens_per_frame": {
                "inverse_dynamics": rows * cols + 1,  # patches + the action query
                "tokenizer_codes": code_rows * code_cols,
            },
            "code_grid": [code_rows, code_cols],
            "codebook_size": config.tokenizer.codebook_size,
            "latent_action_dim": config.inverse_dynamics.dim,
            "bottleneck_dim": config.inverse_dynamics.bottleneck_dim,
            "parameters": count_parameters(config),
        }
    )
    return 0


def _runtime_comparison(times: dict[str, list[float]]) -> dict:
    """The ``onnxruntime`` field: its streaming ms per frame beside torch's (medians), when
    it was timed; empty otherwise."""
    if "onnxruntime" not in times:
        return {}
    onnx_ms, torch_ms = statistics.median(times["onnxruntime"]), statistics.median(times["torch"])
    return {
        "onnxruntime": {
            "streaming_ms_per_frame": onnx_ms,
            "streaming_ms_per_frame_min": min(times["onnxruntime"]),
            "torch_streaming_ms_per_frame": torch_ms,
            "speedup_over_torch": torch_ms / onnx_ms,
        }
    }


def _timed(function: Callable[[], object], device: torch.device) -> float:
    """Wall time of one call in milliseconds (CUDA work included)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    function()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) * 1e3


def _onnx_twin(estimator: PoseEstimator, folder: str) -> PoseEstimator:
    """The estimator's modules exported into ``folder`` and streamed in ONNX Runtime."""
    from la_pose_core.export.exporter import export_onnx
    from la_pose_core.export.runtime import ExportedModel
    from la_pose_core.inference.estimator import PoseEstimator

    modules = (estimator.inverse_dynamics.cpu(), estimator.pose_head.cpu())
    export_onnx(*modules, estimator.config, folder)
    exported = ExportedModel(folder, estimator.device)
    return PoseEstimator(
        *modules, estimator.config, estimator.device, estimator.precision, exported=exported
    )


def run_bench_inference(args: argparse.Namespace) -> int:
    import torch

    from la_pose_core.inference.estimator import PoseEstimator, estimate_clip
    from la_pose_core.model.config import get_config
    from la_pose_core.model.inverse_dynamics import InverseDynamics
    from la_pose_core.model.pose_head import PoseHead
    from la_pose_core.model.precision import autocast_context, resolve_device

    config = get_config(args.config)
    if args.frames is not None:
        config = dataclasses.replace(config, clip_len=args.frames)
    if args.mirror_average:
        config = dataclasses.replace(
            config, streaming=dataclasses.replace(config.streaming, mirror_average=True)
        )
    if args.repeats < 1:
        fail(f"--repeats must be at least 1, got {args.repeats}")
    check_device(args.device)
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    torch.manual_seed(0)
    estimator = PoseEstimator(
        InverseDynamics(config), PoseHead(config), config, device, args.precision
    )
    window = config.clip_len
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (window, config.image_height, config.image_width, 3), np.uint8)
    interval = 1.0 / config.streaming.target_fps

    frames = torch.stack([estimator.preprocess(image) for image in images])[None]
    dt = torch.full((1, window - 1), interval, device=device)

    def full_pass() -> None:  # what a new frame costs without caching: clip mode on the window
        with autocast_context(device, args.precision):
            estimate_clip(estimator.inverse_dynamics, estimator.pose_head, frames, dt)

    with tempfile.TemporaryDirectory(prefix="la_pose_bench_onnx_") as folder:
        streams = {"torch": estimator}
        if args.runtime == "onnxruntime":
            streams["onnxruntime"] = _onnx_twin(estimator, folder)
            estimator.to(device)  # the export moved the shared modules to the CPU
        for index in range(window):  # fill the windows
            for stream in streams.values():
                stream.step(images[index], index * interval)
        # Alternate streamed frames (each against a full window) and full passes, so that all
        # see the same machine load; the first two of each are warm-up.
        times: dict[str, list[float]] = {name: [] for name in (*streams, "full")}
        for index in range(window, window + 2 + args.repeats):
            image, stamp = images[index % window], index * interval
            for name, stream in streams.items():
                times[name].append(_timed(lambda e=stream, i=image, s=stamp: e.step(i, s), device))
            times["full"].append(_timed(full_pass, device))
    times = {name: values[2:] for name, values in times.items()}
    stream_ms, full_ms = times["torch"], times["full"]

    if device.type == "cuda":
        peak_mb, peak_kind = torch.cuda.max_memory_allocated(device) / 2**20, "cuda_allocated"
    else:
        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        peak_mb = rss_kb / (2**20 if sys.platform == "darwin" else 2**10)
        peak_kind = "process_max_rss"
    streaming, full = statistics.median(stream_ms), statistics.median(full_ms)
    print_json(
        {
            "config": config.name,
            "device": str(device),
            "precision": args.precision,
            "mirror_average": args.mirror_average,
            "window_frames": window,
            "timed_repeats": args.repeats,
            "streaming_ms_per_frame": streaming,  # medians
            "full_window_ms": full,
            "speedup": full / streaming,
            "streaming_ms_per_frame_min": min(stream_ms),
            "full_window_ms_min": min(full_ms),
            "peak_memory_mb": peak_mb,
            "peak_memory_kind": peak_kind,
            "torch_threads": torch.get_num_threads(),
            **_runtime_comparison(times),
        }
    )
    return 0
