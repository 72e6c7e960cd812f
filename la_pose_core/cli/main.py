"""Entry point of the ``la-pose`` command: one subcommand per module, each with ``register``.

Subcommands that need ROS (``la-pose bag``) live in ``la_pose_ros`` and come in through the
``la_pose.commands`` entry point group, loaded only when the command line is built: importing the
core never imports ROS, and without the ROS side installed those commands are just absent.

Building the command line imports no torch and no model (the command modules import them when
their command runs; the values their parsers show come from :mod:`la_pose_core.cli.defaults`),
so ``--help`` at any level, and a usage error, answer at once. A usage error is reported by the
(sub)command it belongs to, with its usage line: an unknown option of ``la-pose train
tokenizer`` by ``la-pose train tokenizer``, with the nearest known option or command name as a
suggestion when one is close.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.metadata
import re
import sys

from la_pose_core.cli import (
    data_commands,
    evaluate_command,
    export_command,
    metrics_command,
    model_commands,
    probe_command,
    train_commands,
)
from la_pose_core.cli.common import CommandError

SUBCOMMAND_MODULES = (
    metrics_command,
    model_commands,
    data_commands,
    train_commands,
    evaluate_command,
    export_command,
    probe_command,
)
_INVALID_CHOICE = re.compile(
    r"invalid choice: '?(?P<word>[^' ]*)'? \(choose from (?P<choices>.*)\)"
)


def _close_match(word: str, candidates: list[str]) -> str | None:
    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` (subcommands inherit it) whose errors suggest the nearest choice."""

    def error(self, message: str):
        found = _INVALID_CHOICE.search(message)
        if found:
            choices = re.findall(r"[^\s,']+", found["choices"])
            match = _close_match(found["word"], choices)
            if match:
                message += f"; did you mean {match!r}?"
        super().error(message)

    def option_strings(self) -> list[str]:
        return [name for action in self._actions for name in action.option_strings]


def plugin_modules() -> tuple[list, list[str]]:
    """Modules of the ``la_pose.commands`` entry points, and notes on those that fail to load."""
    modules, unavailable = [], []
    for entry_point in importlib.metadata.entry_points(group="la_pose.commands"):
        try:
            modules.append(entry_point.load())
        except ImportError as error:
            unavailable.append(f"{entry_point.name} (unavailable: {error})")
    return modules, unavailable


def build_parser() -> argparse.ArgumentParser:
    plugins, unavailable = plugin_modules()
    parser = Parser(
        prog="la-pose",
        description="LA-Pose camera odometry: metrics, models, training, evaluation, bags.",
        epilog="; ".join(unavailable) or None,
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (*SUBCOMMAND_MODULES, *plugins):
        module.register(subparsers)
    return parser


def innermost_parser(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """The (sub)parser of the deepest subcommand ``args`` chose (``la-pose train tokenizer``)."""
    while True:
        action = next(
            (a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None
        )
        chosen = getattr(args, action.dest, None) if action is not None else None
        if chosen not in getattr(action, "choices", {}):
            return parser
        parser = action.choices[chosen]


def _unrecognized(extras: list[str], parser: argparse.ArgumentParser) -> str:
    """argparse's message for arguments no parser took, with the nearest option of ``parser``."""
    message = f"unrecognized arguments: {' '.join(extras)}"
    known = parser.option_strings() if isinstance(parser, Parser) else []
    for extra in extras:
        if extra.startswith("--"):
            match = _close_match(extra.partition("=")[0], known)
            if match:
                return f"{message} (did you mean {match}?)"
    return message


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """Parse like ``parse_args``, but an unrecognized argument is reported by the subcommand
    it was given to, with that subcommand's usage (argparse reports it at the top level)."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        innermost = innermost_parser(parser, args)
        innermost.error(_unrecognized(extras, innermost))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    try:
        return args.run(args)
    except (CommandError, OSError, ValueError) as error:
        print(f"la-pose {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"la-pose {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
