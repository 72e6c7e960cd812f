"""config/la_pose.rviz and config/la_pose.foxglove.json parse, and name only topics that
la_pose_node publishes, bag replay writes or the bags hold (names taken from the code)."""

import ast
import json

import yaml

from la_pose_ros.bags.from_sequence import GROUND_TRUTH_TOPIC, IMAGE_TOPIC
from la_pose_ros.bags.replay import OUTPUT_TOPICS
from la_pose_ros.settings import NodeSettings
from test.conftest import REPO_ROOT

CONFIG = REPO_ROOT / "config"


def node_publisher_topics() -> dict[str, str]:
    """The topics ``la_pose_ros/node.py`` passes to ``create_publisher``, resolved under its
    ``NODE_NAME`` (read from the source: importing the node needs rclpy)."""
    tree = ast.parse((REPO_ROOT / "la_pose_ros/node.py").read_text())
    node_name = next(
        node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "NODE_NAME" for t in node.targets)
    )
    topics = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "create_publisher"
        ):
            message_type, topic = node.args[0], node.args[1].value
            resolved = f"/{node_name}/{topic[2:]}" if topic.startswith("~/") else topic
            topics[resolved] = message_type.id
    return topics


def test_the_node_and_replay_agree_on_the_output_topics():
    published = node_publisher_topics()
    assert set(OUTPUT_TOPICS.values()) <= set(published)
    assert published["/la_pose/odometry"] == "Odometry" and published["/la_pose/path"] == "Path"
    assert published["/diagnostics"] == "DiagnosticArray"


def rviz_displays() -> tuple[dict, dict[str, dict]]:
    rviz = yaml.safe_load((CONFIG / "la_pose.rviz").read_text())
    return rviz, {d["Name"]: d for d in rviz["Visualization Manager"]["Displays"]}


def test_rviz_config_shows_the_node_outputs_in_the_odom_frame():
    rviz, displays = rviz_displays()
    settings = NodeSettings()
    manager = rviz["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == settings.frames.odom_frame
    published = node_publisher_topics()
    expected = {
        "Odometry": ("rviz_default_plugins/Odometry", OUTPUT_TOPICS["odometry"]),
        "Odometry (revised, 1.5 s late)": (
            "rviz_default_plugins/Odometry",
            OUTPUT_TOPICS["odometry_revised"],
        ),
        "Path": ("rviz_default_plugins/Path", OUTPUT_TOPICS["path"]),
        "Image": ("rviz_default_plugins/Image", IMAGE_TOPIC),
    }
    for name, (plugin, topic) in expected.items():
        assert displays[name]["Class"] == plugin
        assert displays[name]["Topic"]["Value"] == topic
    assert displays["TF"]["Class"] == "rviz_default_plugins/TF"
    input_topics = {IMAGE_TOPIC, "/" + settings.input.image_topic}  # the bags', the default
    for display in displays.values():
        if "Topic" in display:
            assert display["Topic"]["Value"] in set(published) | input_topics


def foxglove_topics(value) -> set[str]:
    """Every topic a Foxglove layout names: topic keys, topic fields, message paths."""
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("/"):
                found.add(key)
            found |= foxglove_topics(item)
    elif isinstance(value, list):
        for item in value:
            found |= foxglove_topics(item)
    elif isinstance(value, str) and value.startswith("/"):
        found.add(value.split(".", 1)[0])  # "/topic.field.path" -> "/topic"
    return found


def test_foxglove_layout_names_only_topics_of_the_replayed_bag_or_the_node():
    layout = json.loads((CONFIG / "la_pose.foxglove.json").read_text())
    panels = layout["configById"]
    kinds = {panel_id.split("!")[0] for panel_id in panels}
    assert {"3D", "Plot", "Image", "DiagnosticSummary"} <= kinds
    known = set(node_publisher_topics()) | {IMAGE_TOPIC, GROUND_TRUTH_TOPIC}
    named = foxglove_topics(panels)
    assert named <= known, named - known
    assert {OUTPUT_TOPICS["odometry"], OUTPUT_TOPICS["path"], GROUND_TRUTH_TOPIC} <= named
    assert panels["3D!la_pose"]["followTf"] == NodeSettings().frames.odom_frame
    plotted = {path["value"] for panel in panels.values() for path in panel.get("paths", [])}
    for axis in "xy":  # the estimate against the ground truth
        assert f"{OUTPUT_TOPICS['odometry']}.pose.pose.position.{axis}" in plotted
        assert f"{GROUND_TRUTH_TOPIC}.pose.pose.position.{axis}" in plotted
    assert panels["Image!camera"]["imageMode"]["imageTopic"] == IMAGE_TOPIC

    def panel_ids(node):  # every panel placed in the layout tree, and only those
        return (
            {node}
            if isinstance(node, str)
            else panel_ids(node["first"]) | panel_ids(node["second"])
        )

    assert panel_ids(layout["layout"]) == set(panels)
