"""Helpers shared by the CLI subcommands: errors, JSON output, the device and precision arguments.

Light on purpose (no torch at import): every command module imports it while the command line
is built.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, NoReturn

from la_pose_core.cli.defaults import INFERENCE_PRECISION, PRECISIONS, RUNTIMES
from la_pose_core.json_output import dumps

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
DEVICE_HELP = "auto (CUDA when available, else CPU), cpu, cuda or cuda:N (the N-th CUDA device)"
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit code 2."""


def fail(message: str) -> NoReturn:
    raise CommandError(message)


def print_json(value: Any) -> None:
    sys.stdout.write(dumps(value) + "\n")


def device_arg(text: str) -> str:
    """The ``--device`` type of every command: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Returns the text (lower case, spaces stripped); anything else is a usage error naming the
    accepted forms. Whether the device exists is checked when the command runs
    (:func:`check_device`), not while parsing.
    """
    device = text.strip().lower()
    if not _DEVICE.fullmatch(device):
        raise argparse.ArgumentTypeError(f"expected {DEVICE_CHOICES}, got {text!r}")
    return device


def add_inference_device_arguments(
    parser: argparse.ArgumentParser, default_device: str = "auto", why: str = ""
) -> None:
    """``--device`` (:func:`device_arg`) and ``--precision`` of a command that runs the model
    for inference: fp32 by default, the node's ``model.precision``, so that its figures are the
    node's as shipped (training defaults to bf16). ``why`` ends the ``--device`` help."""
    parser.add_argument(
        "--device",
        type=device_arg,
        default=default_device,
        help=f"{DEVICE_HELP} (default {default_device}{why})",
    )
    parser.add_argument(
        "--precision",
        default=INFERENCE_PRECISION,
        choices=PRECISIONS,
        help=f"default {INFERENCE_PRECISION}: the node's default, so the figures are those of "
        "the node as shipped (training defaults to bf16); bf16: autocast on CUDA only",
    )


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """``--runtime`` and ``--onnx-dir`` of a command that streams a checkpoint: torch, or its
    ONNX export (``la-pose export``) in ONNX Runtime, the node's ``model.runtime``."""
    parser.add_argument(
        "--runtime",
        default=RUNTIMES[0],
        choices=RUNTIMES,
        help="what runs the networks: torch (default), or onnxruntime, the checkpoint's ONNX "
        "export (la-pose export) on ONNX Runtime's CPU, or CUDA/TensorRT execution providers "
        "when installed and --device is CUDA",
    )
    parser.add_argument(
        "--onnx-dir",
        default=None,
        metavar="DIR",
        help="the export folder of --runtime onnxruntime (default: the checkpoint's path "
        "with .onnx for .pt, where la-pose export writes)",
    )


def check_device(device: str, option: str = "--device") -> None:
    """A one-line :class:`CommandError` when ``device`` (from :func:`device_arg`) names a CUDA
    device this machine does not have (imports torch: call it when the command runs)."""
    if not device.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        fail(f"{option} {device}: CUDA is not available on this machine")
    index = int(device.partition(":")[2] or 0)
    count = torch.cuda.device_count()
    if index >= count:
        fail(f"{option} {device}: this machine has {count} CUDA device(s) (cuda:0-{count - 1})")
