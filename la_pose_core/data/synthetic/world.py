"""Procedural streets from a seed: a street grid, city blocks full of boxes, lighting and fog.

Scene frame
    ``x`` east, ``y`` north, ``z`` up, metres; the ground is the plane ``z = 0``. (This is the
    renderer's frame; sequences report poses relative to their first camera, as KITTI does.)

Street grid
    Streets running along ``x`` lie at ``y = Y_j`` and streets running along ``y`` at
    ``x = X_i``, for every integer ``i, j``: ``X_i = i * pitch + jitter_i`` with a per-street
    offset hashed from the seed, so the grid is infinite, irregular and needs no storage. Every
    street has the same cross-section (one world, one style): ``lanes_per_direction`` lanes of
    ``lane_width`` each side of the centre line, then a parking strip, then the kerb.

Blocks
    The land between four streets is a block ``(i, j)``: a raised slab (sidewalk and lot, its
    sides are the kerbs) carrying buildings with windows, lamp posts, trees, signs and hedges,
    with parked cars on the road's parking strips around it. A block's content is drawn from a
    generator seeded by ``(seed, i, j)`` only, so the world is the same whichever route looks
    at it, and blocks are built lazily (and cached) when a camera comes near.

Primitives
    Everything above the ground is an axis-aligned box or a sphere (tree crowns), each with a
    :class:`Material`, an albedo colour, four material parameters and an integer identity that
    seeds its texture. Textures are functions of world coordinates (see ``renderer``), so they
    stay fixed to the world and parallax is exact.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

NOISE_TABLE_SIZE = 256  # side of the periodic value-noise lattice (texture repeats every 256 cells)


class Material(IntEnum):
    """What a primitive is made of; selects its texture function in the renderer."""

    PLAIN = 0  # albedo with a little noise (tests, generic props)
    SLAB = 1  # block slab: sidewalk tiles and lot on top, kerb stone on the sides
    BUILDING = 2  # facade with floors and windows, roof on top
    CAR_BODY = 3
    CAR_CABIN = 4  # glass all around, roof on top
    WHEEL = 5
    POLE = 6
    LAMP = 7
    TRUNK = 8
    FOLIAGE = 9  # tree crowns (spheres) and hedges (boxes)
    SIGN = 10


class LotKind(IntEnum):
    """Surface of the inside of a block (``SLAB`` parameter 1)."""

    GRASS = 0
    GRAVEL = 1
    PAVING = 2


# --------------------------------------------------------------------------------------------
# Hashing


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def hash_uniform(*keys: np.ndarray | int) -> np.ndarray:
    """Deterministic uniform numbers in [0, 1) from integer keys (broadcast together).

    The same keys always give the same number, on every platform; used wherever the world needs
    randomness that must not depend on evaluation order (street positions, per-window tints).
    """
    arrays = np.broadcast_arrays(*[np.asarray(key, dtype=np.int64) for key in keys])
    state = np.zeros(np.shape(arrays[0]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for key in arrays:
            state = _mix64(state ^ (key.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)))
    return (state >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _generator(*keys: int) -> np.random.Generator:
    """A numpy generator seeded by integer keys (negative keys allowed)."""
    return np.random.default_rng([int(key) % 2**32 for key in keys])


# --------------------------------------------------------------------------------------------
# Primitives


@dataclass
class BoxSet:
    """``N`` axis-aligned boxes.

    Attributes:
        lo: ``(N, 3)`` minimum corners (m, scene frame).
        hi: ``(N, 3)`` maximum corners.
        material: ``(N,)`` :class:`Material` codes.
        colour: ``(N, 3)`` albedo RGB in [0, 1].
        params: ``(N, 4)`` material parameters (see :func:`building_params` and the block code).
        ident: ``(N,)`` integer identity seeding the primitive's texture variations.
    """

    lo: np.ndarray
    hi: np.ndarray
    material: np.ndarray
    colour: np.ndarray
    params: np.ndarray
    ident: np.ndarray

    def __len__(self) -> int:
        return len(self.lo)

    @classmethod
    def empty(cls) -> BoxSet:
        return cls(
            np.zeros((0, 3)),
            np.zeros((0, 3)),
            np.zeros(0, np.int16),
            np.zeros((0, 3), np.float32),
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.int64),
        )

    @classmethod
    def concatenate(cls, sets: list[BoxSet]) -> BoxSet:
        if not sets:
            return cls.empty()
        return cls(
            *(
                np.concatenate([getattr(s, name) for s in sets])
                for name in ("lo", "hi", "material", "colour", "params", "ident")
            )
        )


@dataclass
class SphereSet:
    """``M`` spheres (tree crowns): ``centre`` ``(M, 3)``, ``radius`` ``(M,)``, and as BoxSet."""

    centre: np.ndarray
    radius: np.ndarray
    material: np.ndarray
    colour: np.ndarray
    ident: np.ndarray

    def __len__(self) -> int:
        return len(self.centre)

    @classmethod
    def empty(cls) -> SphereSet:
        return cls(
            np.zeros((0, 3)),
            np.zeros(0),
            np.zeros(0, np.int16),
            np.zeros((0, 3), np.float32),
            np.zeros(0, np.int64),
        )

    @classmethod
    def concatenate(cls, sets: list[SphereSet]) -> SphereSet:
        if not sets:
            return cls.empty()
        return cls(
            *(
                np.concatenate([getattr(s, name) for s in sets])
                for name in ("centre", "radius", "material", "colour", "ident")
            )
        )


class _Builder:
    """Collects the primitives of one block."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.boxes: list[tuple] = []
        self.spheres: list[tuple] = []

    def box(self, lo, hi, material: Material, colour, params=(0.0, 0.0, 0.0, 0.0)) -> None:
        ident = int(self.rng.integers(0, 2**31))
        self.boxes.append((lo, hi, int(material), colour, params, ident))

    def sphere(self, centre, radius: float, material: Material, colour) -> None:
        ident = int(self.rng.integers(0, 2**31))
        self.spheres.append((centre, radius, int(material), colour, ident))

    def build(self) -> tuple[BoxSet, SphereSet]:
        boxes = BoxSet.empty()
        if self.boxes:
            lo, hi, material, colour, params, ident = zip(*self.boxes, strict=True)
            boxes = BoxSet(
                np.asarray(lo, np.float64),
                np.asarray(hi, np.float64),
                np.asarray(material, np.int16),
                np.asarray(colour, np.float32),
                np.asarray(params, np.float32),
                np.asarray(ident, np.int64),
            )
        spheres = SphereSet.empty()
        if self.spheres:
            centre, radius, material, colour, ident = zip(*self.spheres, strict=True)
            spheres = SphereSet(
                np.asarray(centre, np.float64),
                np.asarray(radius, np.float64),
                np.asarray(material, np.int16),
                np.asarray(colour, np.float32),
                np.asarray(ident, np.int64),
            )
        return boxes, spheres


