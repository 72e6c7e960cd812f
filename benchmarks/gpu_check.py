"""The GPU check: every CUDA path of the project in one run of under 8 minutes, one report.

    benchmarks/gpu.sh [OUT_DIR]                          # the wrapper: venv, then this
    .venv/bin/python benchmarks/gpu_check.py [--out OUT_DIR] [--budget-s 480] [--steps a,b]
        [--cpu-smoke]

Steps, each in its own process under its own timeout (a failing or hanging step never stops
the next one):

- ``environment``: torch and its CUDA build, the GPU, nvidia-smi (runs everywhere);
- ``cuda_tests``: the pytest tests marked ``cuda`` (``pytest -m cuda``: bf16 and fp32 on the
  GPU against the CPU, a training step per stage, ``bench inference`` on CUDA);
- ``inference_paper_bf16``: the paper config's streaming new frames/s at 960x448 in bf16
  (``la-pose bench inference``), target >= 100 frames/s on one H100/H200;
- ``training_small``: the small config's optimizer steps/s per stage, bf16 autocast, clips in
  GPU memory (what ``bench_training.py`` measures on CPU);
- ``train_cli_small``: ``la-pose shards`` (a synthetic drive into a temporary folder) then
  ``la-pose train tokenizer`` and ``train pretrain`` for a few steps on CUDA, the trainer end
  to end (data loading, checkpoints, ``summary.json``'s steps/s);
- ``ddp_nccl``: one process under ``torchrun --nproc_per_node 1`` joins an nccl process group
  and runs DDP steps of the small config's pretraining model plus an all-reduce;
- ``onnx_cuda``: ``la-pose export --format onnx`` of the shipped checkpoint run by ONNX
  Runtime's CUDA provider, against its CPU provider; skipped when ``la-pose export`` or
  onnxruntime with ``CUDAExecutionProvider`` is absent.

Without CUDA every GPU step is skipped with its reason. ``--cpu-smoke`` instead runs the GPU
steps' own code on the CPU with the tiny config (gloo instead of nccl, ONNX Runtime's CPU
provider), to check this script on a machine without a GPU; its report says so and is no GPU
result. Writes ``OUT/gpu.json`` and ``OUT/gpu.md``; exits 1 when a step failed, else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BIN = Path(PYTHON).parent
DEFAULT_BUDGET_S = 480.0  # 8 minutes for all steps together
TARGET_PAPER_FPS = 100.0  # new frames/s of the paper config at 960x448, bf16, one H100/H200
PAPER_SIZE = (960, 448)
MIN_STEP_S = 5.0  # a step with less of the budget left is skipped
CHECKPOINT = REPO / "models/la_pose_demo.pt"
NO_CUDA = "no CUDA device (torch.cuda.is_available() is False)"
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass
class Outcome:
    """What one step reports: its status, why (failed/skipped), and its figures."""

    status: str
    reason: str = ""
    figures: dict = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    log_tail: str = ""


@dataclass
class Context:
    """What every step needs: the mode, where temporary files go, how long it may take."""

    cuda: bool
    smoke: bool  # --cpu-smoke: the GPU steps' code on the CPU, tiny config
    tmp: Path
    deadline: float  # time.monotonic() by which the step must be done

    @property
    def device(self) -> str:
        return "cuda" if self.cuda else "cpu"

    @property
    def config(self) -> str:  # the model preset of the training and DDP steps
        return "tiny" if self.smoke else "small"

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


class StepFailed(Exception):
    """A command of a step failed: the message and the output's tail go into the report."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


def run_command(command: list[str], ctx: Context, env: dict | None = None) -> str:
    """Run ``command`` in the repository, killed (with its children) at the step's deadline;
    its stdout, or :class:`StepFailed` with the output's tail."""
    timeout = max(ctx.remaining(), 1.0)
    process = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        start_new_session=True,  # its own process group: a timeout kills torchrun's workers too
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise StepFailed(
            f"timed out after {timeout:.0f} s: {' '.join(command)}", tail(stdout + stderr)
        ) from None
    if process.returncode != 0:
        raise StepFailed(
            f"exit code {process.returncode}: {' '.join(command)}", tail(stdout + stderr)
        )
    return stdout


def tail(text: str, lines: int = 15) -> str:
    """The output's last lines, or from its first traceback on (torchrun's trailer hides it)."""
    all_lines = text.strip().splitlines()
    first = next((i for i, line in enumerate(all_lines) if "Traceback" in line), None)
    if first is not None:
        return "\n".join(all_lines[first : first + 25])
    return "\n".join(all_lines[-lines:])


