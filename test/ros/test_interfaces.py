"""The generated interface packages: fields as documented, serialisation round trip."""

import numpy as np
import pytest

rclpy_serialization = pytest.importorskip("rclpy.serialization", reason="rclpy is not installed")
from builtin_interfaces.msg import Time  # noqa: E402
from la_pose_msgs.msg import LatentAction, RelativePose  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402


def test_relative_pose_has_the_documented_fields():
    fields = RelativePose.get_fields_and_field_types()
    assert fields == {
        "header": "std_msgs/Header",
        "previous_stamp": "builtin_interfaces/Time",
        "current_stamp": "builtin_interfaces/Time",
        "translation_normalized": "geometry_msgs/Vector3",
        "translation": "geometry_msgs/Vector3",
        "rotation": "geometry_msgs/Quaternion",
        "fov": "float",
        "metric_scale": "float",
        "covariance": "double[36]",
    }


def test_latent_action_has_the_documented_fields():
    assert LatentAction.get_fields_and_field_types() == {
        "header": "std_msgs/Header",
        "previous_stamp": "builtin_interfaces/Time",
        "current_stamp": "builtin_interfaces/Time",
        "frame_rate": "float",
        "bottleneck": "sequence<float>",
    }


def test_messages_survive_serialisation():
    pose = RelativePose()
    pose.header.frame_id = "camera_optical"
    pose.current_stamp = Time(sec=12, nanosec=500)
    pose.translation.z = 1.25
    pose.rotation.w = 1.0
    pose.covariance = np.arange(36, dtype=np.float64)
    restored = rclpy_serialization.deserialize_message(
        rclpy_serialization.serialize_message(pose), RelativePose
    )
    assert restored == pose

    action = LatentAction(frame_rate=2.0, bottleneck=np.linspace(-1, 1, 50, dtype=np.float32))
    restored = rclpy_serialization.deserialize_message(
        rclpy_serialization.serialize_message(action), LatentAction
    )
    np.testing.assert_array_equal(restored.bottleneck, action.bottleneck)


def test_tf_message_is_importable():
    assert TFMessage.get_fields_and_field_types() == {
        "transforms": "sequence<geometry_msgs/TransformStamped>"
    }
