"""Run every benchmark and write one JSON report and one markdown table, with machine info.

    .venv/bin/python benchmarks/run_all.py [--out benchmarks/results] [--quick]

Runs, each in its own process (so one's memory does not colour the next):

- estimator per-frame time, streaming vs full-window recomputation (``la-pose bench inference``,
  tiny, compact (the shipped model's config) and small; with CUDA also the paper config in
  bf16: the GPU section);
- node end-to-end latency and output rate at 10 and 30 Hz input (``bench_node.py``);
- bag extraction frames/s against raw read-and-decode (``bench_extract.py``);
- training steps/s of the three stages (``bench_training.py``);
- synthetic rendering frames/s and shard throughput (``bench_synthetic.py``).

Writes ``OUT/benchmarks.json`` (every benchmark's own JSON under its name, plus ``machine``)
and ``OUT/benchmarks.md``.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run_json(command: list[str], timeout: float) -> dict:
    """Run a benchmark and parse the first JSON object it prints."""
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1:] or ["failed"], "command": command}
    text = result.stdout
    report, _ = json.JSONDecoder().raw_decode(text[text.index("{") :])
    report["wall_s"] = round(time.perf_counter() - started, 1)
    return report


def benchmarks(quick: bool) -> dict[str, list[str]]:
    python, la_pose = str(BIN / "python"), str(BIN / "la-pose")
    commands = {
        f"inference_{config}": [la_pose, "bench", "inference", "--config", config, "--frames", "16"]
        for config in ("tiny", "compact", "small")
    }
    if torch.cuda.is_available():  # the GPU section
        commands["inference_paper_cuda_bf16"] = [
            la_pose, "bench", "inference", "--config", "paper", "--frames", "16",
            "--device", "cuda", "--precision", "bf16",
        ]  # fmt: skip
        commands["inference_small_cuda_fp32"] = [
            la_pose,
            "bench",
            "inference",
            "--config",
            "small",
            "--frames",
            "16",
            "--device",
            "cuda",
        ]
    commands["node"] = [python, "benchmarks/bench_node.py", "--seconds", "6" if quick else "15"]
    commands["extract"] = [
        python,
        "benchmarks/bench_extract.py",
        "--repeats",
        "1" if quick else "3",
    ]
    commands["training"] = [python, "benchmarks/bench_training.py"] + (
        ["--configs", "tiny"] if quick else []
    )
    commands["synthetic"] = [python, "benchmarks/bench_synthetic.py"] + (
        ["--frames", "5", "--skip-shards"] if quick else []
    )
    return commands


def markdown(report: dict) -> str:
    lines = ["# la_pose benchmarks", "", "| machine | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in report["machine"].items()]
    for name, result in report["results"].items():
        lines += ["", f"## {name}", ""]
        if "error" in result:
            lines.append(f"failed: {result['error']}")
            continue
        rows = result.get("results") if isinstance(result.get("results"), list) else None
        if rows:
            keys = list(rows[0])
            lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
            lines += [
                "| " + " | ".join(format_value(row.get(k)) for k in keys) + " |" for row in rows
            ]
        else:
            lines += ["| key | value |", "|---|---|"]
            lines += [
                f"| {key} | {format_value(value)} |" for key, value in flatten(result).items()
            ]
    return "\n".join(lines) + "\n"


def flatten(tree: dict, prefix: str = "") -> dict:
    """Nested dicts -> ``{"a.b.c": scalar}`` (lists are left out)."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        elif not isinstance(value, list):
            flat[f"{prefix}{key}"] = value
    return flat


def format_value(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
    parser.add_argument("--markdown-only", action="store_true", help="re-render OUT's JSON")
    args = parser.parse_args()
    if args.markdown_only:
        report = json.loads((args.out / "benchmarks.json").read_text())
        (args.out / "benchmarks.md").write_text(markdown(report))
        return
    report = {"machine": machine_info(), "results": {}}
    for name, command in benchmarks(args.quick).items():
        print(f"[bench] {name}: {' '.join(command[1:])}", flush=True)
        report["results"][name] = run_json(command, timeout=1800)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks.json").write_text(json.dumps(report, indent=2))
    (args.out / "benchmarks.md").write_text(markdown(report))
    print(f"[bench] wrote {args.out / 'benchmarks.json'} and {args.out / 'benchmarks.md'}")


if __name__ == "__main__":
    main()
