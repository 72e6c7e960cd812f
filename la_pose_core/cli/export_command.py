"""``la-pose export``: a checkpoint's streaming step and pose head as ONNX, verified against torch.

Writes ``--out`` (default: the checkpoint's path with ``.onnx``; :mod:`la_pose_core.export`),
then streams frames through both runtimes and prints, as JSON, the largest absolute
differences of the latent actions, bottleneck codes and pose outputs with the tolerance they
are held to (also stored in the manifest). Frames: ``--verify-sequence`` (a KITTI-layout folder,
the frames the estimator would use at the checkpoint's rate), else random images. Exit 1 when
a difference exceeds ``--tolerance`` (the export is kept, its manifest says so).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from la_pose_core.cli.common import fail, print_json
from la_pose_core.cli.defaults import EXPORT_FORMATS, EXPORT_TOLERANCE, ONNX_OPSET


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``export`` to the ``la-pose`` subcommands."""
    parser = subparsers.add_parser(
        "export",
        help="export a checkpoint's streaming step and pose head (ONNX), verified against torch",
        description="Writes the streaming step (one frame plus the cached keys/values, the "
        "previous frame's features and the frame index in; latent action, bottleneck code and "
        "the new state out) and the pose head as ONNX graphs with a manifest.json, then "
        "streams frames through torch and ONNX Runtime and prints the largest differences "
        "(JSON). Run the export with --runtime onnxruntime (evaluate) or model.runtime "
        "(the node).",
    )
    parser.add_argument("--checkpoint", required=True, help="checkpoint with a pose estimator")
    parser.add_argument(
        "--format", default=EXPORT_FORMATS[0], choices=EXPORT_FORMATS, help="onnx (the only one)"
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="export folder (default: the checkpoint's path with .onnx for .pt, where "
        "--runtime onnxruntime looks)",
    )
    parser.add_argument(
        "--opset",
        type=int,
        default=ONNX_OPSET,
        help=f"ONNX opset (default {ONNX_OPSET}, also the oldest: the exporter's conversion to "
        "older opsets writes graphs ONNX Runtime refuses)",
    )
    parser.add_argument(
        "--verify-sequence",
        metavar="DIR",
        default=None,
        help="KITTI-layout folder whose frames verify the export (those the estimator uses "
        "at the checkpoint's frame rate); default: random images",
    )
    parser.add_argument(
        "--camera", default="image_0", help="image folder of --verify-sequence (image_0)"
    )
    parser.add_argument(
        "--verify-frames",
        type=int,
        default=None,
        help="frames streamed to verify (default: all used frames of --verify-sequence, or "
        "3 windows of random images)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=EXPORT_TOLERANCE,
        help=f"largest absolute difference accepted (default {EXPORT_TOLERANCE:g}); above "
        "it the command exits 1",
    )
    parser.set_defaults(run=run_export)


def _verification_frames(args: argparse.Namespace, config):
    """``(frames (T, 3, H, W), dt (T - 1,), source)`` to stream for the comparison."""
    from la_pose_core.export.verify import random_frames, sequence_frames

    if args.verify_sequence is None:
        return (*random_frames(config, args.verify_frames or 3 * config.clip_len), "random")
    frames, dt = sequence_frames(args.verify_sequence, config, args.camera, args.verify_frames)
    if len(frames) < 2:
        fail(f"--verify-sequence {args.verify_sequence}: fewer than 2 frames to stream")
    return frames, dt, str(args.verify_sequence)


def run_export(args: argparse.Namespace) -> int:
    """``la-pose export``: export, verify, record the figures in the manifest, print them."""
    from la_pose_core.export.exporter import export_onnx
    from la_pose_core.export.manifest import default_export_folder
    from la_pose_core.export.runtime import ExportedModel
    from la_pose_core.export.verify import compare_streams
    from la_pose_core.inference.estimator import estimator_modules
    from la_pose_core.model.checkpoint import load_checkpoint

    if args.verify_frames is not None and args.verify_frames < 2:
        fail(f"--verify-frames must be at least 2, got {args.verify_frames}")
    if args.opset < ONNX_OPSET:
        fail(f"--opset must be at least {ONNX_OPSET}, got {args.opset}")
    if not args.tolerance >= 0:
        fail(f"--tolerance must not be negative, got {args.tolerance}")
    checkpoint = load_checkpoint(args.checkpoint)
    inverse_dynamics, pose_head = estimator_modules(checkpoint, args.checkpoint)
    config = checkpoint.config
    frames, dt, source = _verification_frames(args, config)
    out = args.out or str(default_export_folder(args.checkpoint))

    start = time.perf_counter()
    manifest = export_onnx(inverse_dynamics, pose_head, config, out, args.checkpoint, args.opset)
    export_s = time.perf_counter() - start
    exported = ExportedModel(out, "cpu")
    comparison = compare_streams(inverse_dynamics, pose_head, exported, frames, dt, args.tolerance)
    verification = {"frames_source": source, **comparison.to_dict()}
    dataclasses.replace(manifest, verification=verification).write(out)
    print_json(
        {
            "out": out,
            "format": args.format,
            "opset": args.opset,
            "config": config.name,
            "graphs": {name: graph.file for name, graph in manifest.graphs.items()},
            "fingerprints": manifest.fingerprints,
            "export_s": export_s,
            "verification": verification,
        }
    )
    if not comparison.within_tolerance:
        print(
            f"la-pose export: ONNX Runtime differs from torch by more than --tolerance "
            f"{args.tolerance:g} (see verification)",
            file=sys.stderr,
        )
        return 1
    return 0
