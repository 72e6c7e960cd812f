"""Prove the ROS 2 build the README gives: colcon finds and builds every package of the repo.

The repository root is the ament_python package ``la_pose`` and ``msg/`` is the ament_cmake
package ``la_pose_msgs``. colcon stops descending at the first folder that is a package, so the
README's command names both base paths. This test runs exactly that command in a fresh
workspace (with colcon and ROS 2 from this venv's wheels) and uses the result.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

VENV = Path(sys.executable).parent.parent
COLCON = shutil.which("colcon", path=str(VENV / "bin"))
README_BUILD_COMMAND = ["colcon", "build", "--base-paths", "src", "src/la_pose/msg"]
IGNORED = shutil.ignore_patterns(
    ".venv", ".git", "build", "install", "log", "__pycache__", "*.egg-info", ".*_cache", "runs"
)

pytestmark = pytest.mark.skipif(COLCON is None, reason="colcon is not installed in this venv")


@pytest.fixture(scope="module")
def workspace(repo_root, tmp_path_factory) -> Path:
    workspace = tmp_path_factory.mktemp("ws")
    shutil.copytree(repo_root, workspace / "src/la_pose", ignore=IGNORED)
    return workspace


def colcon_env() -> dict[str, str]:
    """ROS 2 from wheels: the venv is the underlay (a real install sources its setup.bash)."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV / 'bin'}:{env['PATH']}"
    env["CMAKE_PREFIX_PATH"] = str(VENV)
    env["AMENT_PREFIX_PATH"] = str(VENV)
    return env


def test_the_readme_documents_the_build_command(repo_root):
    assert " ".join(README_BUILD_COMMAND) in (repo_root / "README.md").read_text()


def test_colcon_discovers_every_package(workspace):
    listed = subprocess.run(
        [COLCON, "list", "--base-paths", "src", "src/la_pose/msg"],
        cwd=workspace,
        env=colcon_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    packages = {line.split()[0]: line.split()[2] for line in listed.splitlines()}
    assert packages == {"la_pose": "(ros.ament_python)", "la_pose_msgs": "(ros.ament_cmake)"}


def test_colcon_builds_every_package_and_the_result_runs(workspace):
    build = subprocess.run(
        [
            COLCON,
            *README_BUILD_COMMAND[1:],
            "--cmake-args",
            f"-DPython3_EXECUTABLE={VENV / 'bin/python'}",
            "-DBUILD_TESTING=OFF",
        ],
        cwd=workspace,
        env=colcon_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert "Finished <<< la_pose_msgs" in build.stdout
    assert "Finished <<< la_pose [" in build.stdout

    install = workspace / "install"
    assert (install / "la_pose/lib/la_pose/la-pose").exists()
    assert (install / "la_pose/share/la_pose/package.xml").exists()
    assert (install / "la_pose/share/ament_index/resource_index/packages/la_pose").exists()
    # the built messages and the installed core import from a shell that sourced the workspace,
    # and not from the source tree
    check = (
        f". {install / 'setup.sh'} && cd / && python -c "
        "'import la_pose_core, la_pose_msgs.msg as m; "
        "print(la_pose_core.__file__, m.RelativePose.__name__)'"
    )
    result = subprocess.run(
        ["sh", "-c", check], env=colcon_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    core_file, message_name = result.stdout.split()
    assert core_file.startswith(str(install)) and message_name == "RelativePose"
