"""Launch files and the parameter file agree with what the node declares.

``launch`` is not installable here, so instead of running the launch files this test reads
them: each must start an executable the package installs, use parameter files that exist and
set only parameters the node declares; config/la_pose.yaml must mirror the typed settings.
"""

import ast
import re
import xml.etree.ElementTree as ET
from dataclasses import fields

import pytest
import yaml

from la_pose_ros.settings import NodeSettings, parameter_defaults, settings_from_parameters

DECLARED = parameter_defaults()


def flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def installed_executables(repo_root) -> set[str]:
    text = (repo_root / "setup.py").read_text()
    return set(re.findall(r'"([\w-]+) = la_pose_\w+(?:\.\w+)*:main"', text))


def test_parameter_file_mirrors_the_typed_settings_one_to_one(repo_root):
    document = yaml.safe_load((repo_root / "config/la_pose.yaml").read_text())
    assert list(document) == ["la_pose"]
    values = flatten(document["la_pose"]["ros__parameters"])
    assert set(values) == set(DECLARED)
    for name, value in values.items():
        default = DECLARED[name]
        assert type(value) is type(default) or (
            isinstance(default, float) and isinstance(value, int)
        ), name
    # the file's values are the defaults, and they build valid settings
    assert settings_from_parameters(values) == NodeSettings()
    sections = {f.name for f in fields(NodeSettings)}
    assert {name.split(".")[0] for name in values} == sections


def launch_py_nodes(path):
    tree = ast.parse(path.read_text())
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Node"
    ]


def test_python_launch_file(repo_root):
    path = repo_root / "launch/la_pose.launch.py"
    nodes = launch_py_nodes(path)
    assert len(nodes) == 1
    keywords = {keyword.arg: keyword.value for keyword in nodes[0].keywords}
    assert ast.literal_eval(keywords["package"]) == "la_pose"
    assert ast.literal_eval(keywords["executable"]) in installed_executables(repo_root)
    set_names = [
        ast.literal_eval(key)
        for item in keywords["parameters"].elts
        if isinstance(item, ast.Dict)
        for key in item.keys
    ]
    assert set_names and set(set_names) <= set(DECLARED)
    # the default parameter file: os.path.join(share, "config", "la_pose.yaml")
    joined = [
        [ast.literal_eval(arg) for arg in call.args if isinstance(arg, ast.Constant)]
        for call in ast.walk(ast.parse(path.read_text()))
        if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "join"
    ]
    assert ["config", "la_pose.yaml"] in joined
    assert (repo_root / "config/la_pose.yaml").exists()


def test_xml_launch_file(repo_root):
    root = ET.parse(repo_root / "launch/la_pose.launch.xml").getroot()
    (node,) = root.iter("node")
    assert node.get("pkg") == "la_pose"
    assert node.get("exec") in installed_executables(repo_root)
    names = [param.get("name") for param in node.iter("param") if param.get("name")]
    assert names and set(names) <= set(DECLARED)
    defaults = {arg.get("name"): arg.get("default") for arg in root.iter("arg")}
    params_file = defaults["params_file"].replace("$(find-pkg-share la_pose)/", "")
    assert (repo_root / params_file).exists()


@pytest.mark.parametrize("name", ["la-pose", "la_pose_node"])
def test_setup_installs_the_executables(repo_root, name):
    assert name in installed_executables(repo_root)
