"""Vehicle motion through the street grid: route, speed profile, lane changes, camera poses.

A trajectory is built in three steps, all from one numpy generator:

1. **Route** (:func:`plan_route`): from a point between two crossings the car follows street
   centre lines, going straight or turning left/right at crossings on quarter-circle arcs.
   The route is an arc-length parameterised :class:`Path` of constant-curvature segments.
2. **Speed profile** (:func:`speed_profile`): a sequence of manoeuvres in time (cruise at a
   random speed, stop and wait, reverse a few metres and stop again), tracked by a
   jerk-limited controller (acceleration and braking limits, acceleration low-passed), with a
   curvature speed limit so the car slows down for turns. Integrated on a 10 ms grid into the
   signed distance ``s(t)`` along the route (reversing decreases ``s``).
3. **Lateral offset** ``d(s)`` (left positive, m): the car keeps right in a lane, changes lanes
   (or overtakes on single-lane streets) on straight stretches with smooth cosine transitions,
   and wobbles a little within its lane.

The base_link pose (x forward, y left, z up) at ``s`` is the route point moved by ``d(s)``
along the route's left normal, with the yaw of the offset curve's tangent
(``psi + atan2(d', 1 - kappa d)``), pitch from longitudinal acceleration (nose dips when
braking) and roll from lateral acceleration. The camera is rigidly mounted:
``scene_from_cam = scene_from_base @ base_from_camera`` with
``base_from_camera = [forward lever arm, 0, height] . pitch . BASE_FROM_OPTICAL``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from la_pose_core.data.synthetic.world import StreetGrid
from la_pose_core.geometry import BASE_FROM_OPTICAL, inverse, make_pose

FINE_STEP_S = 0.01  # integration step of the speed profile


@dataclass(frozen=True)
class TrajectoryConfig:
    """How the car drives. Speeds in m/s, accelerations in m/s^2, distances in m."""

    min_cruise_speed: float = 4.0
    max_cruise_speed: float = 13.0
    max_acceleration: float = 2.0
    max_braking: float = 3.5
    comfortable_braking: float = 2.0  # used to plan slowing down for turns
    max_lateral_acceleration: float = 2.5  # limits the speed in turns
    cruise_duration: tuple[float, float] = (4.0, 12.0)  # s, per cruise manoeuvre
    stop_probability: float = 0.25  # after a cruise: stop and wait
    stop_duration: tuple[float, float] = (1.0, 5.0)  # s standing still
    reverse_probability: float = 0.0  # after a stop: reverse, then stop again
    reverse_speed: tuple[float, float] = (1.0, 3.0)
    reverse_duration: tuple[float, float] = (2.0, 5.0)  # s of reversing (ramp included)
    start_speed: float | None = None  # None: random in the cruise range; 0: start standing
    turn_probability: float = 0.35  # at each crossing
    turn_radius: tuple[float, float] = (9.0, 14.0)  # of the street centre line
    lane_change_rate: float = 1.0 / 150.0  # expected lane changes per metre of straight road
    lane_change_length: tuple[float, float] = (20.0, 40.0)
    wobble: float = 0.12  # amplitude of the in-lane wander
    pitch_per_acceleration: float = 0.004  # rad per m/s^2 (nose down when braking)
    roll_per_lateral_acceleration: float = 0.004  # rad per m/s^2
    camera_height: float = 1.6
    camera_forward: float = 1.2  # lever arm from base_link (rear axle, on the ground)
    camera_pitch: float = 0.0  # rad, positive looks down

    def __post_init__(self) -> None:
        if not 0 < self.min_cruise_speed <= self.max_cruise_speed:
            raise ValueError("need 0 < min_cruise_speed <= max_cruise_speed")
        for name in ("stop_probability", "reverse_probability", "turn_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")


# --------------------------------------------------------------------------------------------
# Route


@dataclass(frozen=True)
class Path:
    """Planar path of constant-curvature segments, parameterised by arc length ``s``.

    Attributes (``(K,)`` arrays, one entry per segment): ``start_s``, ``x``, ``y`` (start
    point), ``heading`` (rad, from +x towards +y), ``curvature`` (1/m, positive turns left).
    Before ``s = 0`` and after the end the first / last segment is extended.
    """

    start_s: np.ndarray
    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray
    curvature: np.ndarray
    length: float

    def evaluate(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Point ``(x, y)``, heading and curvature at arc lengths ``s`` (any shape)."""
        s = np.asarray(s, np.float64)
        k = np.clip(np.searchsorted(self.start_s, s, side="right") - 1, 0, len(self.start_s) - 1)
        local = s - self.start_s[k]
        h0, kappa = self.heading[k], self.curvature[k]
        heading = h0 + kappa * local
        straight = np.abs(kappa) < 1e-12
        safe = np.where(straight, 1.0, kappa)
        x = self.x[k] + np.where(
            straight, local * np.cos(h0), (np.sin(heading) - np.sin(h0)) / safe
        )
        y = self.y[k] + np.where(
            straight, local * np.sin(h0), (np.cos(h0) - np.cos(heading)) / safe
        )
        return x, y, heading, kappa


