"""Shared pieces of the training and evaluation tests: tiny synthetic shards, the CLI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from la_pose_core.cli import data_commands, evaluate_command, probe_command, train_commands
from la_pose_core.cli.common import CommandError
from la_pose_core.data.clips import ClipSampler
from la_pose_core.data.shards import write_clips_to_shards
from la_pose_core.data.synthetic import SyntheticSequence
from la_pose_core.model.config import get_config

TINY = get_config("tiny")
TINY_SIZE = (TINY.image_width, TINY.image_height)


def la_pose(argv: list[str]) -> int:
    """``la-pose`` with the data, train and evaluate subcommands (as ``cli.main.main`` does)."""
    parser = argparse.ArgumentParser(prog="la-pose")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in (data_commands, train_commands, evaluate_command, probe_command):
        module.register(subparsers)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (CommandError, OSError, ValueError) as error:
        print(f"la-pose {args.command}: error: {error}", file=sys.stderr)
        return 2


def write_tiny_shards(
    out: Path, sequences: int = 2, clips: int = 8, per_shard: int = 4, frames: int = 70
) -> list[Path]:
    """``sequences`` synthetic drives at the tiny model size, ``clips`` 6-frame clips each."""
    sampler = ClipSampler(clip_len=TINY.clip_len, min_fps=1.0, max_fps=4.0)
    paths: list[Path] = []
    for seed in range(sequences):
        sequence = SyntheticSequence(frames, seed, size=TINY_SIZE, fps=10.0)
        result = write_clips_to_shards(
            sequence,
            out,
            clips,
            np.random.default_rng(seed),
            sampler,
            max_clips_per_shard=per_shard,
            prefix=f"seq{seed}",
        )
        paths += result.shard_paths
    return paths
