"""la_pose_core must run where ROS is not installed: no ROS import anywhere in it."""

import ast
import subprocess
import sys
from pathlib import Path

import la_pose_core

CORE = Path(la_pose_core.__file__).parent
ROS_MODULES = {
    "rclpy",
    "rosbags",
    "rosbag2_py",
    "launch",
    "launch_ros",
    "tf2_ros",
    "cv_bridge",
    "ament_index_python",
    "builtin_interfaces",
    "std_msgs",
    "sensor_msgs",
    "geometry_msgs",
    "nav_msgs",
    "std_srvs",
    "diagnostic_msgs",
    "lifecycle_msgs",
    "tf2_msgs",
    "la_pose_msgs",
    "la_pose_ros",
}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_source_file_of_the_core_imports_ros():
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 10
    offenders = {str(f.relative_to(CORE)): imported_modules(f) & ROS_MODULES for f in files}
    assert {name: mods for name, mods in offenders.items() if mods} == {}


def test_importing_every_core_module_loads_no_ros_module():
    modules = [
        "la_pose_core." + ".".join(f.relative_to(CORE).with_suffix("").parts)
        for f in CORE.rglob("*.py")
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name.removesuffix('.__init__'))\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(ROS_MODULES)!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