@dataclass(frozen=True)
class Route:
    """A :class:`Path` plus where lanes may change: ``(M, 2)`` straight ``[s0, s1]`` runs
    (5 m clear of the turns)."""

    path: Path
    straights: np.ndarray


_DIRECTIONS = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])  # E, N, W, S


def plan_route(
    grid: StreetGrid,
    rng: np.random.Generator,
    length: float,
    config: TrajectoryConfig = TrajectoryConfig(),
    max_abs_offset: float = 6.0,
) -> Route:
    """A route of at least ``length`` metres along the streets of ``grid``.

    Starts between two crossings near the origin, in a random cardinal direction.
    ``max_abs_offset`` (m) is the largest lateral offset the car will take; turn radii are
    kept larger so the offset curve stays smooth.
    """
    direction = int(rng.integers(4))
    crossing_x, crossing_y = float(grid.street_x(0)), float(grid.street_y(0))
    if direction % 2 == 0:  # on the east-west street j = 0, between crossings i = 0 and 1
        span = float(grid.street_x(1)) - crossing_x
        point = np.array([crossing_x + rng.uniform(0.3, 0.6) * span, crossing_y])
    else:  # on the north-south street i = 0
        span = float(grid.street_y(1)) - crossing_y
        point = np.array([crossing_x, crossing_y + rng.uniform(0.3, 0.6) * span])
    segments: list[tuple[float, float, float, float, float]] = []  # s, x, y, heading, kappa
    straights: list[tuple[float, float]] = []
    s = 0.0
    run_start = 0.0  # start of the current straight run (lanes may change on it)
    min_radius = max(config.turn_radius[0], max_abs_offset + 3.5)
    max_radius = max(config.turn_radius[1], min_radius)

    def add_segment(length_: float, kappa: float) -> None:
        nonlocal s
        if length_ > 1e-9:
            heading = math.atan2(_DIRECTIONS[direction][1], _DIRECTIONS[direction][0])
            segments.append((s, point[0], point[1], heading, kappa))
            s += length_

    while s < length:
        ahead = _distance_to_next_crossing(grid, point, direction)
        radius = rng.uniform(min_radius, max_radius)
        if rng.uniform() >= config.turn_probability or ahead < radius + 1.0:
            add_segment(ahead, 0.0)  # straight over the crossing
            point = point + ahead * _DIRECTIONS[direction]
            continue
        left = rng.uniform() < 0.5
        add_segment(ahead - radius, 0.0)
        if s - 5.0 - run_start > 10.0:
            straights.append((run_start, s - 5.0))
        point = point + (ahead - radius) * _DIRECTIONS[direction]
        add_segment(radius * math.pi / 2.0, (1.0 if left else -1.0) / radius)
        crossing = point + radius * _DIRECTIONS[direction]
        direction = (direction + (1 if left else 3)) % 4
        point = crossing + radius * _DIRECTIONS[direction]
        run_start = s + 5.0
    straights.append((run_start, s + 200.0))
    add_segment(200.0, 0.0)  # runway after the end (extrapolation is a straight line anyway)
    start_s, x, y, heading, kappa = (np.array(v) for v in zip(*segments, strict=True))
    path = Path(start_s, x, y, heading, kappa, float(s))
    return Route(path, np.array(straights, np.float64).reshape(-1, 2))


