"""benchmarks/gpu.sh and its driver benchmarks/gpu_check.py without a GPU: every step reported,
the GPU ones skipped with their reason; a failing or hanging step never stops the next one."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from test.conftest import REPO_ROOT

STEP_NAMES = [
    "environment",
    "cuda_tests",
    "inference_paper_bf16",
    "training_small",
    "train_cli_small",
    "ddp_nccl",
    "onnx_cuda",
]


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location(
        "gpu_check", REPO_ROOT / "benchmarks/gpu_check.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules["gpu_check"]


def test_gpu_sh_without_cuda_skips_the_gpu_steps_with_their_reason(tmp_path):
    # CUDA_VISIBLE_DEVICES="" hides any GPU, so this stays the quick CPU path on a GPU machine
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [str(REPO_ROOT / "benchmarks/gpu.sh"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "torch sees no CUDA device" in result.stderr
    report = json.loads((tmp_path / "out/gpu.json").read_text())
    assert report["mode"] == "cpu (GPU steps skipped)" and report["budget_s"] == 480
    assert [step["name"] for step in report["steps"]] == STEP_NAMES
    assert report["counts"] == {"passed": 1, "failed": 0, "skipped": len(STEP_NAMES) - 1}
    for step in report["steps"]:
        assert set(step) >= {"name", "status", "reason", "figures", "wall_s", "timeout_s"}
    environment, *gpu_steps = report["steps"]
    assert environment["status"] == "passed"
    assert environment["figures"]["cuda_available"] is False and environment["figures"]["torch"]
    for step in gpu_steps:
        assert step["status"] == "skipped"
        assert step["reason"] == "no CUDA device (torch.cuda.is_available() is False)"
    assert sum(step["timeout_s"] for step in report["steps"]) <= 480
    table = (tmp_path / "out/gpu.md").read_text()
    assert table.startswith("# la_pose GPU check")
    assert "| step | status | figures | reason |" in table
    for name in STEP_NAMES[1:]:
        assert f"| {name} | skipped |  | no CUDA device" in table


def test_an_unknown_step_is_a_usage_error(gpu_check, capsys):
    with pytest.raises(SystemExit) as exit_info:
        gpu_check.main(["--steps", "environment,gpu_magic"])
    assert exit_info.value.code == 2
    assert "unknown steps ['gpu_magic']" in capsys.readouterr().err


def test_failures_and_timeouts_are_reported_and_the_next_step_still_runs(
    gpu_check, monkeypatch, tmp_path
):
    def crashes(ctx):
        raise RuntimeError("a bug in the step")

    def hangs(ctx):
        gpu_check.run_command([sys.executable, "-c", "import time; time.sleep(30)"], ctx)

    def passes(ctx):
        return gpu_check.Outcome("passed", "", {"value": 1.5})

    steps = (
        gpu_check.Step("crashes", crashes, 10, needs_cuda=False),
        gpu_check.Step("needs_gpu", passes, 10),
        gpu_check.Step("passes", passes, 10, needs_cuda=False),
        gpu_check.Step("hangs", hangs, 1.5, needs_cuda=False),
        gpu_check.Step("late", passes, 10, needs_cuda=False),  # 0.5 s of the budget left
    )
    monkeypatch.setattr(gpu_check, "STEPS", steps)
    monkeypatch.setattr(gpu_check, "MIN_STEP_S", 0.8)
    names = [step.name for step in steps]
    results = gpu_check.run_steps(names, cuda=False, smoke=False, budget_s=2.0)
    by_name = {result["name"]: result for result in results}
    assert by_name["crashes"]["status"] == "failed"
    assert by_name["crashes"]["reason"] == "RuntimeError: a bug in the step"
    assert by_name["hangs"]["status"] == "failed"
    assert by_name["hangs"]["reason"].startswith("timed out after ")
    assert by_name["hangs"]["wall_s"] < 10 and "time.sleep(30)" in by_name["hangs"]["reason"]
    assert by_name["needs_gpu"]["status"] == "skipped"
    assert by_name["passes"]["status"] == "passed"
    assert by_name["late"] == {**by_name["late"], "status": "skipped"}
    assert by_name["late"]["reason"] == "out of the 2 s budget"
    report = gpu_check.write_report(tmp_path, results, "test", 2.0, 2.0)
    assert report["counts"] == {"passed": 1, "failed": 2, "skipped": 2}
    assert "| passes | passed | value 1.5 |  |" in (tmp_path / "gpu.md").read_text()
