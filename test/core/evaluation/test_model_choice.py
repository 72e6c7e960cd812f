"""Choosing between trained models on validation drives, never on the evaluation drives."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from la_pose_core.data.synthetic.seeds import EVALUATION_SEEDS, TRAINING_SEEDS, VALIDATION_SEEDS

REPO_ROOT = Path(__file__).resolve().parents[3]

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
sys.path.insert(0, str(REPO_ROOT / "tools"))
from bench_accuracy import (  # noqa: E402
    REAL_VALIDATION,
    heading_without_labels,
    net_yaw_deg,
    synthetic_mean,
    turning_drives,
)
from pick_by_validation import best_run  # noqa: E402


def test_the_splits_of_the_synthetic_seeds_do_not_overlap():
    splits = [set(TRAINING_SEEDS), set(VALIDATION_SEEDS), set(EVALUATION_SEEDS)]
    assert sum(len(s) for s in splits) == len(set().union(*splits)) == 1000
    assert min(EVALUATION_SEEDS) == 300 and max(EVALUATION_SEEDS) == 999


@pytest.mark.parametrize("split, seeds", [("validation", VALIDATION_SEEDS),
                                          ("evaluation", EVALUATION_SEEDS)])  # fmt: skip
def test_the_benchmark_drives_come_from_their_split_and_turn(split, seeds):
    drives = turning_drives(2, (64, 32), grayscale=True, split=split)
    assert [d.seed in seeds for d in drives] == [True, True]
    for drive in drives:
        assert drive.name == f"synthetic-seed{drive.seed}"
        assert abs(net_yaw_deg(drive.world_from_cam)) >= 60.0


def test_the_mean_over_drives_is_per_method_and_the_net_yaw_a_share_of_the_truth():
    def method(auc, yaw):
        return {"yaw_corr": 0.9, "yaw_spread_ratio": 1.0, "step_corr": 0.8,
                "step_spread_ratio": 1.0, "rotation_err_deg": 0.5, "right_way_pct": 100.0,
                "auc5": auc, "ate_s": 0.1, "ate_m": 1.0, "net_yaw_deg": yaw}  # fmt: skip

    report = {
        "a": {"la_pose": method(60.0, 45.0), "ground_truth": {"net_yaw_deg": 90.0}},
        "b": {"la_pose": method(80.0, -90.0), "ground_truth": {"net_yaw_deg": -90.0}},
    }
    means = synthetic_mean(report, ["a", "b"])
    assert list(means) == ["la_pose"]
    assert means["la_pose"]["auc5"] == 70.0
    assert np.isclose(means["la_pose"]["net_yaw_share"], 0.75)


def _run_with(tmp_path, name, auc5, split="validation"):
    run = tmp_path / name
    (run / "validation").mkdir(parents=True)
    report = {"split": split, "synthetic_mean": {"la_pose": {"auc5": auc5}}}
    (run / "validation" / "accuracy.json").write_text(json.dumps(report))
    return run


def test_the_run_with_the_best_validation_auc_is_picked(tmp_path):
    runs = [_run_with(tmp_path, f"seed{i}", auc) for i, auc in enumerate([70.5, 74.0, 72.0])]
    assert best_run(runs) == runs[1]
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools/pick_by_validation.py"), *map(str, runs)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stdout.strip() == str(runs[1])


def test_an_evaluation_report_cannot_choose(tmp_path):
    runs = [_run_with(tmp_path, "a", 70.0), _run_with(tmp_path, "b", 90.0, split="evaluation")]
    with pytest.raises(ValueError, match="not a --split validation report"):
        best_run(runs)
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools/pick_by_validation.py"), *map(str, runs)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0 and "pick_by_validation:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_real_validation_footage_is_pretraining_footage_and_never_evaluation_footage():
    import bench_accuracy

    assert set(REAL_VALIDATION) == {"nuscenes_front_2hz_a", "nuscenes_front_2hz_b"}
    source = Path(bench_accuracy.__file__).read_text()
    evaluation = source[source.index("def evaluate_real_footage") :]
    evaluation = evaluation[: evaluation.index("def label_free_check")]
    assert not any(name in evaluation for name in REAL_VALIDATION)
    recipe = (REPO_ROOT / "tools/train_model.sh").read_text()
    assert all(name in recipe for name in REAL_VALIDATION)  # pretraining reads them


def test_the_label_free_heading_compares_pairs_only_where_vo_tracks():
    yaws = {
        "la_pose": np.array([1.0, 2.0, 3.0, 10.0]),
        "opencv_vo": np.array([1.5, 2.0, 2.0, -4.0]),
        "vo_failed": np.array([False, False, False, True]),
    }
    heading = heading_without_labels(yaws)
    assert heading["la_pose"] == 16.0 and heading["la_pose_where_vo_tracks"] == 6.0
    assert heading["opencv_vo_where_it_tracks"] == 5.5 and heading["opencv_vo_failed_pairs"] == 1
    assert heading["median_yaw_diff_with_vo_where_it_tracks_deg"] == 0.5
