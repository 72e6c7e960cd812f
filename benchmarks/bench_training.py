"""Training speed of the three stages on CPU; prints one JSON object.

    .venv/bin/python benchmarks/bench_training.py [--configs tiny,small] [--batch-size 2]
        [--steps 3] [--warmup 1] [--threads N]

For each config and stage: the stage adapter's step exactly as the trainer runs it
(``la_pose_core.training.stages``: forward, loss, backward, gradient clipping, AdamW step) on
random clips held in memory, so data loading is excluded (``bench_synthetic.py`` measures the
shard reader). Random weights; the pretraining tokenizer is untrained (its cost does not depend
on its weights). Reports optimizer steps per second, clips per second and seconds per step for
``--batch-size`` clips of the config's ``clip_len`` frames per step (the tokenizer stage sees
them as ``batch x clip_len`` single frames), after ``--warmup`` untimed steps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from la_pose_core.model.config import get_config
from la_pose_core.training.options import TrainOptions
from la_pose_core.training.random_batch import random_clip_batch
from la_pose_core.training.stages import STAGES
from la_pose_core.training.trainer import parameter_groups

BENCHED_STAGES = ("tokenizer", "pretrain", "posttrain")  # those that start from random weights


def bench_stage(config_name: str, stage_name: str, batch_size: int, steps: int, warmup: int):
    torch.manual_seed(0)
    config = get_config(config_name)
    stage = STAGES[stage_name]
    options = TrainOptions(stage=stage_name, run_dir="", data=[], config=config_name)
    model = stage.build(config, None, options).train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.05), lr=1e-4)
    batch = random_clip_batch(config, batch_size)
    device = torch.device("cpu")
    times = []
    for index in range(warmup + steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        output = stage.step(model, batch, device, per_sample=False)
        output.loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        if index >= warmup:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {
        "steps_per_s": round(1.0 / seconds, 3),
        "clips_per_s": round(batch_size / seconds, 2),
        "s_per_step": round(seconds, 4),
        "s_per_step_min": round(min(times), 4),
        "trainable_parameters": sum(p.numel() for p in trainable),
        "loss": round(float(output.loss), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="tiny,small", help="comma-separated presets")
    parser.add_argument(
        "--stages",
        default=",".join(BENCHED_STAGES),
        help="comma-separated stages (the pose-encoder stage needs a trained teacher: not here)",
    )
    parser.add_argument("--batch-size", type=int, default=2, help="clips per step (2)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    results: dict[str, dict] = {}
    for config_name in args.configs.split(","):
        config = get_config(config_name)
        results[config_name] = {
            "image": f"{config.image_width}x{config.image_height}",
            "clip_len": config.clip_len,
        }
        for stage_name in args.stages.split(","):
            results[config_name][stage_name] = bench_stage(
                config_name, stage_name, args.batch_size, args.steps, args.warmup
            )
    print(
        json.dumps(
            {
                "device": "cpu",
                "torch": torch.__version__,
                "torch_threads": torch.get_num_threads(),
                "cpu_count": os.cpu_count(),
                "machine": platform.machine(),
                "load_average_1min": round(os.getloadavg()[0], 2),
                "batch_size": args.batch_size,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
