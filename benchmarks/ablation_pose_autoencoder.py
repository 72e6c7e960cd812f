"""Ablation of the Camera Pose Auto-Encoder and Unposed-to-3D options on the real KITTI sample.

    .venv/bin/python benchmarks/ablation_pose_autoencoder.py        (about 25 minutes, 2 cores)

Writes ``benchmarks/results/ablation_pose_autoencoder.{json,md}`` (``--out-dir``); the work
files go to ``runs/ablation`` (``--work``). Every number comes from this run:

1. **Data.** Synthetic greyscale drives (at the backbone's input size, 10 Hz, seeds 100+; the
   shipped model's drives were seeds 0-23) with no reversing: reversing is absent from the
   labelled set, as it is rare in real driving logs. Clips of the backbone's length at 1-4 fps
   become clean shards and, with the same clips, shards where 30 % of the clips have grossly
   wrong labels (``la-pose shards --label-noise``).
2. **Backbone.** The pretrained inverse dynamics model of ``--backbone`` (default
   ``models/la_pose_demo.pt``; frozen throughout); every pose head below starts fresh on it and
   trains the same number of steps.
3. **Runs.** ``baseline`` (clean labels); ``pose-encoder`` (teacher = baseline; its motion bank
   is the clean post-training shards, never KITTI); ``virtual`` (baseline + virtual latent
   actions of reversing and sharp turns); ``clip-length`` (exponential clip-length sampling);
   ``noisy`` (30 % bad labels) and ``noisy + filter`` (the same with the 3-sigma outlier filter).
4. **Evaluation.** Each head streams the KITTI sample (the node's path, 2 fps) forwards and
   time-reversed (:class:`~la_pose_core.data.time_reversal.TimeReversedSequence`), without and
   with test-time refinement (the paper's plain affine weights, and with ``ridge = 1e-2``; the
   mean largest ``|a_i|`` shows whether the weights extrapolate). Metrics: AUC@5, ATE-S, ATE-M
   (``metrics.md``: per 6-frame clip); AUC and ATE ignore a translation's sign by definition
   (AUC takes ``min(theta, 180 - theta)``, and ATE's alignment may turn a straight path
   around), so two sign-aware figures are added:
   the mean per-pair translation error (m) and the share of moving pairs whose translation
   points the right way. Cost: estimator milliseconds per used frame and refinement per pair.
5. **Teacher vs student** (the Camera Pose Auto-Encoder paper's Tables 1-2): the baseline head
   applied to the backbone's latent actions (teacher) and to the pose encoder's latents of the
   ground-truth motions (student), against ground truth, on KITTI clips.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from la_pose_core.data.kitti import KittiSequence
from la_pose_core.data.time_reversal import TimeReversedSequence
from la_pose_core.evaluation.sequence import LA_POSE, run_sequence
from la_pose_core.geometry import (
    adjacent_relative_poses,
    inverse,
    pose_from_translation_quaternion,
    rotation_angle,
)
from la_pose_core.inference.estimator import PoseEstimator
from la_pose_core.json_output import dumps
from la_pose_core.metrics import evaluate_trajectory
from la_pose_core.metrics.pairwise import STILL_THRESHOLD_M
from la_pose_core.model.checkpoint import load_checkpoint, save_checkpoint
from la_pose_core.pose_autoencoder import RefinementConfig

REPO = Path(__file__).resolve().parents[1]
KITTI_SAMPLE = REPO.parent / "shared/data/kitti_odometry_00_f0000-0090"
DEMO_MODEL = REPO / "models/la_pose_demo.pt"
LABEL_NOISE = 0.3
REUSED: list[str] = []  # runs whose model.pt an earlier invocation had already trained
REFINEMENTS = {"no": None, "affine": 1e-9, "ridge 1e-2": 1e-2}  # name -> RefinementConfig.ridge


def la_pose(*args: str) -> None:
    """Run a ``la-pose`` command (same interpreter), failing loudly."""
    command = [sys.executable, "-m", "la_pose_core.cli.main", *args]
    print("+ la-pose " + " ".join(args), file=sys.stderr, flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def make_data(
    work: Path, drives: int, frames: int, clips: int, size: str, clip_len: int
) -> tuple[Path, Path]:
    """Clean and label-noise shards of synthetic drives at the backbone's size and clip length."""
    clean, noisy = work / "shards_clean", work / "shards_noisy"
    if (work / "data.done").exists():
        return clean, noisy
    for index in range(drives):
        seed = 100 + index
        drive = work / "drives" / f"s{seed}"
        la_pose(
            "synth", "--out", str(drive), "--frames", str(frames), "--seed", str(seed),
            "--size", size, "--grayscale", "--fov-deg", str(28 + 4 * index),
            "--workers", "2", "--overwrite",
        )  # fmt: skip
        common = [
            "--sequence", str(drive), "--clips", str(clips), "--seed", str(seed),
            "--clip-len", str(clip_len), "--clips-per-shard", str(max(1, clips // 2)),
            "--prefix", f"s{seed}",
        ]  # fmt: skip
        la_pose("shards", *common, "--out", str(clean))
        la_pose("shards", *common, "--out", str(noisy), "--label-noise", str(LABEL_NOISE))
    (work / "data.done").write_text("")
    return clean, noisy


def train(work: Path, name: str, stage: str, init: Path, data: Path, steps: int, *extra: str):
    """One training run (skipped when its model exists); returns its model file."""
    model = work / name / "model.pt"
    if model.exists():
        REUSED.append(name)
    else:
        la_pose(
            "train", stage, "--init", str(init), "--data", str(data), "--out", str(work / name),
            "--steps", str(steps), "--batch-size", "8", "--checkpoint-every", "0",
            "--device", "cpu", "--no-progress", *extra,
        )  # fmt: skip
    return model


def sign_aware_errors(ground_truth: np.ndarray, estimate: np.ndarray) -> dict[str, float]:
    """Mean per-pair translation error (m) and % of moving pairs pointing the right way."""
    true = adjacent_relative_poses(ground_truth)[:, :3, 3]  # (N-1, 3)
    estimated = adjacent_relative_poses(estimate)[:, :3, 3]  # (N-1, 3)
    moving = np.linalg.norm(true, axis=-1) > STILL_THRESHOLD_M
    same_way = np.sum(true * estimated, axis=-1) > 0
    return {
        "pair_translation_error_m": float(np.linalg.norm(true - estimated, axis=-1).mean()),
        "right_direction_pct": 100.0 * float(same_way[moving].mean()) if moving.any() else math.nan,
    }


def evaluate(model: Path, sequence, refinement: RefinementConfig | None) -> dict:
    estimator = PoseEstimator.from_checkpoint(str(model), "cpu", refinement=refinement)
    run = run_sequence(estimator, sequence, baselines=[])
    estimate = run.estimates[LA_POSE]
    metrics = evaluate_trajectory(run.ground_truth, estimate, estimator.config.clip_len)
    details = run.details[LA_POSE]
    refined = details["refinement"]
    return {
        "auc5": metrics["auc5"],
        "ate_s": metrics["ate_s"],
        "ate_m": metrics["ate_m"],
        **sign_aware_errors(run.ground_truth, estimate),
        "ms_per_frame": details["ms_per_used_frame"],
        "refinement_ms_per_pair": None if refined is None else refined["ms_per_pair"],
        "refinement_max_abs_weight": None if refined is None else refined["mean_max_abs_weight"],
        "frames_used": len(run.used),
    }


def teacher_vs_student(model: Path, encoder_model: Path, sequence) -> dict[str, float]:
    """Pose errors of the head on teacher latents and on student latents (module docstring)."""
    estimator = PoseEstimator.from_checkpoint(str(model), "cpu")
    encoder = load_checkpoint(encoder_model).modules["pose_encoder"]
    clip_len = estimator.config.clip_len
    step = max(
        1,
        round(1.0 / (estimator.config.streaming.target_fps * np.median(np.diff(sequence.stamps)))),
    )
    used = np.arange(0, len(sequence.stamps), step)
    rows = {"teacher": [], "student": []}
    latent_errors = []
    for start in range(0, len(used) - clip_len + 1, clip_len - 1):
        indices = used[start : start + clip_len]
        stamps = np.asarray(sequence.stamps)[indices]
        truth = adjacent_relative_poses(np.asarray(sequence.world_from_cam)[indices])  # (P,4,4)
        teacher = estimator.run_clip([sequence.image(i) for i in indices], stamps)
        fps = torch.as_tensor(1.0 / np.diff(stamps), dtype=torch.float32)
        with torch.no_grad():
            student_latents = encoder.encode_relative_poses(truth, fps if encoder.use_fps else None)
            student = estimator.pose_head(student_latents[None])
        student = {name: value[0].double().numpy() for name, value in student.items()}
        latent_errors.append(
            np.linalg.norm(student_latents.double().numpy() - teacher["latent_actions"], axis=-1)
            / np.linalg.norm(teacher["latent_actions"], axis=-1)
        )
        for name, output in (("teacher", teacher), ("student", student)):
            predicted = pose_from_translation_quaternion(
                output["translation"], output["quaternion"]
            )
            translation = np.linalg.norm(predicted[:, :3, 3] - truth[:, :3, 3], axis=-1)
            rotation = np.degrees(rotation_angle((inverse(truth) @ predicted)[:, :3, :3]))
            rows[name].append(np.stack([translation, rotation], axis=-1))
    result = {}
    for name, values in rows.items():
        values = np.concatenate(values)  # (pairs, 2)
        result[f"{name}_translation_error_m"] = float(values[:, 0].mean())
        result[f"{name}_rotation_error_deg"] = float(values[:, 1].mean())
    result["student_relative_latent_error"] = float(np.concatenate(latent_errors).mean())
    result["pairs"] = int(sum(len(v) for v in rows["teacher"]))
    return result


def markdown(report: dict) -> str:
    lines = [
        "# Camera Pose Auto-Encoder / Unposed-to-3D ablation",
        "",
        f"`{report['command']}` on {report['machine']}, {report['elapsed_min']:.1f} min"
        + (
            f" (training of {', '.join(report['reused_runs'])} reused from an earlier invocation "
            "with the same settings). "
            if report["reused_runs"]
            else ". "
        )
        + f"Frozen backbone of `models/la_pose_demo.pt`, {report['steps']} steps per "
        f"head, KITTI sample at 2 fps ({report['frames_used']} frames). AUC and ATE ignore the "
        "sign of a translation; the two sign-aware columns do not.",
        "",
        "| run | KITTI | refine | AUC@5 | ATE-S | ATE-M (m) | pair t err (m) | right way % "
        "| ms/frame | refine ms/pair | max abs weight |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        refine, weight = row["refinement_ms_per_pair"], row["refinement_max_abs_weight"]
        lines.append(
            f"| {row['run']} | {row['direction']} | {row['refine']} "
            f"| {row['auc5']:.1f} | {row['ate_s']:.3f} | {row['ate_m']:.2f} "
            f"| {row['pair_translation_error_m']:.2f} | {row['right_direction_pct']:.0f} "
            f"| {row['ms_per_frame']:.1f} | {'-' if refine is None else f'{refine:.2f}'} "
            f"| {'-' if weight is None else f'{weight:.3g}'} |"
        )
    lines += [
        "",
        "Teacher vs student (baseline head on the backbone's latents vs on the pose encoder's "
        "latents of the ground-truth motions):",
        "",
        "| KITTI | pairs | teacher t err (m) | teacher R err (deg) | student t err (m) "
        "| student R err (deg) | student latent error (relative) |",
        "|---|---|---|---|---|---|---|",
    ]
    for direction, row in report["teacher_vs_student"].items():
        lines.append(
            f"| {direction} | {row['pairs']} | {row['teacher_translation_error_m']:.2f} "
            f"| {row['teacher_rotation_error_deg']:.2f} | {row['student_translation_error_m']:.2f} "
            f"| {row['student_rotation_error_deg']:.2f} "
            f"| {row['student_relative_latent_error']:.2f} |"
        )
    noise = report["label_noise"]
    lines += [
        "",
        f"Outlier filter on {100 * LABEL_NOISE:.0f} % injected bad labels: it dropped "
        f"{noise['dropped']} clips, {noise['dropped_noisy']} of them bad "
        f"({noise['bad_seen']} bad clips seen in training).",
        "",
    ]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    """The command line: work and output folders, the data's and the training runs' sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=str(REPO / "runs/ablation"), help="work folder")
    parser.add_argument("--out-dir", default=str(REPO / "benchmarks/results"))
    parser.add_argument("--steps", type=int, default=1500, help="steps per training run")
    parser.add_argument("--drives", type=int, default=4)
    parser.add_argument("--frames", type=int, default=300, help="frames per drive (10 Hz)")
    parser.add_argument("--clips", type=int, default=250, help="clips per drive")
    parser.add_argument("--sequence", default=str(KITTI_SAMPLE))
    parser.add_argument("--backbone", default=str(DEMO_MODEL), help="whose backbone the heads use")
    return parser.parse_args()


def backbone_checkpoint(work: Path, source: str) -> Path:
    """``work/backbone.pt``: the inverse dynamics of ``source``, for fresh pose heads."""
    backbone = work / "backbone.pt"
    if not backbone.exists():
        demo = load_checkpoint(source)
        save_checkpoint(
            backbone,
            {"inverse_dynamics": demo.modules["posttrainer"].inverse_dynamics},
            demo.config,
        )
    return backbone


def train_heads(
    work: Path, backbone: Path, clean: Path, noisy: Path, steps: int
) -> tuple[Path, dict[str, Path]]:
    """Train the pose encoder and every run's head (module docstring, 3.); ``(encoder, heads)``."""
    baseline = train(work, "baseline", "posttrain", backbone, clean, steps)
    encoder = train(work, "pose_encoder", "pose-encoder", baseline, clean, steps)
    heads = {
        "baseline": baseline,
        "virtual actions": train(
            work, "virtual", "posttrain", backbone, clean, steps, "--virtual-actions", str(encoder)
        ),
        "clip-length sampling": train(
            work,
            "clip_length",
            "posttrain",
            backbone,
            clean,
            steps,
            "--clip-len-sampling",
            "exponential",
        ),
        "30% bad labels": train(work, "noisy", "posttrain", backbone, noisy, steps),
        "30% bad labels + filter": train(
            work, "noisy_filter", "posttrain", backbone, noisy, steps, "--outlier-filter"
        ),
    }
    return encoder, heads


def evaluate_heads(heads: dict[str, Path], sequences: dict, encoder: Path) -> list[dict]:
    """One row per head, direction and refinement (refined: the baseline and virtual heads)."""
    rows = []
    for run, model in heads.items():
        for direction, sequence in sequences.items():
            for refine, ridge in REFINEMENTS.items():
                if ridge is not None and run not in ("baseline", "virtual actions"):
                    continue
                refinement = None if ridge is None else RefinementConfig(str(encoder), 3, ridge)
                print(f"evaluating {run}, {direction}, refine: {refine}", file=sys.stderr)
                row = evaluate(model, sequence, refinement)
                rows.append({"run": run, "direction": direction, "refine": refine, **row})
    return rows


def label_noise_summary(noisy_filter_run: Path) -> dict:
    """What the outlier filter of the ``noisy_filter`` run dropped, from its summary.json."""
    summary = json.loads((noisy_filter_run / "summary.json").read_text())
    return {
        "fraction": LABEL_NOISE,
        "dropped": summary["outliers_dropped"],
        "dropped_noisy": summary["label_noise"]["label_noise_dropped"],
        "bad_seen": summary["label_noise"]["label_noise_seen"],
        "clips_seen": summary["ranks"][0]["clips_seen"],
    }


def main() -> None:
    """Data, heads, evaluation on KITTI, report (see the module docstring)."""
    args = parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    start = time.perf_counter()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    config = load_checkpoint(args.backbone).config
    size = f"{config.image_width}x{config.image_height}"
    clean, noisy = make_data(work, args.drives, args.frames, args.clips, size, config.clip_len)

    # fresh pose heads on the demo model's pretrained backbone
    backbone = backbone_checkpoint(work, args.backbone)
    steps = args.steps
    encoder, heads = train_heads(work, backbone, clean, noisy, steps)

    forward = KittiSequence(args.sequence)
    sequences = {"forward": forward, "reversed": TimeReversedSequence(forward)}
    rows = evaluate_heads(heads, sequences, encoder)
    label_noise = label_noise_summary(work / "noisy_filter")
    report = {
        "command": "python benchmarks/ablation_pose_autoencoder.py"
        + ("" if steps == 1500 else f" --steps {steps}"),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        f"threads, torch {torch.__version__}",
        "steps": steps,
        "frames_used": rows[0]["frames_used"],
        "rows": rows,
        "teacher_vs_student": {
            direction: teacher_vs_student(heads["baseline"], encoder, sequence)
            for direction, sequence in sequences.items()
        },
        "label_noise": label_noise,
    }
    report["elapsed_min"] = (time.perf_counter() - start) / 60.0
    report["reused_runs"] = list(REUSED)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation_pose_autoencoder.json").write_text(dumps(report) + "\n")
    (out / "ablation_pose_autoencoder.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
