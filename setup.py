"""la_pose: a ROS 2 (ament_python) package and a pip-installable Python distribution.

Two Python packages ship together: ``la_pose_core`` (PyTorch model, data, training, metrics;
imports no ROS) and ``la_pose_ros`` (node, message conversions, bag tools). The interface
package ``la_pose_msgs`` lives in ``msg/`` and is built by CMake (see README).
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE_NAME = "la_pose"

setup(
    name=PACKAGE_NAME,
    version="0.1.0",
    packages=find_packages(
        include=["la_pose_core", "la_pose_core.*", "la_pose_ros", "la_pose_ros.*"]
    ),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE_NAME}"]),
        (f"share/{PACKAGE_NAME}", ["package.xml"]),
        (f"share/{PACKAGE_NAME}/launch", glob("launch/*")),
        (f"share/{PACKAGE_NAME}/config", glob("config/*.yaml")),
    ],
    python_requires=">=3.10",
    # Runtime dependencies are pinned in requirements/ and installed by `make setup`; on a ROS 2
    # install they come from rosdep (package.xml) plus pip for PyTorch.
    install_requires=["numpy", "scipy", "pyyaml"],
    zip_safe=True,
    maintainer="la_pose maintainers",
    maintainer_email="maintainers@users.noreply.b-seed-206c9196.example",
    description="Camera odometry learned from unlabeled driving video (LA-Pose), for ROS 2.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "la-pose = la_pose_core.cli.main:main",
            "la_pose_node = la_pose_ros.node:main",
        ],
        "la_pose.commands": [
            "bag = la_pose_ros.bags.cli",
        ],
    },
)
