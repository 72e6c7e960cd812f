"""Throughput of the synthetic renderer and of clip shards; prints one JSON object.

    .venv/bin/python benchmarks/bench_synthetic.py [--frames 20] [--clips 8] [--workers 2]

- ``render``: synthetic frames per second (one process), at 320x160 and 960x448, over frames
  spread along a drive (trajectory generation excluded, reported apart);
- ``write_sequence_320x160``: ``la-pose synth`` throughput (render + PNG files) with 1 and
  ``--workers`` processes;
- ``shards``: 16-frame 960x448 clips per second written (PNG and JPEG encoding, frames
  pre-rendered) and read back through ``ClipShardDataset`` + ``DataLoader`` (decode, crop and
  resize to 960x448), with 0 and ``--workers`` loader workers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from la_pose_core.data.clips import ClipSampler
from la_pose_core.data.shards import ClipShardDataset, collate_clips, write_clips_to_shards
from la_pose_core.data.synthetic import SyntheticSequence, write_synthetic_sequence


def bench_write(size: tuple[int, int], frames: int, seed: int, workers: int) -> dict:
    """``write_synthetic_sequence`` (render + PNG) with 1 and ``workers`` processes."""
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for count in sorted({1, workers}):
            start = time.perf_counter()
            write_synthetic_sequence(Path(tmp) / str(count), frames, seed, size=size, workers=count)
            result[f"frames_per_s_workers{count}"] = round(
                frames / (time.perf_counter() - start), 2
            )
    return result


def bench_render(size: tuple[int, int], frames: int, seed: int) -> dict:
    start = time.perf_counter()
    sequence = SyntheticSequence(frames * 10, seed, size=size)
    setup = time.perf_counter() - start
    sequence.image(0)  # warm-up: ray grid, first blocks
    start = time.perf_counter()
    for index in range(0, frames * 10, 10):
        sequence.image(index)
    elapsed = time.perf_counter() - start
    return {
        "frames_per_s": round(frames / elapsed, 2),
        "ms_per_frame": round(1000 * elapsed / frames, 1),
        "trajectory_setup_s": round(setup, 3),
    }


class CachedSequence:
    """A synthetic sequence with its frames rendered up front (so shards time I/O only)."""

    def __init__(self, sequence: SyntheticSequence):
        self.name = sequence.name
        self.stamps = sequence.stamps
        self.world_from_cam = sequence.world_from_cam
        self.intrinsics = sequence.intrinsics
        self._images = [sequence.image(i) for i in range(len(sequence))]

    def image(self, index: int) -> np.ndarray:
        return self._images[index]


def bench_shards(clips: int, workers: int, seed: int) -> dict:
    sequence = CachedSequence(SyntheticSequence(80, seed, size=(960, 448), fps=10.0))
    sampler = ClipSampler(clip_len=16, min_fps=2.0, max_fps=4.0)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for image_format in ("png", "jpeg"):
            out = Path(tmp) / image_format
            start = time.perf_counter()
            write_clips_to_shards(
                sequence,
                out,
                clips,
                np.random.default_rng(0),
                sampler,
                max_clips_per_shard=max(1, clips // 4),
                image_format=image_format,
            )
            write = clips / (time.perf_counter() - start)
            size = sum(p.stat().st_size for p in out.glob("*.tar")) / clips
            entry = {"write_clips_per_s": round(write, 2), "mb_per_clip": round(size / 1e6, 2)}
            for num_workers in sorted({0, workers}):
                dataset = ClipShardDataset(out, image_size=(960, 448))
                loader = torch.utils.data.DataLoader(
                    dataset, batch_size=2, num_workers=num_workers, collate_fn=collate_clips
                )
                start = time.perf_counter()
                count = sum(len(batch["key"]) for batch in loader)
                assert count == clips
                elapsed = time.perf_counter() - start
                entry[f"read_clips_per_s_workers{num_workers}"] = round(clips / elapsed, 2)
            results[image_format] = entry
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20, help="frames rendered per size")
    parser.add_argument("--clips", type=int, default=16, help="clips per shard benchmark")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers to compare")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--skip-shards", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    report = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or None},
        "render": {
            f"{w}x{h}": bench_render((w, h), args.frames, args.seed)
            for w, h in ((320, 160), (960, 448))
        },
    }
    report["write_sequence_320x160"] = bench_write(
        (320, 160), 2 * args.frames, args.seed, args.workers
    )
    if not args.skip_shards:
        report["shards_16x960x448"] = bench_shards(args.clips, args.workers, args.seed)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
