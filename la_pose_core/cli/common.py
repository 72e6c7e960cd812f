"""Helpers shared by the CLI subcommands: errors and JSON output."""

import sys
from typing import Any, NoReturn

from la_pose_core.json_output import dumps


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit code 2."""


def fail(message: str) -> NoReturn:
    raise CommandError(message)


def print_json(value: Any) -> None:
    sys.stdout.write(dumps(value) + "\n")