def first_json(text: str) -> dict:
    """The first JSON object a command printed."""
    report, _ = json.JSONDecoder().raw_decode(text[text.index("{") :])
    return report


def internal(name: str, *args: str) -> list[str]:
    """This script's own worker ``name`` (a step's code that runs in its own process)."""
    return [PYTHON, str(Path(__file__).resolve()), "--internal", name, *args]


# --- the steps --------------------------------------------------------------------------------


def step_environment(ctx: Context) -> Outcome:
    """torch's build and the GPU it sees; a CPU build of torch is named with the fix."""
    import torch

    figures = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda_build": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cpu_cores": os.cpu_count(),
        "mode": "cpu-smoke" if ctx.smoke else ("cuda" if ctx.cuda else "cpu (GPU steps skipped)"),
    }
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        figures.update(
            gpu=properties.name,
            gpu_memory_gib=round(properties.total_memory / 2**30, 1),
            compute_capability=f"{properties.major}.{properties.minor}",
            bf16_supported=torch.cuda.is_bf16_supported(),
            device_count=torch.cuda.device_count(),
        )
    if shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv"]
        result = subprocess.run(query, capture_output=True, text=True, timeout=20)
        figures["nvidia_smi"] = tail(result.stdout or result.stderr, 3)
    reason = ""
    if torch.version.cuda is None:
        reason = (
            "torch is a CPU build: for the GPU steps run make setup with "
            'TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu128"'
        )
    return Outcome(PASSED, reason, figures)


def step_cuda_tests(ctx: Context) -> Outcome:
    """``pytest -m cuda``: the tests that need a GPU (they skip themselves without one)."""
    command = [PYTHON, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "test"]
    try:
        output = run_command(command, ctx)
    except StepFailed as error:
        return Outcome(FAILED, str(error), {}, [" ".join(command)], error.log_tail)
    summary = output.strip().splitlines()[-1] if output.strip() else ""
    figures = {"summary": summary.strip("= ")}
    if "skipped" in summary and "passed" not in summary:
        return Outcome(FAILED, "every cuda test skipped", figures, [" ".join(command)])
    return Outcome(PASSED, "", figures, [" ".join(command)], tail(output, 5))


def step_inference_paper(ctx: Context) -> Outcome:
    """The paper config's streaming frames/s at 960x448 in bf16 against the target."""
    from la_pose_core.model.config import get_config

    config_name = "tiny" if ctx.smoke else "paper"
    config = get_config(config_name)
    size = (config.image_width, config.image_height)
    if not ctx.smoke and size != PAPER_SIZE:  # bench inference has no size option: the preset's
        return Outcome(FAILED, f"the paper config is {size[0]}x{size[1]}, not 960x448")
    command = [str(BIN / "la-pose"), "bench", "inference", "--config", config_name]
    command += ["--frames", "16", "--repeats", "5" if ctx.smoke else "40"]
    command += ["--device", ctx.device, "--precision", "bf16"]
    try:
        report = first_json(run_command(command, ctx))
    except StepFailed as error:
        return Outcome(FAILED, str(error), {}, [" ".join(command)], error.log_tail)
    fps = 1000.0 / report["streaming_ms_per_frame"]
    figures = {
        "config": config_name,
        "image": f"{size[0]}x{size[1]}",
        "window_frames": report["window_frames"],
        "streaming_ms_per_frame": round(report["streaming_ms_per_frame"], 2),
        "new_frames_per_s": round(fps, 1),
        "target_frames_per_s": TARGET_PAPER_FPS,
        "full_window_ms": round(report["full_window_ms"], 2),
        "speedup_vs_full_window": round(report["speedup"], 1),
        "peak_memory_mb": round(report["peak_memory_mb"], 1),
    }
    if not ctx.smoke and fps < TARGET_PAPER_FPS:
        reason = f"{fps:.1f} new frames/s is below the target of {TARGET_PAPER_FPS:.0f}"
        return Outcome(FAILED, reason, figures, [" ".join(command)])
    return Outcome(PASSED, "", figures, [" ".join(command)])


