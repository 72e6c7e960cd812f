"""Launch la_pose_node with the package's parameter file (ROS 2 Python launch).

ros2 launch la_pose la_pose.launch.py checkpoint:=/path/to/model.pt image:=/camera/image_raw
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    default_params = os.path.join(get_package_share_directory("la_pose"), "config", "la_pose.yaml")
    return LaunchDescription(
        [
            DeclareLaunchArgument("params_file", default_value=default_params),
            DeclareLaunchArgument("checkpoint", description="LA-Pose checkpoint (.pt)"),
            DeclareLaunchArgument("image", default_value="image_raw"),
            DeclareLaunchArgument("camera_info", default_value="camera_info"),
            DeclareLaunchArgument("device", default_value="auto"),
            Node(
                package="la_pose",
                executable="la_pose_node",
                name="la_pose",
                output="screen",
                parameters=[
                    LaunchConfiguration("params_file"),
                    {
                        "model.checkpoint": LaunchConfiguration("checkpoint"),
                        "model.device": LaunchConfiguration("device"),
                    },
                ],
                remappings=[
                    ("image_raw", LaunchConfiguration("image")),
                    ("camera_info", LaunchConfiguration("camera_info")),
                ],
            ),
        ]
    )
