"""``la-pose export``, ``evaluate --runtime onnxruntime`` and ``bench inference --runtime``."""

import json
import subprocess
import sys

import numpy as np
import pytest

from la_pose_core.cli.main import main
from la_pose_core.export.manifest import ExportManifest
from test.core.export.conftest import TINY, write_checkpoint

NO_TORCH = """
import sys
from la_pose_core.cli.main import main
for argv in (["export", "--help"], ["evaluate", "--help"], ["bench", "inference", "--help"]):
    try:
        main(argv)
    except SystemExit:
        pass
assert "torch" not in sys.modules and "onnxruntime" not in sys.modules
print("no torch")
"""


def run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    """``la-pose ARGV`` in-process: exit code, the JSON it printed (or None), stderr."""
    code = main([str(value) for value in argv])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out.strip() else None), captured.err


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("cli") / "tiny.pt", TINY)


def test_the_parsers_import_no_torch_and_no_onnxruntime():
    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "no torch" in done.stdout, done.stderr[-2000:]


def test_export_verifies_on_kitti_frames_and_records_the_figures(checkpoint, kitti_sample, capsys):
    code, summary, _ = run(
        capsys, "export", "--checkpoint", checkpoint, "--verify-sequence", kitti_sample
    )
    assert code == 0
    verification = summary["verification"]
    assert verification["frames"] == 19 and verification["pairs"] == 18  # 2 fps of 90 at 10 Hz
    assert verification["within_tolerance"] and verification["tolerance"] == 1e-3
    assert max(verification["latent_actions"], verification["pose_max"]) < 1e-4
    out = checkpoint.with_suffix(".onnx")  # the default folder, where the runtime looks
    assert summary["out"] == str(out)
    assert ExportManifest.read(out).verification == verification


def test_export_exits_1_above_the_tolerance(checkpoint, tmp_path, capsys):
    code, summary, err = run(
        capsys, "export", "--checkpoint", checkpoint, "--out", tmp_path / "x", "--tolerance", 0
    )
    assert code == 1 and not summary["verification"]["within_tolerance"]
    assert "more than --tolerance 0" in err and summary["verification"]["frames_source"] == "random"


def test_evaluate_on_onnxruntime_gives_the_torch_trajectory(
    checkpoint, kitti_sample, tmp_path, capsys
):
    assert run(capsys, "export", "--checkpoint", checkpoint)[0] == 0
    trajectories = {}
    for runtime in ("torch", "onnxruntime"):
        out = tmp_path / runtime
        code, summary, _ = run(
            capsys,
            *("evaluate", "--checkpoint", checkpoint, "--sequence", kitti_sample),
            *("--baselines", "none", "--out", out, "--runtime", runtime, "--device", "cpu"),
        )
        assert code == 0 and summary["frames_used"] == 19
        assert json.loads((out / "metrics.json").read_text())["runtime"] == runtime
        trajectories[runtime] = np.loadtxt(out / "trajectories" / "la_pose.txt")
    np.testing.assert_allclose(trajectories["onnxruntime"], trajectories["torch"], atol=1e-4)


def test_evaluate_with_a_missing_export_is_one_line(checkpoint, kitti_sample, tmp_path, capsys):
    code, _, err = run(
        capsys,
        *("evaluate", "--checkpoint", checkpoint, "--sequence", kitti_sample),
        *("--runtime", "onnxruntime", "--onnx-dir", tmp_path / "absent"),
    )
    assert code == 2 and err.count("\n") == 1 and "no such folder" in err


def test_bench_inference_times_onnxruntime_beside_torch(capsys):
    code, summary, _ = run(
        capsys, "bench", "inference", "--config", "tiny", "--runtime", "onnxruntime",
        "--repeats", 2,
    )  # fmt: skip
    assert code == 0
    comparison = summary["onnxruntime"]
    assert comparison["streaming_ms_per_frame"] > 0 and comparison["speedup_over_torch"] > 0
    assert comparison["torch_streaming_ms_per_frame"] == summary["streaming_ms_per_frame"]


def test_the_parser_defaults_equal_their_sources():
    from la_pose_core.cli import defaults
    from la_pose_core.export.exporter import DEFAULT_OPSET
    from la_pose_core.export.verify import DEFAULT_TOLERANCE
    from la_pose_core.inference.estimator import RUNTIMES

    assert defaults.RUNTIMES == RUNTIMES and defaults.ONNX_OPSET == DEFAULT_OPSET
    assert defaults.EXPORT_TOLERANCE == DEFAULT_TOLERANCE


def test_an_opset_below_18_is_refused(checkpoint, capsys):
    code, _, err = run(capsys, "export", "--checkpoint", checkpoint, "--opset", 17)
    assert code == 2 and "--opset must be at least 18" in err