def step_training(ctx: Context) -> Outcome:
    """Optimizer steps/s of every stage, clips already in (GPU) memory (worker ``train``)."""
    command = internal("train", "--config", ctx.config, "--device", ctx.device)
    command += [
        "--train-steps",
        "2" if ctx.smoke else "10",
        "--batch-size",
        "2" if ctx.smoke else "8",
    ]
    try:
        report = first_json(run_command(command, ctx))
    except StepFailed as error:
        return Outcome(FAILED, str(error), {}, [" ".join(command)], error.log_tail)
    return Outcome(PASSED, "", report, [" ".join(command)])


def step_train_cli(ctx: Context) -> Outcome:
    """``la-pose shards`` then ``la-pose train tokenizer`` and ``train pretrain`` on the device."""
    la_pose, work = str(BIN / "la-pose"), ctx.tmp / "train_cli"
    shards = [la_pose, "shards", "--synthetic", "0", "--config", ctx.config, "--clips", "16"]
    shards += ["--frames", "120", "--clips-per-shard", "8", "--out", str(work / "shards")]
    common = ["--config", ctx.config, "--data", str(work / "shards"), "--device", ctx.device]
    common += ["--batch-size", "4", "--num-workers", "2", "--no-progress", "--log-every", "5"]
    tokenizer = [la_pose, "train", "tokenizer", *common, "--out", str(work / "tok")]
    tokenizer += ["--steps", "5" if ctx.smoke else "20"]
    pretrain = [la_pose, "train", "pretrain", *common, "--out", str(work / "pre")]
    pretrain += ["--init", str(work / "tok/model.pt"), "--steps", "5" if ctx.smoke else "30"]
    commands = [shards, tokenizer, pretrain]
    figures: dict = {"config": ctx.config}
    try:
        started = time.monotonic()
        run_command(shards, ctx)
        figures["shards_s"] = round(time.monotonic() - started, 1)
        for name, command in (("tokenizer", tokenizer), ("pretrain", pretrain)):
            run_command(command, ctx)
            summary = json.loads(
                (work / ("tok" if name == "tokenizer" else "pre") / "summary.json").read_text()
            )
            figures[name] = {
                key: summary.get(key) for key in ("step", "steps_per_s", "elapsed_s", "device")
            }
    except StepFailed as error:
        shown = [" ".join(c) for c in commands]
        return Outcome(FAILED, str(error), figures, shown, error.log_tail)
    except (OSError, ValueError) as error:
        return Outcome(
            FAILED, f"no summary.json: {error}", figures, [" ".join(c) for c in commands]
        )
    return Outcome(PASSED, "", figures, [" ".join(c) for c in commands])


def step_ddp(ctx: Context) -> Outcome:
    """``torchrun --nproc_per_node 1``: an nccl group (gloo in the CPU smoke) and DDP steps."""
    backend = "nccl" if ctx.cuda else "gloo"
    torchrun = str(BIN / "torchrun")
    command = [torchrun, "--standalone", "--nproc_per_node", "1", str(Path(__file__).resolve())]
    command += ["--internal", "ddp", "--backend", backend, "--config", ctx.config]
    command += ["--device", ctx.device]
    try:
        report = first_json(run_command(command, ctx))
    except StepFailed as error:
        return Outcome(FAILED, str(error), {}, [" ".join(command)], error.log_tail)
    return Outcome(PASSED, "", report, [" ".join(command)])


def step_onnx(ctx: Context) -> Outcome:
    """The ONNX export run by ONNX Runtime on CUDA; skipped without the export or the runtime."""
    la_pose = str(BIN / "la-pose")
    probe = subprocess.run([la_pose, "export", "--help"], capture_output=True, text=True, cwd=REPO)
    if probe.returncode != 0:
        return Outcome(SKIPPED, "`la-pose export` does not exist in this checkout")
    try:
        import onnxruntime
    except ImportError:
        return Outcome(SKIPPED, "onnxruntime is not importable (pip install onnxruntime-gpu)")
    provider = "CUDAExecutionProvider" if ctx.cuda else "CPUExecutionProvider"
    if provider not in onnxruntime.get_available_providers():
        reason = f"onnxruntime {onnxruntime.__version__} has no {provider} (onnxruntime-gpu)"
        return Outcome(SKIPPED, reason)
    out = ctx.tmp / "onnx"
    export = [la_pose, "export", "--checkpoint", str(CHECKPOINT), "--format", "onnx"]
    export += ["--out", str(out)]
    check = internal("onnx", str(out), "--provider", provider)
    commands = [" ".join(export), " ".join(check)]
    try:
        exported = run_command(export, ctx)  # the export verifies itself against torch
        report = first_json(run_command(check, ctx))
        if "{" in exported:  # its time and its torch-vs-ONNX Runtime differences
            export_report = first_json(exported)
            report["export"] = {k: export_report.get(k) for k in ("export_s", "verification")}
    except StepFailed as error:
        return Outcome(FAILED, str(error), {}, commands, error.log_tail)
    if report.get("error"):
        return Outcome(FAILED, report["error"], report, commands)
    return Outcome(PASSED, "", report, commands)


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[Context], Outcome]
    timeout_s: float
    needs_cuda: bool = True


