"""The node's statistics and CameraInfo checks, without ROS I/O."""

import math

import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo

from la_pose_ros import diagnostics


def camera_info(fx=700.0, fy=700.0, width=1241, height=376) -> CameraInfo:
    message = CameraInfo(width=width, height=height)
    message.k = [fx, 0.0, width / 2.0, 0.0, fy, height / 2.0, 0.0, 0.0, 1.0]
    return message


@pytest.mark.parametrize(
    ("info", "problem"),
    [
        (camera_info(fy=math.nan), "K is not finite (NaN or infinite)"),
        (camera_info(fx=math.inf), "K is not finite (NaN or infinite)"),
        (camera_info(fy=math.inf), "K is not finite (NaN or infinite)"),
        (camera_info(0.0, 0.0), "K has a zero or negative focal length"),
        (camera_info(fx=-1.0), "K has a zero or negative focal length"),
        (camera_info(width=0), "the image size is zero"),
        (camera_info(height=0), "the image size is zero"),
    ],
)
def test_a_bad_camera_info_has_a_problem_and_no_fov(info, problem):
    assert diagnostics.camera_info_problem(info) == problem
    assert diagnostics.camera_info_vertical_fov(info, 32, 64) is None


def test_a_good_camera_info_gives_a_fov():
    info = camera_info()
    assert diagnostics.camera_info_problem(info) is None
    fov = diagnostics.camera_info_vertical_fov(info, 32, 64)
    assert fov == pytest.approx(2.0 * math.atan(376 / (2.0 * 700.0)))


def test_last_error_clears_after_ten_good_frames_in_a_row_or_on_request():
    stats = diagnostics.NodeStatistics()
    stats.note_error("bad")
    for _ in range(diagnostics.CLEAR_ERROR_AFTER - 1):
        stats.note_good()
    stats.note_error("worse")  # starts the count again
    for _ in range(diagnostics.CLEAR_ERROR_AFTER - 1):
        stats.note_good()
    assert stats.last_error == "worse"
    stats.note_good()
    assert stats.last_error == ""
    stats.note_error("again")
    stats.clear_error()
    assert stats.last_error == ""


def test_the_message_reports_a_state_given_instead_of_its_own():
    stats = diagnostics.NodeStatistics(state=diagnostics.TRACKING)
    values = lambda array: {v.key: v.value for v in array.status[0].values}  # noqa: E731
    own = stats.to_message(Time(sec=1), "la_pose", {})
    assert values(own)["state"] == "tracking" and own.status[0].level == own.status[0].OK
    inactive = stats.to_message(Time(sec=1), "la_pose", {}, state="unconfigured")
    assert values(inactive)["state"] == inactive.status[0].message == "unconfigured"
    assert inactive.status[0].level == inactive.status[0].WARN
