#!/usr/bin/env python3
"""How much of a latent action differs between pairs, and how strongly it reaches the forward
dynamics model.

    tools/latent_stats.py CHECKPOINT SHARDS [--batches 6] [--fresh]

Runs the pretraining checkpoint's inverse dynamics model (eval mode) over clips of SHARDS and
prints, for the latent actions, the bottleneck codes and the decoded actions: the RMS, the RMS
of their mean over all pairs (the part every pair shares) and the per-dimension standard
deviation across pairs (what tells pairs apart); then the same for the forward dynamics
model's projection of the decoded action, against the RMS of its code embeddings (what the
action is added to). ``--fresh``: a freshly initialised pretrainer of the same config (the
checkpoint's tokenizer), i.e. the state at step 0. The measure behind
``inverse_dynamics.code_norm`` (README, "Pretraining did not keep the heading").
"""

from __future__ import annotations

import argparse

import torch

from la_pose_core.data.shards import ClipShardDataset, list_shards
from la_pose_core.model.checkpoint import load_checkpoint
from la_pose_core.model.lapose import LAPosePretrainer

PARTS = ("latent_actions", "bottleneck_codes", "decoded_actions")


def collect(pretrainer: LAPosePretrainer, dataset, batches: int) -> dict[str, torch.Tensor]:
    """Per part, ``(N, dim)`` values of every pair of the first ``batches`` batches."""
    values: dict[str, list[torch.Tensor]] = {part: [] for part in PARTS}
    with torch.no_grad():
        for index, batch in enumerate(dataset):
            if index == batches:
                break
            outputs = pretrainer.inverse_dynamics(batch["frames"], batch["dt"])
            for part in PARTS:
                values[part].append(outputs[part].flatten(0, 1))  # (B (T-1), dim)
        values["action_projection"] = [
            pretrainer.forward_dynamics.action_proj(torch.cat(values["decoded_actions"]))
        ]
    return {part: torch.cat(tensors) for part, tensors in values.items()}


def describe(name: str, values: torch.Tensor) -> str:
    rms = float(values.pow(2).mean().sqrt())
    shared = float(values.mean(0).pow(2).mean().sqrt())
    across = float(values.std(0).mean())
    return (
        f"{name:18s} rms {rms:.3f}   shared (mean over pairs) rms {shared:.3f}   "
        f"across pairs std {across:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a pretraining model.pt (holds a pretrainer)")
    parser.add_argument("shards", help="a folder of clip shards (e.g. the recipe's val_shards)")
    parser.add_argument("--batches", type=int, default=6, help="batches of 4 clips (6)")
    parser.add_argument("--fresh", action="store_true", help="a fresh pretrainer (step 0)")
    args = parser.parse_args()
    checkpoint = load_checkpoint(args.checkpoint)
    pretrainer = checkpoint.modules["pretrainer"]
    if args.fresh:
        torch.manual_seed(0)
        pretrainer = LAPosePretrainer(checkpoint.config, pretrainer.tokenizer).eval()
    config = checkpoint.config
    dataset = ClipShardDataset(
        list_shards(args.shards),
        image_size=(config.image_width, config.image_height),
        batch_size=4,
        with_labels=False,
    )
    values = collect(pretrainer, dataset, args.batches)
    for part, tensor in values.items():
        print(describe(part, tensor))
    embeddings = pretrainer.forward_dynamics.token_embed.weight.detach()
    print(f"{'code embeddings':18s} rms {float(embeddings.pow(2).mean().sqrt()):.3f}")


if __name__ == "__main__":
    main()
