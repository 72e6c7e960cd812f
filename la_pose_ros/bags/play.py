"""``la-pose bag play``: publish a bag's topics live with rclpy at the recorded timing.

The ``ros2 bag play`` equivalent for environments without rosbag2 (ROS 2 from wheels), so the
node can be fed from a bag. Messages go out in bag-time order, paced by their bag timestamps
divided by ``rate``; ``/tf_static`` is published transient-local as ROS 2 does. ROS 1 bags are
converted to ROS 2 messages on the fly. With ``loop`` the bag starts over at its end (the
stamps then jump backwards, which the node handles as a bag loop).
"""

import importlib
import time
from pathlib import Path

import rclpy
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from rosbags.convert.converter import generate_message_converter

from la_pose_ros.bags.reader import IMAGE_TYPES, open_bag
from la_pose_ros.bags.typestore import bag_typestore

LATCHED_TOPICS = ("/tf_static",)


def message_class(msgtype: str):
    """``sensor_msgs/msg/Image`` -> the rclpy class (its package must be importable)."""
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def play_bag(
    path: str | Path,
    rate: float = 1.0,
    loop: bool = False,
    topics: list[str] | None = None,
    node: Node | None = None,
    start_delay_s: float = 1.0,
    wait_for_subscribers_s: float = 0.0,
    wait_topics: list[str] | None = None,
) -> int:
    """Publish the bag (blocking); returns the number of messages published.

    ``node``: an existing rclpy node to publish from (rclpy already initialised); by default one
    is created (and rclpy initialised and shut down) here. ``start_delay_s`` gives subscribers
    time to discover the publishers before the first message; with ``wait_for_subscribers_s``
    it first waits (up to that long) until each of ``wait_topics`` (default: the bag's image
    topics) has a subscriber, so a node started at the same time misses nothing.
    """
    if rate <= 0.0:
        raise ValueError(f"rate must be positive, got {rate}")
    own_node = node is None
    if own_node:
        rclpy.init()
        node = rclpy.create_node("la_pose_bag_play")
    published = 0
    try:
        with open_bag(path) as reader:
            connections = [c for c in reader.connections if topics is None or c.topic in topics]
            publishers, converters, classes = {}, {}, {}
            for connection in connections:
                latched = connection.topic in LATCHED_TOPICS
                qos = QoSProfile(
                    depth=10,
                    reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.TRANSIENT_LOCAL
                    if latched
                    else DurabilityPolicy.VOLATILE,
                )
                classes[connection.msgtype] = message_class(connection.msgtype)
                publishers[connection.topic] = node.create_publisher(
                    classes[connection.msgtype], connection.topic, qos
                )
                converters[connection.msgtype] = generate_message_converter(
                    reader.typestore,
                    bag_typestore(),
                    connection.msgtype,
                    connection.msgtype,
                    {},
                    src_is2=reader.is2,
                    dst_is2=True,
                )
            if wait_topics is None:
                wait_topics = [c.topic for c in connections if c.msgtype in IMAGE_TYPES]
            waited_for = [publishers[topic] for topic in wait_topics if topic in publishers]
            deadline = time.monotonic() + wait_for_subscribers_s
            while time.monotonic() < deadline and not all(
                publisher.get_subscription_count() > 0 for publisher in waited_for
            ):
                time.sleep(0.05)
            time.sleep(start_delay_s)
            while True:
                first_bag_ns, started = None, time.perf_counter()
                for connection, stamp_ns, rawdata in reader.messages(connections=connections):
                    first_bag_ns = stamp_ns if first_bag_ns is None else first_bag_ns
                    due = started + (stamp_ns - first_bag_ns) * 1e-9 / rate
                    time.sleep(max(0.0, due - time.perf_counter()))
                    cdr = bytes(converters[connection.msgtype](rawdata))
                    message = deserialize_message(cdr, classes[connection.msgtype])
                    publishers[connection.topic].publish(message)
                    published += 1
                if not loop or not rclpy.ok(context=node.context):
                    break
            for publisher in publishers.values():  # reliable delivery of the last messages
                publisher.wait_for_all_acked(Duration(seconds=5.0))
    finally:
        if own_node:
            node.destroy_node()
            rclpy.try_shutdown()
    return published