STEPS = (
    Step("environment", step_environment, 20, needs_cuda=False),
    Step("cuda_tests", step_cuda_tests, 110),
    Step("inference_paper_bf16", step_inference_paper, 80),
    Step("training_small", step_training, 70),
    Step("train_cli_small", step_train_cli, 90),
    Step("ddp_nccl", step_ddp, 45),
    Step("onnx_cuda", step_onnx, 60),
)


def run_steps(names: list[str], cuda: bool, smoke: bool, budget_s: float) -> list[dict]:
    """Every step in order under its own timeout (capped by what is left of the budget)."""
    end = time.monotonic() + budget_s
    results = []
    with tempfile.TemporaryDirectory(prefix="la_pose_gpu_check_") as tmp:
        for step in (s for s in STEPS if s.name in names):
            left = end - time.monotonic()
            timeout = min(step.timeout_s, left)
            print(f"[gpu_check] {step.name} (timeout {timeout:.0f} s)", flush=True)
            started = time.monotonic()
            if step.needs_cuda and step.name == "cuda_tests" and smoke:
                outcome = Outcome(SKIPPED, f"{NO_CUDA}; the CPU smoke does not run pytest")
            elif step.needs_cuda and not cuda and not smoke:
                outcome = Outcome(SKIPPED, NO_CUDA)
            elif timeout < MIN_STEP_S:
                outcome = Outcome(SKIPPED, f"out of the {budget_s:.0f} s budget")
            else:
                ctx = Context(cuda, smoke, Path(tmp), time.monotonic() + timeout)
                try:
                    outcome = step.run(ctx)
                except StepFailed as error:  # a command the step did not catch itself
                    outcome = Outcome(FAILED, str(error), log_tail=error.log_tail)
                except Exception as error:  # a bug in a step is that step's failure only
                    outcome = Outcome(FAILED, f"{type(error).__name__}: {error}")
            result = {
                "name": step.name,
                "status": outcome.status,
                "reason": outcome.reason,
                "figures": outcome.figures,
                "wall_s": round(time.monotonic() - started, 1),
                "timeout_s": round(timeout),
                "commands": outcome.commands,
            }
            if outcome.log_tail and outcome.status == FAILED:
                result["log_tail"] = outcome.log_tail
            print(f"[gpu_check]   {outcome.status} {outcome.reason}".rstrip(), flush=True)
            results.append(result)
    return results


# --- the report -------------------------------------------------------------------------------


def flat(figures: dict, prefix: str = "") -> list[str]:
    """``key value`` items of nested figures, for the markdown table."""
    items = []
    for key, value in figures.items():
        if isinstance(value, dict):
            items += flat(value, f"{prefix}{key}.")
        elif key != "nvidia_smi":
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            items.append(f"{prefix}{key} {shown}")
    return items


def markdown(report: dict) -> str:
    lines = [
        "# la_pose GPU check",
        "",
        f"{report['date']}, mode {report['mode']}, {report['total_wall_s']} s of a "
        f"{report['budget_s']:.0f} s budget: "
        + ", ".join(f"{count} {status}" for status, count in report["counts"].items()),
        "",
        "| step | status | figures | reason |",
        "|---|---|---|---|",
    ]
    for step in report["steps"]:
        figures = "<br>".join(flat(step["figures"])).replace("|", "/")
        reason = step["reason"].replace("|", "/").replace("\n", " ")
        lines.append(f"| {step['name']} | {step['status']} | {figures} | {reason} |")
    failed = [step for step in report["steps"] if step.get("log_tail")]
    for step in failed:
        lines += ["", f"## {step['name']}: output's end", "", "```", step["log_tail"], "```"]
    return "\n".join(lines) + "\n"