def _distance_to_next_crossing(grid: StreetGrid, point: np.ndarray, direction: int) -> float:
    """Distance from ``point`` (on a street centre line) to the next crossing ahead."""
    sign = 1.0 if direction in (0, 1) else -1.0
    if direction % 2 == 0:
        coordinate, positions = point[0], grid.street_x
    else:
        coordinate, positions = point[1], grid.street_y
    base = math.floor(coordinate / grid.pitch)
    ahead = (positions(np.arange(base - 2, base + 4)) - coordinate) * sign
    return float(ahead[ahead > 1e-6].min())


# --------------------------------------------------------------------------------------------
# Speed


@dataclass(frozen=True)
class SpeedProfile:
    """Signed speed along the route on the fine time grid (``(F,)`` arrays)."""

    time: np.ndarray  # s
    distance: np.ndarray  # m, s(t) with s(0) = 0
    speed: np.ndarray  # m/s, negative when reversing
    acceleration: np.ndarray  # m/s^2


def _curvature_speed_limit(
    path: Path, config: TrajectoryConfig, s_max: float, step: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Speed limit over ``s`` from path curvature, with braking distance before turns."""
    grid = np.arange(0.0, s_max + step, step)
    _, _, _, kappa = path.evaluate(grid)
    limit = np.sqrt(config.max_lateral_acceleration / np.maximum(np.abs(kappa), 1e-9))
    limit = np.minimum(limit, config.max_cruise_speed * 1.5)
    for k in range(len(grid) - 2, -1, -1):  # backward pass: reachable by comfortable braking
        limit[k] = min(
            limit[k], math.sqrt(limit[k + 1] ** 2 + 2 * config.comfortable_braking * step)
        )
    return grid, limit


def speed_profile(
    duration: float,
    rng: np.random.Generator,
    config: TrajectoryConfig,
    path: Path | None = None,
) -> SpeedProfile:
    """Speed along the route over ``duration`` seconds (see the module docstring)."""
    steps = math.ceil(duration / FINE_STEP_S) + 2
    time = np.arange(steps) * FINE_STEP_S
    speed = np.zeros(steps)
    acceleration = np.zeros(steps)
    distance = np.zeros(steps)
    if path is not None:
        limit_s, limit_v = _curvature_speed_limit(
            path, config, config.max_cruise_speed * 1.6 * duration + 50.0
        )

    def draw(bounds: tuple[float, float]) -> float:
        return float(rng.uniform(*bounds))

    # manoeuvre queue: (kind, target speed, duration); "stop" lasts its hold time once stopped
    def next_manoeuvres() -> list[tuple[str, float, float]]:
        plan = [("cruise", draw((config.min_cruise_speed, config.max_cruise_speed)),
                 draw(config.cruise_duration))]  # fmt: skip
        if rng.uniform() < config.stop_probability:
            plan.append(("stop", 0.0, draw(config.stop_duration)))
            if rng.uniform() < config.reverse_probability:
                plan.append(("reverse", -draw(config.reverse_speed), draw(config.reverse_duration)))
                plan.append(("stop", 0.0, draw(config.stop_duration)))
        return plan

    if config.start_speed is None:
        v = float(rng.uniform(config.min_cruise_speed, config.max_cruise_speed))
    else:
        v = float(config.start_speed)
    queue = next_manoeuvres()
    if v == 0.0:
        queue.insert(0, ("stop", 0.0, draw(config.stop_duration)))
    a = 0.0
    s = 0.0
    elapsed = 0.0
    stopped_since: float | None = None
    tau_speed, tau_accel = 1.0, 0.35
    for k in range(steps):
        speed[k], acceleration[k], distance[k] = v, a, s
        kind, target, length = queue[0]
        if kind == "stop":
            if stopped_since is not None and time[k] - stopped_since >= length:
                queue.pop(0)
                stopped_since = None
                elapsed = 0.0
        elif elapsed >= length:
            queue.pop(0)
            elapsed = 0.0
        if not queue:
            queue = next_manoeuvres()
        kind, target, length = queue[0]
        if path is not None and target > 0:
            target = min(target, float(np.interp(s, limit_s, limit_v)))
        if kind == "stop" and stopped_since is not None:
            v, a = 0.0, 0.0
        else:
            command = np.clip(
                (target - v) / tau_speed, -config.max_braking, config.max_acceleration
            )
            if kind == "stop":  # brake firmly enough to stop within a few seconds
                command = min(-0.8, command) if v > 0 else max(0.8, command)
            a += (command - a) * min(1.0, FINE_STEP_S / tau_accel)
            new_v = v + a * FINE_STEP_S
            if kind == "stop" and (new_v * v <= 0.0 or abs(new_v) < 0.02):
                new_v, a = 0.0, 0.0
                stopped_since = time[k]
            v = new_v
        s += v * FINE_STEP_S
        elapsed += FINE_STEP_S
    return SpeedProfile(time, distance, speed, acceleration)


# --------------------------------------------------------------------------------------------
# Lateral offset


@dataclass(frozen=True)
class LateralProfile:
    """``d(s)``: lane offset with smooth lane changes plus a small wander (left positive)."""

    base: float
    change_start: np.ndarray  # (C,) s where each change starts
    change_length: np.ndarray  # (C,)
    change_delta: np.ndarray  # (C,) offset added by each change
    wobble_amplitude: np.ndarray  # (2,)
    wobble_wavenumber: np.ndarray  # (2,) rad/m
    wobble_phase: np.ndarray  # (2,)

    def evaluate(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Offset ``d`` and its derivative ``dd/ds`` at ``s``."""
        s = np.asarray(s, np.float64)
        d = np.full(s.shape, self.base)
        slope = np.zeros(s.shape)
        for start, length, delta in zip(
            self.change_start, self.change_length, self.change_delta, strict=True
        ):
            u = np.clip((s - start) / length, 0.0, 1.0)
            d += delta * (1.0 - np.cos(np.pi * u)) / 2.0
            inside = (s > start) & (s < start + length)
            slope += np.where(inside, delta * np.pi / (2.0 * length) * np.sin(np.pi * u), 0.0)
        for amplitude, k, phase in zip(
            self.wobble_amplitude, self.wobble_wavenumber, self.wobble_phase, strict=True
        ):
            d += amplitude * np.sin(k * s + phase)
            slope += amplitude * k * np.cos(k * s + phase)
        return d, slope


def lateral_profile(
    grid: StreetGrid, route: Route, rng: np.random.Generator, config: TrajectoryConfig
) -> LateralProfile:
    """Lane offsets along the route, with lane changes on its straight stretches."""
    lanes = [grid.lane_offset(k) for k in range(grid.lanes_per_direction)]
    lane = int(rng.integers(len(lanes)))
    base = lanes[lane]
    current = base
    starts, lengths, deltas = [], [], []
    for s0, s1 in route.straights:
        position = s0
        while True:
            gap = rng.exponential(1.0 / max(config.lane_change_rate, 1e-9))
            change = rng.uniform(*config.lane_change_length)
            position += gap
            if position + change > s1:
                break
            if len(lanes) > 1:
                lane = int(rng.choice([k for k in range(len(lanes)) if k != lane]))
                target = lanes[lane]
                starts.append(position), lengths.append(change), deltas.append(target - current)
                current = target
                position += change
            else:  # single lane: overtake in the opposite lane and come back
                back = position + change + rng.uniform(10.0, 30.0)
                if back + change > s1:
                    break
                over = -current
                starts += [position, back]
                lengths += [change, change]
                deltas += [over - current, current - over]
                position = back + change
    return LateralProfile(
        base=base,
        change_start=np.array(starts, np.float64),
        change_length=np.array(lengths, np.float64),
        change_delta=np.array(deltas, np.float64),
        wobble_amplitude=config.wobble * rng.uniform(0.3, 1.0, 2),
        wobble_wavenumber=2.0 * np.pi / rng.uniform(60.0, 200.0, 2),
        wobble_phase=rng.uniform(0.0, 2.0 * np.pi, 2),
    )


# --------------------------------------------------------------------------------------------
# Poses


def base_from_camera(config: TrajectoryConfig) -> np.ndarray:
    """``(4, 4)`` camera extrinsics: optical frame in base_link, looking forward."""
    mount = make_pose(
        Rotation.from_euler("y", config.camera_pitch).as_matrix(),
        [config.camera_forward, 0.0, config.camera_height],
    )
    return mount @ BASE_FROM_OPTICAL


@dataclass(frozen=True)
class VehicleTrajectory:
    """Ground truth of a drive, one entry per frame (``N`` frames).

    Attributes:
        stamps: ``(N,)`` seconds from the start.
        scene_from_base: ``(N, 4, 4)`` base_link poses in the scene frame.
        base_from_camera: ``(4, 4)`` camera extrinsics (optical frame).
        speed: ``(N,)`` signed speed along the heading (m/s), negative when reversing.
        acceleration: ``(N,)`` m/s^2.
        distance: ``(N,)`` arc length along the route (m).
        lateral_offset: ``(N,)`` m, left of the street centre line positive.
        route, lateral: what they were made from.
    """

    stamps: np.ndarray
    scene_from_base: np.ndarray
    base_from_camera: np.ndarray
    speed: np.ndarray
    acceleration: np.ndarray
    distance: np.ndarray
    lateral_offset: np.ndarray
    route: Route
    lateral: LateralProfile

    @property
    def scene_from_cam(self) -> np.ndarray:
        """``(N, 4, 4)`` camera poses in the scene frame."""
        return self.scene_from_base @ self.base_from_camera

    @property
    def world_from_cam(self) -> np.ndarray:
        """``(N, 4, 4)`` camera poses relative to the first camera (KITTI convention)."""
        scene_from_cam = self.scene_from_cam
        return inverse(scene_from_cam[0]) @ scene_from_cam


def generate_trajectory(
    grid: StreetGrid,
    num_frames: int,
    fps: float,
    rng: np.random.Generator,
    config: TrajectoryConfig = TrajectoryConfig(),
    stamps: np.ndarray | None = None,
) -> VehicleTrajectory:
    """Drive ``num_frames`` frames at ``fps`` (or at the given ``stamps``) through ``grid``."""
    if num_frames < 1:
        raise ValueError(f"need at least one frame, got {num_frames}")
    if stamps is None:
        stamps = np.arange(num_frames) / float(fps)
    stamps = np.asarray(stamps, np.float64)
    duration = float(stamps[-1] - stamps[0])
    lanes_span = grid.lanes_per_direction * grid.lane_width
    max_abs_offset = lanes_span + config.wobble
    length = config.max_cruise_speed * 1.6 * duration + 60.0
    route = plan_route(grid, rng, length, config, max_abs_offset)
    profile = speed_profile(duration, rng, config, route.path)
    lateral = lateral_profile(grid, route, rng, config)

    t = stamps - stamps[0]
    s = np.interp(t, profile.time, profile.distance)
    speed = np.interp(t, profile.time, profile.speed)
    acceleration = np.interp(t, profile.time, profile.acceleration)
    x, y, heading, kappa = route.path.evaluate(s)
    d, slope = lateral.evaluate(s)
    x = x - d * np.sin(heading)
    y = y + d * np.cos(heading)
    yaw = heading + np.arctan2(slope, 1.0 - kappa * d)
    pitch = -config.pitch_per_acceleration * acceleration
    roll = config.roll_per_lateral_acceleration * speed**2 * kappa
    rotation = Rotation.from_euler("ZYX", np.stack([yaw, pitch, roll], axis=1)).as_matrix()
    scene_from_base = make_pose(rotation, np.stack([x, y, np.zeros_like(x)], axis=1))
    return VehicleTrajectory(
        stamps=stamps,
        scene_from_base=scene_from_base,
        base_from_camera=base_from_camera(config),
        speed=speed,
        acceleration=acceleration,
        distance=s,
        lateral_offset=d,
        route=route,
        lateral=lateral,
    )
