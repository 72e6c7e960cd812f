"""Vehicle odometry (``odom -> base_link``) with covariance from the estimator's camera motions."""

from la_pose_core.odometry.vehicle_odometry import (
    CovarianceModel,
    OdometryEstimate,
    VehicleOdometry,
)

__all__ = ["CovarianceModel", "OdometryEstimate", "VehicleOdometry"]
