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


class _Outlet:
    """One bag topic's publisher, with the conversion of its raw bag messages to rclpy ones."""

    def __init__(self, node: Node, reader, connection) -> None:
        latched = connection.topic in LATCHED_TOPICS
        qos = QoSProfile(
            depth=10,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
        )
        self.message_class = message_class(connection.msgtype)
        self.publisher = node.create_publisher(self.message_class, connection.topic, qos)
        self.convert = generate_message_converter(
            reader.typestore,
            bag_typestore(),
            connection.msgtype,
            connection.msgtype,
            {},
            src_is2=reader.is2,
            dst_is2=True,
        )

    def publish(self, rawdata: bytes) -> None:
        cdr = bytes(self.convert(rawdata))
        self.publisher.publish(deserialize_message(cdr, self.message_class))


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
    time to discover the publishers before the first message. With ``wait_for_subscribers_s``
    it first waits (up to that long) until each of ``wait_topics`` (default: the bag's image
    topics) has a subscriber, and then waits (as long again at most) until the subscribers
    acknowledged the first message of each of those topics before the clock starts: discovery
    is asymmetric, so a subscriber the publisher already sees may not yet see the publisher,
    and without that handshake a reliable subscriber could miss the first messages.
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
            outlets = {c.topic: _Outlet(node, reader, c) for c in connections}
            if wait_topics is None:
                wait_topics = [c.topic for c in connections if c.msgtype in IMAGE_TYPES]
            waited_for = [outlets[topic].publisher for topic in wait_topics if topic in outlets]
            _wait_for_subscribers(waited_for, wait_for_subscribers_s)
            time.sleep(start_delay_s)
            handshake = waited_for if wait_for_subscribers_s > 0.0 else []
            while True:
                published += _play_once(
                    reader, connections, outlets, rate, handshake, wait_for_subscribers_s
                )
                handshake = []
                if not loop or not rclpy.ok(context=node.context):
                    break
            for outlet in outlets.values():  # reliable delivery of the last messages
                outlet.publisher.wait_for_all_acked(Duration(seconds=5.0))
    finally:
        if own_node:
            node.destroy_node()
            rclpy.try_shutdown()
    return published


def _wait_for_subscribers(publishers: list, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not all(
        publisher.get_subscription_count() > 0 for publisher in publishers
    ):
        time.sleep(0.05)


def _play_once(reader, connections, outlets, rate, handshake, handshake_timeout_s) -> int:
    """The bag once, paced by its timestamps / ``rate``. The first message on each publisher of
    ``handshake`` waits for its acknowledgement (at most ``handshake_timeout_s``); the clock
    then starts over from that message."""
    pending = set(handshake)
    first_bag_ns, started, published = None, time.perf_counter(), 0
    for connection, stamp_ns, rawdata in reader.messages(connections=connections):
        first_bag_ns = stamp_ns if first_bag_ns is None else first_bag_ns
        due = started + (stamp_ns - first_bag_ns) * 1e-9 / rate
        time.sleep(max(0.0, due - time.perf_counter()))
        outlet = outlets[connection.topic]
        outlet.publish(rawdata)
        published += 1
        if outlet.publisher in pending:
            pending.discard(outlet.publisher)
            waited = time.perf_counter()
            outlet.publisher.wait_for_all_acked(Duration(seconds=handshake_timeout_s))
            started += time.perf_counter() - waited
    return published
