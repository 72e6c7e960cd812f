"""``la-pose probe``: a linear probe from a checkpoint's frozen latent actions to the motion.

Synthetic drives (rendered on the fly, exact poses) are streamed through the checkpoint's
estimator at ``--fps``; a ridge regression from each pair's bottleneck code to its yaw, step
length and lateral motion is fitted on the ``--train-seeds`` drives and scored (R^2) on the
``--eval-seeds`` drives, for the checkpoint's backbone and for a randomly initialised backbone
of the same config (what pretraining added). With ``--context BEFORE,AFTER ...`` each pair is
also read with the codes of the pairs around it (``3,0``: what a causal reader of the newest
pair has; ``3,3``: three later pairs too). See :mod:`la_pose_core.evaluation.probe`.
Seeds 300-999 are reserved for evaluation and refused as training seeds.
"""

import argparse
import dataclasses

from la_pose_core.cli.common import DEVICE_HELP, check_device, device_arg, fail, print_json


def parse_seeds(text: str) -> list[int]:
    """``"0-7"`` -> 0..7; ``"1,5,9"`` -> [1, 5, 9] (ranges and lists can be mixed)."""
    seeds = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        seeds += list(range(int(first), int(last or first) + 1))
    return seeds


def parse_context(text: str) -> tuple[int, int]:
    """``"3,0"`` -> (3, 0): pairs before and after, each at least 0."""
    before, after = (int(part) for part in text.split(","))
    if before < 0 or after < 0:
        raise ValueError(f"context {text!r}: pairs before and after must be >= 0")
    return before, after


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "probe",
        help="linear probe: R^2 of yaw, step length and lateral motion from frozen latents",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="a post-training checkpoint, or a pretraining one (then the forward dynamics "
        "check runs too: next-frame code cross-entropy with true and shuffled latent actions, "
        "and the accuracy of copying the previous frame's codes)",
    )
    parser.add_argument("--train-seeds", default="0-7", help="synthetic drives to fit on (0-7)")
    parser.add_argument("--eval-seeds", default="300-303", help="held-out drives (300-303)")
    parser.add_argument("--frames", type=int, default=60, help="frames per drive (default 60)")
    parser.add_argument("--fps", type=float, default=2.0, help="frame rate (default 2)")
    parser.add_argument("--size", default="256x128", help="render size WxH (default 256x128)")
    parser.add_argument("--colour", action="store_true", help="colour frames (default grey)")
    parser.add_argument("--ridge", type=float, default=1e-2, help="relative ridge (1e-2)")
    parser.add_argument(
        "--context",
        nargs="+",
        default=["0,0"],
        metavar="BEFORE,AFTER",
        help="pairs read with each pair, earlier and later (default 0,0: the pair alone); "
        "several give one probe each, reported as BACKBONE_context_BEFORE_AFTER (0,0 as "
        "BACKBONE alone)",
    )
    parser.add_argument(
        "--device",
        type=device_arg,
        default="cpu",
        help=f"{DEVICE_HELP} for streaming the drives (default cpu, the README's figures; "
        "the forward dynamics check runs on CPU)",
    )
    parser.add_argument("--out", help="also write the JSON report here")
    parser.set_defaults(run=run_probe)


def run_probe(args: argparse.Namespace) -> int:
    import torch

    from la_pose_core.data.synthetic.seeds import EVALUATION_SEEDS
    from la_pose_core.data.synthetic.sequence import SyntheticSequence, parse_size
    from la_pose_core.evaluation.dynamics_check import clips_of, forward_dynamics_check
    from la_pose_core.evaluation.probe import (
        ProbeSet,
        RenderedSequence,
        RidgeProbe,
        collect_pairs,
        with_context,
    )
    from la_pose_core.inference.estimator import PoseEstimator
    from la_pose_core.json_output import dumps
    from la_pose_core.model.checkpoint import load_checkpoint
    from la_pose_core.model.inverse_dynamics import InverseDynamics
    from la_pose_core.model.pose_head import PoseHead

    try:
        train_seeds, eval_seeds = parse_seeds(args.train_seeds), parse_seeds(args.eval_seeds)
        size = parse_size(args.size)
        contexts = [parse_context(text) for text in args.context]
    except ValueError as error:
        fail(f"bad --train-seeds, --eval-seeds, --size or --context: {error}")
    reserved = sorted(set(train_seeds) & set(EVALUATION_SEEDS))
    if reserved:
        fail(f"--train-seeds {reserved[:5]}...: seeds 300-999 are reserved for evaluation")
    if set(train_seeds) & set(eval_seeds):
        fail("--train-seeds and --eval-seeds overlap")
    if args.frames < 3 or not args.fps > 0:
        fail("--frames must be at least 3 and --fps positive")
    check_device(args.device)

    loaded = load_checkpoint(args.checkpoint, map_location="cpu")
    config = loaded.config
    pretrainer = loaded.modules.get("pretrainer")
    owner = loaded.modules.get("posttrainer") or pretrainer
    if owner is None:
        fail(f"{args.checkpoint} holds no inverse dynamics model (parts: {sorted(loaded.modules)})")
    config = dataclasses.replace(
        config, streaming=dataclasses.replace(config.streaming, target_fps=args.fps)
    )
    head = getattr(owner, "pose_head", None) or PoseHead(config)  # the head does not matter
    trained = PoseEstimator(owner.inverse_dynamics, head, config, args.device)
    torch.manual_seed(0)
    random_backbone = InverseDynamics(config)
    random = PoseEstimator(random_backbone, head, config, args.device)

    def drives(seeds):  # rendered once, streamed through both backbones
        return [
            RenderedSequence(
                SyntheticSequence(
                    args.frames, s, size=size, fps=args.fps, grayscale=not args.colour
                )
            )
            for s in seeds
        ]

    train_drives, eval_drives = drives(train_seeds), drives(eval_seeds)
    report = {"checkpoint": args.checkpoint, "train_seeds": train_seeds, "eval_seeds": eval_seeds}
    for name, estimator in (("trained_backbone", trained), ("random_backbone", random)):
        train_pairs = [collect_pairs(estimator, d) for d in train_drives]  # per drive
        held_out_pairs = [collect_pairs(estimator, d) for d in eval_drives]
        for before, after in contexts:
            train = ProbeSet.concatenate([with_context(p, before, after) for p in train_pairs])
            held_out = ProbeSet.concatenate(
                [with_context(p, before, after) for p in held_out_pairs]
            )
            probe = RidgeProbe.fit(train, args.ridge)
            key = name if (before, after) == (0, 0) else f"{name}_context_{before}_{after}"
            report[key] = {
                "r2_held_out": probe.r2(held_out),
                "r2_train": probe.r2(train),
                "train_pairs": len(train.latents),
                "held_out_pairs": len(held_out.latents),
                "latent_std_mean": float(train.latents.std(axis=0).mean()),
            }
    if pretrainer is not None:  # a pretraining checkpoint: does its decoder use the action?
        pretrainer.to("cpu")  # its backbone streamed on --device
        clips = [clip for drive in eval_drives for clip in clips_of(drive, config.clip_len)]
        size = (config.image_height, config.image_width)
        report["forward_dynamics_held_out"] = forward_dynamics_check(pretrainer, clips, size)
    if args.out:
        with open(args.out, "w") as file:
            file.write(dumps(report))
    print_json(report)
    return 0