# --------------------------------------------------------------------------------------------
# Street grid


@dataclass(frozen=True)
class StreetGrid:
    """The infinite, irregular grid of streets (see the module docstring)."""

    seed: int
    pitch: float = 85.0  # mean distance between parallel streets (m)
    jitter: float = 0.12  # street offsets are uniform in +-jitter * pitch
    lanes_per_direction: int = 1
    lane_width: float = 3.5
    parking_width: float = 2.3  # 0: no parking strip (and no parked cars)
    sidewalk_width: float = 3.5
    kerb_height: float = 0.15

    @property
    def road_half_width(self) -> float:
        """Distance from the centre line to the kerb (m)."""
        return self.lanes_per_direction * self.lane_width + self.parking_width

    def lane_offset(self, lane: int) -> float:
        """Signed lateral offset (left positive) of the centre of driving lane ``lane``.

        Traffic keeps right: lane 0 is next to the centre line, lane ``lanes_per_direction - 1``
        next to the parking strip; all offsets are negative.
        """
        return -(lane + 0.5) * self.lane_width

    def street_x(self, index: np.ndarray | int) -> np.ndarray:
        """``x`` of the streets running north-south, ``X_i``."""
        index = np.asarray(index)
        return index * self.pitch + self.jitter * self.pitch * (
            2.0 * hash_uniform(self.seed, 1, index) - 1.0
        )

    def street_y(self, index: np.ndarray | int) -> np.ndarray:
        """``y`` of the streets running east-west, ``Y_j``."""
        index = np.asarray(index)
        return index * self.pitch + self.jitter * self.pitch * (
            2.0 * hash_uniform(self.seed, 2, index) - 1.0
        )

    def _nearest(self, values: np.ndarray, positions) -> tuple[np.ndarray, np.ndarray]:
        values = np.asarray(values)
        if values.size == 0:
            return np.zeros(values.shape, np.int64), np.zeros(values.shape, values.dtype)
        # the streets around the queried range, sorted (jitter < pitch / 2 keeps them ordered)
        first = math.floor(float(values.min()) / self.pitch) - 2
        last = math.floor(float(values.max()) / self.pitch) + 3
        index = np.arange(first, last + 1)
        table = positions(index)  # (K,)
        right = np.clip(np.searchsorted(table, values), 1, len(table) - 1)
        left = right - 1
        nearest = np.where(values - table[left] <= table[right] - values, left, right)
        offset = (values - table[nearest]).astype(np.result_type(values.dtype, np.float32))
        return index[nearest], offset

    def nearest_street_x(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index ``i`` of the nearest north-south street and the signed offset ``x - X_i``."""
        return self._nearest(np.asarray(x, np.float64), self.street_x)

    def nearest_street_y(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index ``j`` of the nearest east-west street and the signed offset ``y - Y_j``."""
        return self._nearest(np.asarray(y, np.float64), self.street_y)

    def block_index(self, x: float, y: float) -> tuple[int, int]:
        """``(i, j)`` of the block (or the street just south-west of it) containing a point."""
        i = int(np.floor(x / self.pitch)) + 1
        while self.street_x(i) > x:
            i -= 1
        j = int(np.floor(y / self.pitch)) + 1
        while self.street_y(j) > y:
            j -= 1
        return i, j


# --------------------------------------------------------------------------------------------
# Lighting


@dataclass(frozen=True)
class Lighting:
    """Sun, sky and fog. Colours are RGB in [0, 1]; ``sun_direction`` points towards the sun."""

    sun_direction: tuple[float, float, float] = (0.4, -0.5, 0.77)
    sun_colour: tuple[float, float, float] = (1.0, 0.96, 0.88)
    sun_intensity: float = 0.75
    ambient: tuple[float, float, float] = (0.42, 0.45, 0.5)
    sky_zenith: tuple[float, float, float] = (0.32, 0.5, 0.82)
    sky_horizon: tuple[float, float, float] = (0.72, 0.8, 0.9)
    cloud_cover: float = 0.4  # 0 clear .. 1 overcast
    fog_colour: tuple[float, float, float] = (0.72, 0.78, 0.85)
    fog_density: float = 0.006  # 1/m: fraction of light left after d metres is exp(-density d)
    exposure: float = 1.0

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Lighting:
        """Random daylight: sun height and colour, overcast or clear sky, haze or fog."""
        elevation = rng.uniform(math.radians(8.0), math.radians(70.0))
        azimuth = rng.uniform(0.0, 2.0 * math.pi)
        direction = (
            math.cos(elevation) * math.cos(azimuth),
            math.cos(elevation) * math.sin(azimuth),
            math.sin(elevation),
        )
        low_sun = 1.0 - min(1.0, elevation / math.radians(35.0))  # 1 at dawn, 0 from 35 deg
        warm = np.array([1.0, 0.78, 0.55])
        white = np.array([1.0, 0.97, 0.92])
        sun_colour = (1.0 - low_sun) * white + low_sun * warm
        overcast = rng.uniform() < 0.3
        cloud_cover = rng.uniform(0.6, 1.0) if overcast else rng.uniform(0.0, 0.6)
        sun_intensity = rng.uniform(0.15, 0.35) if overcast else rng.uniform(0.55, 0.95)
        zenith = np.array([0.3, 0.48, 0.8]) * rng.uniform(0.8, 1.1)
        horizon = np.array([0.74, 0.8, 0.88]) + low_sun * np.array([0.12, 0.02, -0.1])
        if overcast:
            zenith = np.array([0.62, 0.64, 0.68]) * rng.uniform(0.85, 1.1)
            horizon = np.array([0.78, 0.79, 0.8]) * rng.uniform(0.9, 1.05)
        ambient = (0.55 if overcast else 0.38) * (0.6 * horizon + 0.4 * zenith / zenith.max())
        foggy = rng.uniform() < 0.2
        fog_density = rng.uniform(0.02, 0.045) if foggy else rng.uniform(0.002, 0.009)
        fog_colour = 0.85 * horizon + 0.15 * np.array([0.8, 0.8, 0.8])
        return cls(
            sun_direction=tuple(float(v) for v in direction),
            sun_colour=tuple(float(v) for v in np.clip(sun_colour, 0, 1)),
            sun_intensity=float(sun_intensity),
            ambient=tuple(float(v) for v in np.clip(ambient, 0, 1)),
            sky_zenith=tuple(float(v) for v in np.clip(zenith, 0, 1)),
            sky_horizon=tuple(float(v) for v in np.clip(horizon, 0, 1)),
            cloud_cover=float(cloud_cover),
            fog_colour=tuple(float(v) for v in np.clip(fog_colour, 0, 1)),
            fog_density=float(fog_density),
            exposure=float(rng.uniform(0.9, 1.15)),
        )


# --------------------------------------------------------------------------------------------
# World


@dataclass(frozen=True)
class WorldStyle:
    """Mix of block types and the ranges buildings are drawn from."""

    dense_fraction: float = 0.55  # blocks of tall buildings wall to wall
    residential_fraction: float = 0.33  # low houses with gaps, hedges and trees; rest: parks
    tree_probability: float = 0.6  # a block side has street trees
    parked_car_density: float = 0.65  # fraction of parking strip occupied


BUILDING_COLOURS = np.array(
    [
        [0.72, 0.66, 0.58],
        [0.62, 0.42, 0.34],
        [0.78, 0.76, 0.72],
        [0.55, 0.55, 0.58],
        [0.82, 0.74, 0.56],
        [0.66, 0.5, 0.42],
        [0.48, 0.52, 0.5],
        [0.86, 0.83, 0.78],
        [0.7, 0.6, 0.5],
        [0.45, 0.36, 0.32],
    ]
)
CAR_COLOURS = np.array(
    [
        [0.85, 0.85, 0.86],
        [0.1, 0.1, 0.11],
        [0.45, 0.46, 0.48],
        [0.6, 0.08, 0.07],
        [0.1, 0.2, 0.45],
        [0.7, 0.7, 0.72],
        [0.2, 0.3, 0.22],
        [0.85, 0.7, 0.2],
        [0.3, 0.3, 0.32],
    ]
)


class World:
    """An infinite procedural city, fixed by ``seed``.

    Args:
        seed: everything (grid, blocks, lighting unless given) follows from it.
        grid: street layout; drawn from the seed when omitted.
        lighting: sun, sky and fog; drawn from the seed when omitted.
        style: block mix.
        populate: False gives an empty world (ground and sky only) plus ``extra_boxes`` and
            ``extra_spheres``: the geometric tests use it.
    """

    def __init__(
        self,
        seed: int,
        grid: StreetGrid | None = None,
        lighting: Lighting | None = None,
        style: WorldStyle | None = None,
        populate: bool = True,
        extra_boxes: BoxSet | None = None,
        extra_spheres: SphereSet | None = None,
        cache_blocks: int = 512,
    ):
        self.seed = int(seed)
        rng = _generator(self.seed, 0xC17)
        self.grid = grid if grid is not None else self._sample_grid(rng)
        lighting_rng = _generator(self.seed, 0x116)
        self.lighting = lighting if lighting is not None else Lighting.sample(lighting_rng)
        self.style = style if style is not None else WorldStyle()
        self.populate = populate
        self.extra_boxes = extra_boxes if extra_boxes is not None else BoxSet.empty()
        self.extra_spheres = extra_spheres if extra_spheres is not None else SphereSet.empty()
        noise_rng = _generator(self.seed, 0x4015E)
        # (S, S) float32 in [0, 1): lattice values of the value noise used by every texture
        self.noise_table = noise_rng.random((NOISE_TABLE_SIZE, NOISE_TABLE_SIZE), np.float32)
        self._cache: OrderedDict[tuple[int, int], tuple[BoxSet, SphereSet]] = OrderedDict()
        self._cache_size = cache_blocks

    def _sample_grid(self, rng: np.random.Generator) -> StreetGrid:
        lanes = int(rng.choice([1, 1, 2]))
        return StreetGrid(
            seed=self.seed,
            pitch=float(rng.uniform(70.0, 110.0)),
            jitter=float(rng.uniform(0.0, 0.12)),
            lanes_per_direction=lanes,
            lane_width=float(rng.uniform(3.1, 3.7)),
            parking_width=float(rng.choice([0.0, 2.2, 2.4], p=[0.2, 0.4, 0.4])),
            sidewalk_width=float(rng.uniform(2.5, 5.0)),
            kerb_height=float(rng.uniform(0.1, 0.18)),
        )

    # ---------------------------------------------------------------- primitives near a point

    def block(self, i: int, j: int) -> tuple[BoxSet, SphereSet]:
        """Primitives of block ``(i, j)`` (built on first use, then cached)."""
        key = (int(i), int(j))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        content = build_block(self, *key)
        self._cache[key] = content
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return content

    def primitives_near(self, x: float, y: float, radius: float) -> tuple[BoxSet, SphereSet]:
        """Every box and sphere of the blocks within ``radius`` metres of ``(x, y)``."""
        boxes, spheres = [self.extra_boxes], [self.extra_spheres]
        if self.populate:
            grid = self.grid
            reach = math.ceil(radius / (grid.pitch * (1.0 - 2.0 * grid.jitter))) + 1
            i0, j0 = grid.block_index(x, y)
            for i in range(i0 - reach, i0 + reach + 1):
                x0, x1 = float(grid.street_x(i)), float(grid.street_x(i + 1))
                dx = max(x0 - x, 0.0, x - x1)
                if dx > radius:
                    continue
                for j in range(j0 - reach, j0 + reach + 1):
                    y0, y1 = float(grid.street_y(j)), float(grid.street_y(j + 1))
                    dy = max(y0 - y, 0.0, y - y1)
                    if dx * dx + dy * dy <= radius * radius:
                        block_boxes, block_spheres = self.block(i, j)
                        boxes.append(block_boxes)
                        spheres.append(block_spheres)
        return BoxSet.concatenate(boxes), SphereSet.concatenate(spheres)


# --------------------------------------------------------------------------------------------
# Block generation


def building_params(rng: np.random.Generator, residential: bool) -> tuple[float, ...]:
    """``BUILDING`` parameters: floor height, window column spacing, window width and height
    fractions of a cell (m, m, -, -)."""
    floor = rng.uniform(2.8, 3.6)
    column = rng.uniform(2.0, 3.2) if residential else rng.uniform(2.4, 4.2)
    return (floor, column, rng.uniform(0.35, 0.7), rng.uniform(0.4, 0.62))


def _side_frame(side: int, x0: float, x1: float, y0: float, y1: float):
    """Geometry of one side of the block interior rectangle.

    Returns ``(origin, along, inward, length)``: 2D origin at a corner, unit vector along the
    side, unit vector into the block, side length. Sides: 0 south, 1 north, 2 west, 3 east.
    """
    if side == 0:
        return np.array([x0, y0]), np.array([1.0, 0.0]), np.array([0.0, 1.0]), x1 - x0
    if side == 1:
        return np.array([x0, y1]), np.array([1.0, 0.0]), np.array([0.0, -1.0]), x1 - x0
    if side == 2:
        return np.array([x0, y0]), np.array([0.0, 1.0]), np.array([1.0, 0.0]), y1 - y0
    return np.array([x1, y0]), np.array([0.0, 1.0]), np.array([-1.0, 0.0]), y1 - y0


def _rect(origin, along, inward, a0: float, a1: float, b0: float, b1: float):
    """Axis-aligned 2D rectangle spanning ``[a0, a1]`` along and ``[b0, b1]`` inward."""
    corners = np.array(
        [origin + a * along + b * inward for a in (a0, a1) for b in (b0, b1)]
    )  # (4, 2)
    return corners.min(axis=0), corners.max(axis=0)


def _box2(builder: _Builder, rect, z0: float, z1: float, material, colour, params=(0, 0, 0, 0)):
    (lx, ly), (hx, hy) = rect
    builder.box((lx, ly, z0), (hx, hy, z1), material, colour, params)


def build_block(world: World, i: int, j: int) -> tuple[BoxSet, SphereSet]:
    """Primitives of block ``(i, j)``, drawn from a generator seeded by ``(seed, i, j)``."""
    grid, style = world.grid, world.style
    rng = _generator(world.seed, 0xB10C, i, j)
    builder = _Builder(rng)
    half = grid.road_half_width
    x0, x1 = float(grid.street_x(i)) + half, float(grid.street_x(i + 1)) - half
    y0, y1 = float(grid.street_y(j)) + half, float(grid.street_y(j + 1)) - half
    if x1 - x0 < 4.0 or y1 - y0 < 4.0:
        return builder.build()
    kerb = grid.kerb_height
    walk = grid.sidewalk_width

    kind_draw = rng.uniform()
    if kind_draw < style.dense_fraction:
        block_kind = "dense"
    elif kind_draw < style.dense_fraction + style.residential_fraction:
        block_kind = "residential"
    else:
        block_kind = "park"
    lot = {
        "dense": LotKind.PAVING,
        "residential": LotKind.GRASS,
        "park": LotKind.GRASS,
    }[block_kind]
    if block_kind == "dense" and rng.uniform() < 0.3:
        lot = LotKind.GRAVEL
    tile = rng.uniform(0.3, 0.8)
    builder.box(
        (x0, y0, 0.0),
        (x1, y1, kerb),
        Material.SLAB,
        (0.62, 0.61, 0.58),
        (walk, float(lot), tile, 0.0),
    )

    for side in range(4):
        origin, along, inward, length = _side_frame(side, x0, x1, y0, y1)
        depth_available = ((y1 - y0) if side < 2 else (x1 - x0)) / 2.0 - walk

        # buildings
        if block_kind != "park" and depth_available > 4.0:
            residential = block_kind == "residential"
            position = rng.uniform(0.0, 4.0)
            while position < length - 4.0:
                width = rng.uniform(8.0, 14.0) if residential else rng.uniform(10.0, 28.0)
                width = min(width, length - position)
                gap_probability = 0.45 if residential else 0.12
                if rng.uniform() < gap_probability:
                    position += rng.uniform(3.0, 12.0)
                    continue
                setback = walk + (rng.uniform(2.0, 6.0) if residential else rng.uniform(0, 1.0))
                depth = min(rng.uniform(8.0, 20.0), max(depth_available + walk - setback, 3.0))
                height = rng.uniform(5.0, 9.0) if residential else rng.uniform(8.0, 36.0)
                colour = BUILDING_COLOURS[rng.integers(len(BUILDING_COLOURS))] * rng.uniform(
                    0.85, 1.1
                )
                rect = _rect(
                    origin, along, inward, position, position + width, setback, setback + depth
                )
                _box2(
                    builder,
                    rect,
                    kerb,
                    kerb + height,
                    Material.BUILDING,
                    np.clip(colour, 0, 1),
                    building_params(rng, residential),
                )
                if residential and rng.uniform() < 0.5:  # front hedge
                    hedge = _rect(
                        origin, along, inward, position, position + width, walk + 0.2, walk + 0.9
                    )
                    _box2(
                        builder,
                        hedge,
                        kerb,
                        kerb + rng.uniform(0.8, 1.4),
                        Material.FOLIAGE,
                        (0.18, 0.34, 0.12),
                    )
                position += width + (rng.uniform(0.5, 4.0) if residential else 0.0)

        # lamp posts along the kerb
        spacing = rng.uniform(22.0, 36.0)
        position = rng.uniform(3.0, spacing)
        while position < length - 3.0:
            foot = origin + position * along + 0.6 * inward
            _box2(
                builder,
                (foot - 0.09, foot + 0.09),
                kerb,
                kerb + 6.5,
                Material.POLE,
                (0.35, 0.36, 0.38),
            )
            head = foot - 0.9 * inward
            _box2(
                builder,
                (head - 0.25, head + 0.25),
                kerb + 6.3,
                kerb + 6.55,
                Material.LAMP,
                (0.8, 0.8, 0.75),
            )
            position += spacing

        # street trees between the lamps
        if rng.uniform() < style.tree_probability or block_kind == "park":
            tree_spacing = rng.uniform(8.0, 16.0)
            position = rng.uniform(2.0, tree_spacing)
            while position < length - 2.0:
                foot = origin + position * along + min(1.4, walk * 0.45) * inward
                trunk_height = rng.uniform(2.2, 3.5)
                _box2(
                    builder,
                    (foot - 0.17, foot + 0.17),
                    kerb,
                    kerb + trunk_height,
                    Material.TRUNK,
                    (0.34, 0.26, 0.18),
                )
                radius = rng.uniform(1.3, 2.4)
                builder.sphere(
                    (foot[0], foot[1], kerb + trunk_height + 0.7 * radius),
                    radius,
                    Material.FOLIAGE,
                    np.clip(np.array([0.2, 0.38, 0.13]) * rng.uniform(0.75, 1.2), 0, 1),
                )
                position += tree_spacing * rng.uniform(0.8, 1.2)

        # a sign near each corner
        if rng.uniform() < 0.6:
            foot = origin + rng.uniform(2.0, 6.0) * along + 0.4 * inward
            _box2(
                builder,
                (foot - 0.05, foot + 0.05),
                kerb,
                kerb + 2.6,
                Material.POLE,
                (0.5, 0.5, 0.52),
            )
            colour = [(0.1, 0.25, 0.6), (0.7, 0.1, 0.1), (0.9, 0.9, 0.9), (0.9, 0.7, 0.1)][
                rng.integers(4)
            ]
            plate = np.abs(along) * 0.35 + np.abs(inward) * 0.03
            _box2(
                builder, (foot - plate, foot + plate), kerb + 2.0, kerb + 2.7, Material.SIGN, colour
            )

        # parked cars on the road's parking strip along this side
        if grid.parking_width > 0.0:
            axis = 0.0 if side < 2 else 1.0
            position = rng.uniform(6.0, 10.0)
            while position < length - 10.0:
                car_length = rng.uniform(3.8, 4.9)
                if rng.uniform() < style.parked_car_density:
                    _parked_car(
                        builder,
                        rng,
                        origin,
                        along,
                        inward,
                        position,
                        car_length,
                        -grid.parking_width / 2.0,
                        axis,
                    )
                position += car_length + rng.uniform(0.8, 3.0)

    return builder.build()


def _parked_car(
    builder: _Builder,
    rng: np.random.Generator,
    origin: np.ndarray,
    along: np.ndarray,
    inward: np.ndarray,
    start: float,
    length: float,
    lateral: float,
    axis: float,
) -> None:
    """A car: body, cabin and two wheel boxes, ``length`` metres from ``start`` along the side."""
    width = rng.uniform(1.7, 1.9)
    colour = np.clip(CAR_COLOURS[rng.integers(len(CAR_COLOURS))] * rng.uniform(0.9, 1.1), 0, 1)
    params = (axis, 0.0, 0.0, 0.0)
    body = _rect(
        origin, along, inward, start, start + length, lateral - width / 2, lateral + width / 2
    )
    body_top = rng.uniform(0.95, 1.1)
    _box2(builder, body, 0.32, body_top, Material.CAR_BODY, colour, params)
    cabin_start = start + length * rng.uniform(0.2, 0.3)
    cabin = _rect(
        origin,
        along,
        inward,
        cabin_start,
        cabin_start + length * 0.5,
        lateral - width / 2 + 0.1,
        lateral + width / 2 - 0.1,
    )
    _box2(
        builder,
        cabin,
        body_top,
        body_top + rng.uniform(0.42, 0.55),
        Material.CAR_CABIN,
        colour,
        params,
    )
    for wheel_centre in (start + 0.2 * length, start + 0.8 * length):
        wheel = _rect(
            origin,
            along,
            inward,
            wheel_centre - 0.33,
            wheel_centre + 0.33,
            lateral - width / 2 + 0.05,
            lateral + width / 2 - 0.05,
        )
        _box2(builder, wheel, 0.0, 0.64, Material.WHEEL, (0.06, 0.06, 0.06), params)
