#!/usr/bin/env python3
"""List the longest functions of the package code (issue 15's measure of readability).

    tools/longest_functions.py [--top N] [--over LINES] [PATH ...]

Counts the lines of every function and method (decorators to last line) in the given folders
(default: la_pose_core la_pose_ros benchmarks tools); prints the longest first.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

DEFAULT_PATHS = ("la_pose_core", "la_pose_ros", "benchmarks", "tools")


def function_lengths(path: Path) -> list[tuple[int, str]]:
    """``(lines, "file:line name")`` of every function defined in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            found.append((node.end_lineno - first + 1, f"{path}:{node.lineno} {node.name}"))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=DEFAULT_PATHS)
    parser.add_argument("--top", type=int, default=15, help="how many to list (default 15)")
    parser.add_argument("--over", type=int, default=0, help="only functions longer than this")
    args = parser.parse_args()
    lengths = [
        entry
        for root in args.paths
        for file in sorted(Path(root).rglob("*.py"))
        for entry in function_lengths(file)
        if entry[0] > args.over
    ]
    for lines, where in sorted(lengths, reverse=True)[: args.top]:
        print(f"{lines:5d}  {where}")


if __name__ == "__main__":
    main()