def write_report(out: Path, steps: list[dict], mode: str, budget_s: float, wall_s: float) -> dict:
    counts = {
        status: sum(s["status"] == status for s in steps) for status in (PASSED, FAILED, SKIPPED)
    }
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "mode": mode,
        "budget_s": budget_s,
        "total_wall_s": round(wall_s, 1),
        "counts": counts,
        "steps": steps,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "gpu.md").write_text(markdown(report))
    return report


# --- the workers (each runs in its own process) ----------------------------------------------


def random_batch(config, batch_size: int, device) -> dict:
    """Clips as the shard reader yields them, on ``device``."""
    from la_pose_core.training.random_batch import random_clip_batch

    return random_clip_batch(config, batch_size, device)


TIMED_STAGES = ("tokenizer", "pretrain", "posttrain")  # pose-encoder needs a trained model


def train_options(stage: str, config):
    """The options a stage builds its module with (the trainer's defaults)."""
    from la_pose_core.training.options import TrainOptions

    return TrainOptions(stage=stage, run_dir="", data=[], config=config)


def worker_train(args: argparse.Namespace) -> dict:
    """Steps/s of each stage: forward, loss, backward, clipping, AdamW, in bf16 autocast."""
    import torch

    from la_pose_core.model.config import get_config
    from la_pose_core.model.precision import autocast_context
    from la_pose_core.training.stages import STAGES
    from la_pose_core.training.trainer import parameter_groups

    device, config = torch.device(args.device), get_config(args.config)
    batch = random_batch(config, args.batch_size, device)
    report: dict = {
        "config": config.name,
        "image": f"{config.image_width}x{config.image_height}",
        "clip_len": config.clip_len,
        "batch_size": args.batch_size,
        "precision": "bf16" if device.type == "cuda" else "fp32 (bf16 autocast is CUDA-only)",
    }
    for name in TIMED_STAGES:
        stage = STAGES[name]
        torch.manual_seed(0)
        model = stage.build(config, None, train_options(name, config)).to(device).train()
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(parameter_groups(model, 0.05), lr=1e-4)
        times = []
        for index in range(args.warmup + args.train_steps):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            with autocast_context(device, "bf16"):
                output = stage.step(model, batch, device, per_sample=False)
            output.loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if index >= args.warmup:
                times.append(time.perf_counter() - start)
        loss = float(output.loss)
        if not torch.isfinite(torch.tensor(loss)):
            raise RuntimeError(f"{name}: loss {loss}")
        seconds = sorted(times)[len(times) // 2]
        report[name] = {
            "steps_per_s": round(1.0 / seconds, 2),
            "clips_per_s": round(args.batch_size / seconds, 1),
            "loss": round(loss, 4),
        }
        del model, optimizer
    if device.type == "cuda":
        report["peak_memory_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return report


def worker_ddp(args: argparse.Namespace) -> dict:
    """Under torchrun: the trainer's device set-up, a process group, DDP steps, an all-reduce."""
    import datetime

    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from la_pose_core.model.config import get_config
    from la_pose_core.model.precision import autocast_context
    from la_pose_core.training.distributed import launched_by_torchrun, setup_distributed
    from la_pose_core.training.stages import STAGES

    if not launched_by_torchrun():
        raise RuntimeError("run under torchrun")
    context = setup_distributed(args.device)  # the trainer's: cuda:LOCAL_RANK under torchrun
    device = context.device
    started = time.perf_counter()
    dist.init_process_group(  # world size 1: the trainer itself would not make a group
        args.backend,
        timeout=datetime.timedelta(seconds=60),
        device_id=device if args.backend == "nccl" else None,
    )
    init_s = time.perf_counter() - started
    value = torch.tensor([float(context.rank + 1)], device=device)
    dist.all_reduce(value)
    config = get_config(args.config)
    stage = STAGES["pretrain"]
    torch.manual_seed(0)
    model = stage.build(config, None, train_options("pretrain", config)).to(device).train()
    wrapped = DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    batch = random_batch(config, 2, device)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with autocast_context(device, "bf16"):
            output = stage.step(wrapped, batch, device, per_sample=False)
        output.loss.backward()  # DDP's gradient all-reduce over the group
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    report = {
        "backend": dist.get_backend(),
        "world_size": dist.get_world_size(),
        "device": str(device),
        "config": config.name,
        "init_process_group_s": round(init_s, 2),
        "all_reduce_ok": float(value) == 1.0,
        "ddp_step_ms": round(1e3 * min(times[1:]), 1),
        "loss": round(float(output.loss), 4),
    }
    dist.destroy_process_group()
    if not report["all_reduce_ok"] or not torch.isfinite(output.loss.detach()):
        raise RuntimeError(f"DDP check failed: {report}")
    return report


def worker_onnx(args: argparse.Namespace) -> dict:
    """Every ``.onnx`` the export wrote, on ``--provider`` against the CPU provider."""
    import numpy as np
    import onnxruntime

    models = sorted(Path(args.folder).rglob("*.onnx"))
    if not models:
        return {"error": f"the export wrote no .onnx file under {args.folder}"}
    types = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(bool)": np.bool_}
    report: dict = {"provider": args.provider}
    rng = np.random.default_rng(0)
    for path in models:
        session = onnxruntime.InferenceSession(str(path), providers=[args.provider])
        if session.get_providers()[0] != args.provider:  # ORT falls back silently
            return {"error": f"{path.name} runs on {session.get_providers()}, not {args.provider}"}
        reference = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {}  # random inputs, dynamic sizes 1 (zeros for integer inputs: frame indices)
        for item in session.get_inputs():
            shape = [dim if isinstance(dim, int) and dim > 0 else 1 for dim in item.shape]
            kind = types.get(item.type, np.float32)
            feeds[item.name] = rng.random(shape) if kind == np.float32 else np.zeros(shape)
            feeds[item.name] = feeds[item.name].astype(kind)
        try:
            expected = reference.run(None, feeds)
        except Exception as error:  # inputs this generic check cannot guess: not timed
            report[path.stem] = {"not_timed": f"random inputs do not run on CPU either: {error}"}
            continue
        outputs = session.run(None, feeds)
        times = []
        for _ in range(20):
            start = time.perf_counter()
            session.run(None, feeds)
            times.append(time.perf_counter() - start)
        difference = max(
            float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
            for a, b in zip(outputs, expected, strict=True)
            if np.asarray(a).size
        )
        report[path.stem] = {
            "inputs": {i.name: list(feeds[i.name].shape) for i in session.get_inputs()},
            "ms_per_run": round(1e3 * sorted(times)[10], 3),
            "max_abs_diff_vs_cpu": difference,
            "finite": all(np.isfinite(np.asarray(o, np.float64)).all() for o in outputs),
        }
        if not report[path.stem]["finite"]:
            report["error"] = f"{path.name}: non-finite outputs"
    return report


WORKERS = {"train": worker_train, "ddp": worker_ddp, "onnx": worker_onnx}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results")
    parser.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S)
    parser.add_argument("--steps", default=",".join(s.name for s in STEPS), help="subset, a,b")
    parser.add_argument("--cpu-smoke", action="store_true", help="the GPU steps on CPU, tiny")
    parser.add_argument("--internal", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("folder", nargs="?", help=argparse.SUPPRESS)  # onnx worker
    for option, default in (("--config", "small"), ("--device", "cuda"), ("--backend", "nccl")):
        parser.add_argument(option, default=default, help=argparse.SUPPRESS)
    parser.add_argument("--provider", default="CUDAExecutionProvider", help=argparse.SUPPRESS)
    for option, default in (("--batch-size", 4), ("--warmup", 2), ("--train-steps", 10)):
        parser.add_argument(option, type=int, default=default, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.internal:  # a worker: print its JSON
        print(json.dumps(WORKERS[args.internal](args), indent=2))
        return 0
    if args.folder:
        parser.error(f"unrecognized argument {args.folder!r} (the report folder is --out)")
    names = [name.strip() for name in args.steps.split(",") if name.strip()]
    unknown = sorted(set(names) - {s.name for s in STEPS})
    if unknown:
        parser.error(f"unknown steps {unknown}; the steps: {[s.name for s in STEPS]}")
    import torch

    cuda = torch.cuda.is_available()
    mode = "cuda" if cuda else ("cpu-smoke" if args.cpu_smoke else "cpu (GPU steps skipped)")
    steps = run_steps(names, cuda, args.cpu_smoke and not cuda, args.budget_s)
    report = write_report(args.out, steps, mode, args.budget_s, time.monotonic() - started)
    print(f"[gpu_check] {report['counts']}; wrote {args.out / 'gpu.json'} and gpu.md")
    return 1 if report["counts"][FAILED] else 0


if __name__ == "__main__":
    sys.exit(main())
