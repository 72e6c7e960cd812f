"""Pinhole ray caster for the procedural :class:`~la_pose_core.data.synthetic.world.World`.

For every pixel centre ``(u, v)`` (integer coordinates, OpenCV convention) the ray
``d_cam = ((u - cx) / fx, (v - cy) / fy, 1)`` of the camera optical frame (x right, y down,
z forward) is rotated into the scene and intersected, exactly, with

- the ground plane ``z = 0``,
- every axis-aligned box (slab test) and sphere (quadratic) near the camera.

Because ``d_cam`` has unit ``z``, the ray parameter of a hit *is* its depth along the optical
axis, so the depth buffer holds camera ``Z`` and a scene point ``P`` lands exactly on the pixel
``K @ cam_from_scene @ P`` predicts: the images agree with the poses to floating point.

Speed: boxes are culled (distance, behind the camera, screen rectangle after clipping against
the near plane), sorted front to back, and each is tested only on the pixels of its screen
rectangle, after an occlusion check against the depth already there. Shading is then one
vectorised pass per material over the visible pixels: procedural textures from world
coordinates (value noise, tiles, windows, lane markings), Lambert sun plus sky ambient per face,
exponential fog by distance, and a sky with clouds. Textures fade to their mean where a pixel
covers more than a texture period (cheap anti-aliasing), so distant detail does not shimmer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from la_pose_core.data.kitti import CameraIntrinsics
from la_pose_core.data.synthetic.world import (
    NOISE_TABLE_SIZE,
    BoxSet,
    LotKind,
    Material,
    SphereSet,
    World,
)

GROUND_ID = -2
SKY_ID = -1
SPHERE_AXIS = 3  # "face" code of sphere hits (boxes: 0, 1, 2 = axis of the face normal)

# the 8 corners of a box: bit k of the corner number selects hi (1) or lo (0) along axis k
_CORNER_BITS = np.array([[(c >> k) & 1 for k in range(3)] for c in range(8)], dtype=bool)
_EDGES = np.array(
    [(a, a | (1 << k)) for a in range(8) for k in range(3) if not a & (1 << k)]
)  # (12, 2) corner pairs differing along one axis


def intrinsics_from_fov(width: int, height: int, vertical_fov: float) -> CameraIntrinsics:
    """Square-pixel pinhole intrinsics with the principal point at the image centre.

    Args:
        width, height: image size in pixels.
        vertical_fov: vertical field of view in radians (``2 atan(H / (2 fy))``).
    """
    if not 0.0 < vertical_fov < math.pi:
        raise ValueError(f"vertical FoV must be in (0, pi) radians, got {vertical_fov}")
    focal = (height / 2.0) / math.tan(vertical_fov / 2.0)
    return CameraIntrinsics(
        fx=focal,
        fy=focal,
        cx=(width - 1) / 2.0,
        cy=(height - 1) / 2.0,
        width=int(width),
        height=int(height),
    )


@dataclass
class RenderOutput:
    """One rendered frame.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB.
        depth: ``(H, W)`` float32 depth along the optical axis (camera ``Z``, m); ``inf`` for
            sky and for ground beyond the far distance.
        primitive: ``(H, W)`` int32: index of the hit box (``0..N-1``) or sphere (``N..``) in
            ``boxes`` / ``spheres``; ``GROUND_ID`` or ``SKY_ID``.
        boxes, spheres: the primitives that were considered for this frame.
    """

    image: np.ndarray
    depth: np.ndarray
    primitive: np.ndarray
    boxes: BoxSet
    spheres: SphereSet


# --------------------------------------------------------------------------------------------
# Texture helpers: value noise and anti-aliased patterns. ``fp`` is the pixel footprint in
# the same units as the pattern coordinate.


class _Noise:
    """Value noise from the world's lattice table, float32 throughout."""

    def __init__(self, table: np.ndarray):
        self.size = table.shape[0]
        self.mask = self.size - 1
        self.flat = np.ascontiguousarray(table, dtype=np.float32).ravel()

    def __call__(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Bilinear value noise in [0, 1) with period ``size`` cells (smoothstep weights)."""
        fu, fv = np.floor(u), np.floor(v)
        tu, tv = u - fu, v - fv
        iu = fu.astype(np.int32) & self.mask
        iv = fv.astype(np.int32) & self.mask
        row0 = iv * self.size
        row1 = ((iv + 1) & self.mask) * self.size
        iu1 = (iu + 1) & self.mask
        a, b = self.flat[row0 + iu], self.flat[row0 + iu1]
        c, d = self.flat[row1 + iu], self.flat[row1 + iu1]
        tu = tu * tu * (3.0 - 2.0 * tu)
        tv = tv * tv * (3.0 - 2.0 * tv)
        top = a + (b - a) * tu
        return top + ((c + (d - c) * tu) - top) * tv

    def cell_random(self, *keys) -> np.ndarray:
        """A pseudo-random value in [0, 1) per tuple of integer keys (cheap, table based)."""
        state = np.zeros(np.broadcast_shapes(*(np.shape(k) for k in keys)), np.int64)
        for key in keys:
            state = ((state * 1000003) ^ np.asarray(key, np.int64)) & 0xFFFFFFFFFFFF
        state ^= state >> 17
        state = (state * 0x2C1B3C6D) & 0xFFFFFFFFFFFF
        state ^= state >> 21
        return self.flat[state & (self.size * self.size - 1)]

    def fbm(
        self,
        u: np.ndarray,
        v: np.ndarray,
        fp: np.ndarray,
        frequency: float,
        octaves: int = 4,
        gain: float = 0.5,
    ) -> np.ndarray:
        """Fractal noise centred on 0 (about [-0.5, 0.5]); octaves finer than a pixel fade out."""
        total = np.zeros(np.shape(u), np.float32)
        amplitude, norm = 1.0, 0.0
        for octave in range(octaves):
            freq = frequency * 2.0**octave
            weight = np.clip(1.5 - (2.0 * freq) * fp, 0.0, 1.0)
            norm += amplitude
            if not np.any(weight > 0):
                break
            angle = 0.9 * octave
            c, s = freq * math.cos(angle), freq * math.sin(angle)
            value = self(c * u - s * v + 31.7 * octave, s * u + c * v)
            total += (amplitude * weight) * (value - 0.5)
            amplitude *= gain
        return total * (1.0 / norm)


def _band(x: np.ndarray, centre: float | np.ndarray, half: float | np.ndarray, fp) -> np.ndarray:
    """Anti-aliased indicator of ``|x - centre| < half`` (edges ``fp`` wide)."""
    fp = np.maximum(fp, 1e-6)
    inside = np.clip((half - np.abs(x - centre)) / fp + 0.5, 0.0, 1.0)
    coverage = np.clip(2.0 * np.asarray(half) / fp, 0.0, 1.0)  # thin lines fade, not flicker
    return (inside * np.where(fp > 2.0 * np.asarray(half), coverage, 1.0)).astype(np.float32)


def _periodic_band(x, period: float | np.ndarray, centre, half, fp) -> np.ndarray:
    """Anti-aliased ``|frac(x / period) - centre| < half`` (cell units), mean where too fine."""
    cell = x / period
    frac = cell - np.floor(cell)
    fp_cell = np.maximum(fp / period, 1e-6)
    pattern = _band(frac, centre, half, fp_cell)
    blur = np.clip(2.0 * fp_cell - 0.5, 0.0, 1.0)  # 0 sharp .. 1 sub-pixel period
    return (pattern + (2.0 * np.asarray(half) - pattern) * blur).astype(np.float32)


def _lerp(a: np.ndarray, b, t: np.ndarray) -> np.ndarray:
    """Row-wise blend of ``(n, 3)`` colours by ``(n,)`` weights."""
    return a + (np.asarray(b, np.float32) - a) * t[:, None]


# --------------------------------------------------------------------------------------------


class Renderer:
    """Ray caster bound to one world.

    Args:
        world: the scene.
        far: distance (m) beyond which geometry is not drawn; fog reaches its colour there.
        near: smallest depth (m) of a hit.
    """

    def __init__(self, world: World, far: float = 220.0, near: float = 0.05):
        self.world = world
        self.far = float(far)
        self.near = float(near)
        self.noise = _Noise(world.noise_table)
        self._ray_cache: dict[tuple, np.ndarray] = {}
        assert world.noise_table.shape == (NOISE_TABLE_SIZE, NOISE_TABLE_SIZE)

    def _camera_rays(self, intrinsics: CameraIntrinsics) -> tuple[np.ndarray, np.ndarray]:
        """``(H, W, 3)`` float32 rays of the optical frame with unit z, one per pixel centre,
        and their ``(H * W,)`` lengths."""
        key = (
            intrinsics.fx,
            intrinsics.fy,
            intrinsics.cx,
            intrinsics.cy,
            intrinsics.width,
            intrinsics.height,
        )
        if key not in self._ray_cache:
            u = (np.arange(intrinsics.width) - intrinsics.cx) / intrinsics.fx
            v = (np.arange(intrinsics.height) - intrinsics.cy) / intrinsics.fy
            rays = np.empty((intrinsics.height, intrinsics.width, 3), np.float32)
            rays[..., 0] = u[None, :]
            rays[..., 1] = v[:, None]
            rays[..., 2] = 1.0
            length = np.sqrt(np.sum(rays.reshape(-1, 3) ** 2, axis=1))
            self._ray_cache = {key: (rays, length)}
        return self._ray_cache[key]

    # ------------------------------------------------------------------------------ geometry

    def render(self, scene_from_cam: np.ndarray, intrinsics: CameraIntrinsics) -> RenderOutput:
        """Render the view of a camera at pose ``scene_from_cam`` (``(4, 4)``, optical frame)."""
        scene_from_cam = np.asarray(scene_from_cam, np.float64)
        rotation, origin = scene_from_cam[:3, :3], scene_from_cam[:3, 3]
        height, width = intrinsics.height, intrinsics.width
        rays_cam, ray_length = self._camera_rays(intrinsics)  # (H, W, 3), (H * W,)
        rays = rays_cam @ rotation.T.astype(np.float32)  # (H, W, 3) scene directions
        dx, dy, dz = (np.ascontiguousarray(rays[..., k]) for k in range(3))
        tiny = np.float32(1e-9)
        inverse = [
            np.float32(1.0) / np.where(np.abs(c) < tiny, np.where(c < 0, -tiny, tiny), c)
            for c in (dx, dy, dz)
        ]

        depth = np.full((height, width), np.inf, np.float32)
        primitive = np.full((height, width), SKY_ID, np.int32)
        face = np.zeros((height, width), np.int8)
        if origin[2] > 0.0:
            ground_t = np.float32(-origin[2]) * inverse[2]  # (H, W)
            ground = (dz < 0) & (ground_t < self.far)
            depth[ground] = ground_t[ground]
            primitive[ground] = GROUND_ID
            face[ground] = 2

        boxes, spheres = self.world.primitives_near(origin[0], origin[1], self.far)
        count_boxes = len(boxes)
        lo = np.concatenate([boxes.lo, spheres.centre - spheres.radius[:, None]])
        hi = np.concatenate([boxes.hi, spheres.centre + spheres.radius[:, None]])
        is_sphere = np.arange(len(lo)) >= count_boxes
        order, rects, depth_bound = self._cull(lo, hi, origin, rotation, intrinsics)
        for index in order:
            y0, y1, x0, x1 = rects[index]
            region = (slice(y0, y1), slice(x0, x1))
            zbuffer = depth[region]
            if depth_bound[index] >= zbuffer.max():
                continue  # everything behind something already drawn
            if is_sphere[index]:
                sphere = index - count_boxes
                t, hit = self._hit_sphere(
                    spheres.centre[sphere] - origin,
                    spheres.radius[sphere],
                    dx[region],
                    dy[region],
                    dz[region],
                )
                axis = SPHERE_AXIS
            else:
                t, hit, axis = self._hit_box(
                    (lo[index] - origin).astype(np.float32),
                    (hi[index] - origin).astype(np.float32),
                    [inv[region] for inv in inverse],
                )
            hit &= t < zbuffer
            if not hit.any():
                continue
            zbuffer[hit] = t[hit]
            primitive[region][hit] = index
            face[region][hit] = axis if np.isscalar(axis) else axis[hit]

        image = self._shade(
            origin, ray_length, (dx, dy, dz), depth, primitive, face, boxes, spheres, intrinsics
        )
        return RenderOutput(image, depth, primitive, boxes, spheres)

    def _cull(self, lo, hi, origin, rotation, intrinsics):
        """Boxes (and spheres' bounding cubes) that may be seen, and where.

        Returns:
            ``order``: indices of the primitives that may be visible, front to back;
            ``rects``: ``(N, 4)`` pixel rectangles ``(y0, y1, x0, x1)`` (end exclusive) that
            contain each primitive's projection (corners clipped against the near plane);
            ``depth_bound``: ``(N,)`` lower bound of the depth of any point of the primitive.
        """
        count = len(lo)
        rects = np.zeros((count, 4), np.int64)
        if count == 0:
            return np.zeros(0, np.int64), rects, np.zeros(0)
        nearest = np.clip(origin, lo, hi) - origin  # (N, 3)
        in_range = np.einsum("ij,ij->i", nearest, nearest) < self.far**2
        corners = np.where(_CORNER_BITS[None], hi[:, None], lo[:, None]) - origin  # (N, 8, 3)
        camera = corners @ rotation  # (N, 8, 3) optical coordinates (R^T p, row form)
        z = camera[..., 2]
        front = z >= self.near  # (N, 8)
        a, b = camera[:, _EDGES[:, 0]], camera[:, _EDGES[:, 1]]  # (N, 12, 3)
        za, zb = a[..., 2], b[..., 2]
        crossing = (za >= self.near) != (zb >= self.near)
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = np.where(crossing, (self.near - za) / (zb - za), 0.0)
        clipped = a + fraction[..., None] * (b - a)
        points = np.concatenate([camera, clipped], axis=1)  # (N, 20, 3)
        valid = np.concatenate([front, crossing], axis=1)  # (N, 20)
        pz = np.maximum(points[..., 2], self.near)
        u = intrinsics.fx * points[..., 0] / pz + intrinsics.cx
        v = intrinsics.fy * points[..., 1] / pz + intrinsics.cy
        u_min = np.where(valid, u, np.inf).min(axis=1)
        u_max = np.where(valid, u, -np.inf).max(axis=1)
        v_min = np.where(valid, v, np.inf).min(axis=1)
        v_max = np.where(valid, v, -np.inf).max(axis=1)
        visible = in_range & front.any(axis=1)
        with np.errstate(invalid="ignore"):
            x0 = np.clip(np.floor(u_min), 0, intrinsics.width)
            x1 = np.clip(np.floor(u_max) + 2, 0, intrinsics.width)
            y0 = np.clip(np.floor(v_min), 0, intrinsics.height)
            y1 = np.clip(np.floor(v_max) + 2, 0, intrinsics.height)
        visible &= np.isfinite(u_min) & (x1 > x0) & (y1 > y0)
        rects[visible] = np.stack([y0, y1, x0, x1], axis=1)[visible].astype(np.int64)
        depth_bound = np.maximum(np.where(front, z, np.inf).min(axis=1), self.near)
        depth_bound = np.where(crossing.any(axis=1), self.near, depth_bound)
        # front to back, so that the occlusion check skips what is hidden
        candidates = np.flatnonzero(visible)
        order = candidates[np.argsort(depth_bound[candidates], kind="stable")]
        return order, rects, depth_bound

    def _hit_box(self, lo, hi, inverse):
        """Slab test. ``lo, hi`` relative to the ray origin; returns ``(t, hit, axis)``."""
        t1 = lo[0] * inverse[0]
        t2 = hi[0] * inverse[0]
        t_near, t_far = np.minimum(t1, t2), np.maximum(t1, t2)
        axis = np.zeros(t_near.shape, np.int8)
        for k in (1, 2):
            t1 = lo[k] * inverse[k]
            t2 = hi[k] * inverse[k]
            entry = np.minimum(t1, t2)
            later = entry > t_near
            t_near = np.where(later, entry, t_near)
            axis[later] = k
            t_far = np.minimum(t_far, np.maximum(t1, t2))
        hit = (t_near <= t_far) & (t_near > self.near)
        return t_near, hit, axis

    def _hit_sphere(self, centre, radius, dx, dy, dz):
        """Ray-sphere hit; ``centre`` relative to the ray origin; returns ``(t, hit)``."""
        b = dx * np.float32(centre[0]) + dy * np.float32(centre[1]) + dz * np.float32(centre[2])
        a = dx * dx + dy * dy + dz * dz
        c = np.float32(centre @ centre - radius * radius)
        discriminant = b * b - a * c
        hit = discriminant >= 0
        t = (b - np.sqrt(np.maximum(discriminant, 0))) / a
        hit &= t > self.near
        return t, hit

    # ------------------------------------------------------------------------------- shading

    def _shade(self, origin, ray_length, rays, depth, primitive, face, boxes, spheres, intrinsics):
        """Colour of every pixel: textures x (sky ambient + sun), fog by distance; sky."""
        lighting = self.world.lighting
        height, width = depth.shape
        f32 = np.float32
        colour = np.empty((height * width, 3), f32)
        flat_primitive = primitive.ravel()
        dx, dy, dz = (r.ravel() for r in rays)

        is_sky = flat_primitive == SKY_ID
        sky = np.flatnonzero(is_sky)
        surface = np.flatnonzero(~is_sky)
        colour[sky] = self._sky(dx[sky], dy[sky], dz[sky])

        t = depth.ravel()[surface]  # (n,) float32 camera depth
        direction = np.stack([dx[surface], dy[surface], dz[surface]], axis=1)  # (n, 3)
        point = origin.astype(f32) + t[:, None] * direction  # (n, 3) scene coordinates
        ids = flat_primitive[surface]
        axis = face.ravel()[surface]
        normal = np.zeros((len(surface), 3), f32)
        planar = np.flatnonzero(axis < SPHERE_AXIS)
        plane_axis = axis[planar]
        normal[planar, plane_axis] = -np.sign(direction[planar, plane_axis])
        count_boxes = len(boxes)
        round_pixels = np.flatnonzero(axis == SPHERE_AXIS)
        if len(round_pixels):
            which = ids[round_pixels] - count_boxes
            normal[round_pixels] = (point[round_pixels] - spheres.centre[which].astype(f32)) / (
                spheres.radius[which, None].astype(f32)
            )
        length = ray_length[surface]
        # |cos| of the incidence angle; the pixel footprint on the surface (m) grows as the
        # surface turns away from the ray
        cosine = np.abs(np.einsum("ij,ij->i", normal, direction)) / length
        footprint = t * length / (f32(intrinsics.fx) * np.maximum(cosine, f32(0.12)))

        albedo = np.empty((len(surface), 3), f32)
        ground = np.flatnonzero(ids == GROUND_ID)
        if len(ground):
            albedo[ground] = self._ground(point[ground], footprint[ground])
        box_pixels = np.flatnonzero((ids >= 0) & (ids < count_boxes))
        if len(box_pixels):
            materials = boxes.material[ids[box_pixels]]
            for material in np.unique(materials):
                index = box_pixels[materials == material]
                albedo[index] = self._box_material(
                    Material(int(material)),
                    point[index],
                    axis[index],
                    footprint[index],
                    ids[index],
                    boxes,
                )
        if len(round_pixels):
            which = ids[round_pixels] - count_boxes
            albedo[round_pixels] = self._foliage(
                point[round_pixels], spheres.colour[which], footprint[round_pixels]
            )

        sun = np.asarray(lighting.sun_direction, f32)
        lambert = np.maximum(normal @ sun, f32(0.0)) * f32(lighting.sun_intensity)
        sky_light = f32(0.8) + f32(0.2) * normal[:, 2]
        light = (
            np.asarray(lighting.ambient, f32)[None] * sky_light[:, None]
            + np.asarray(lighting.sun_colour, f32)[None] * lambert[:, None]
        )
        distance = t * length
        transmittance = np.exp(f32(-lighting.fog_density) * distance)
        transmittance *= np.clip((f32(self.far) - distance) * f32(4.0 / self.far), 0.0, 1.0)
        fog = np.asarray(lighting.fog_colour, f32)
        colour[surface] = fog + (albedo * light - fog) * transmittance[:, None]

        image = np.clip(colour * f32(255.0 * lighting.exposure) + f32(0.5), 0, 255)
        return image.astype(np.uint8).reshape(height, width, 3)

    def _sky(self, dx, dy, dz):
        """Horizon-to-zenith gradient, clouds on a plane at infinity, sun glow; haze below."""
        lighting = self.world.lighting
        f32 = np.float32
        inverse_norm = f32(1.0) / np.sqrt(dx * dx + dy * dy + dz * dz)
        ux, uy, uz = dx * inverse_norm, dy * inverse_norm, dz * inverse_norm
        horizon = np.asarray(lighting.sky_horizon, f32)
        zenith = np.asarray(lighting.sky_zenith, f32)
        up = np.sqrt(np.clip(uz, 0.0, 1.0))
        colour = horizon + (zenith - horizon) * up[:, None]
        above = np.flatnonzero(uz > 0.015)
        if len(above) and lighting.cloud_cover > 0.01:
            height = uz[above]
            plane_u = f32(3.0) * ux[above] / height
            plane_v = f32(3.0) * uy[above] / height
            fp = f32(0.02) / (height * height)
            density = self.noise.fbm(plane_u, plane_v, fp, 0.6, octaves=4) + f32(0.5)
            threshold = 1.0 - lighting.cloud_cover
            cloud = np.clip((density - f32(threshold - 0.15)) * f32(1 / 0.3), 0.0, 1.0)
            cloud *= np.clip(height * f32(1 / 0.12), 0.0, 1.0)
            shade = f32(0.92) - f32(0.25 * lighting.cloud_cover) * np.clip(density, 0, 1)
            cloud_colour = shade[:, None] * np.array([1.0, 1.0, 1.02], f32)
            colour[above] += (cloud_colour - colour[above]) * cloud[:, None]
        sun = np.asarray(lighting.sun_direction, f32)
        glow = np.clip(ux * sun[0] + uy * sun[1] + uz * sun[2], 0.0, 1.0)
        glow = f32(0.35) * glow**64 + f32(0.6) * glow**1500
        strength = f32(1.0 - 0.8 * lighting.cloud_cover)
        colour += glow[:, None] * (np.asarray(lighting.sun_colour, f32) * strength)
        colour[uz < 0.0] = np.asarray(lighting.fog_colour, f32)  # ground beyond the far plane
        return colour

    # ------------------------------------------------------------------------------ textures

    def _ground(self, point, fp):
        """Asphalt (grain, patches, repairs, manholes), lane markings, crossings, stop lines."""
        grid = self.world.grid
        noise = self.noise
        f32 = np.float32
        x, y = point[:, 0], point[:, 1]
        _, offset_x = grid.nearest_street_x(x)  # to the north-south street
        _, offset_y = grid.nearest_street_y(y)
        half = f32(grid.road_half_width)
        on_ew = np.abs(offset_y) < half
        on_ns = np.abs(offset_x) < half
        lateral = np.where(on_ew, offset_y, offset_x)
        along = np.where(on_ew, x, y)
        to_crossing = np.where(on_ew, offset_x, offset_y)  # signed distance to the crossing
        distance_crossing = np.abs(to_crossing)
        abs_lateral = np.abs(lateral)

        base = (
            f32(0.3)
            + f32(0.22) * noise.fbm(x, y, fp, 4.0, octaves=4)
            + f32(0.12) * noise.fbm(x + 500.0, y, fp, 0.08, octaves=3)
        )
        repairs = np.clip((noise(0.05 * x + 40.0, 0.05 * y) - f32(0.72)) * f32(12.0), 0.0, 1.0)
        base *= f32(1.0) - f32(0.25) * repairs
        # rectangular patches: one chance per 8 m cell (straight edges, good corners)
        cell_x, cell_y = np.floor(x * f32(1 / 8.0)), np.floor(y * f32(1 / 8.0))
        keys = (cell_x.astype(np.int64), cell_y.astype(np.int64))
        chance = noise.cell_random(*keys, 11)
        centre_x = (cell_x + f32(0.25) + f32(0.5) * noise.cell_random(*keys, 12)) * f32(8.0)
        centre_y = (cell_y + f32(0.25) + f32(0.5) * noise.cell_random(*keys, 13)) * f32(8.0)
        patch = (
            _band(x, centre_x, f32(0.4) + f32(1.6) * noise.cell_random(*keys, 14), fp)
            * _band(y, centre_y, f32(0.4) + f32(1.6) * noise.cell_random(*keys, 15), fp)
            * (chance < 0.3)
        )
        base *= f32(1.0) + np.where(chance < 0.15, f32(-0.22), f32(0.18)) * patch
        # manhole covers: one chance per 15 m cell
        cell_x, cell_y = np.floor(x * f32(1 / 15.0)), np.floor(y * f32(1 / 15.0))
        keys = (cell_x.astype(np.int64), cell_y.astype(np.int64))
        centre_x = (cell_x + f32(0.2) + f32(0.6) * noise.cell_random(*keys, 21)) * f32(15.0)
        centre_y = (cell_y + f32(0.2) + f32(0.6) * noise.cell_random(*keys, 22)) * f32(15.0)
        radius = np.hypot(x - centre_x, y - centre_y)
        present = noise.cell_random(*keys, 23) < 0.2
        cover = _band(radius, 0.0, 0.33, fp) * present
        rim = _band(radius, 0.35, 0.035, fp) * present
        base = base + (f32(0.16) - base) * cover + (f32(0.55) - base) * rim
        lanes_width = grid.lanes_per_direction * grid.lane_width
        in_lane_position = np.abs(abs_lateral % f32(grid.lane_width) - f32(grid.lane_width / 2))
        wheel_track = _band(in_lane_position, 0.85, 0.35, fp) * (abs_lateral < lanes_width)
        base *= f32(1.0) - f32(0.12) * wheel_track
        albedo = base[:, None] * np.array([1.0, 1.0, 1.04], f32)

        marked = ~(on_ew & on_ns) & (distance_crossing > half)
        wear = f32(0.7) + f32(0.6) * noise(3.0 * x, 3.0 * y + 200.0)
        white = np.zeros(len(x), f32)
        yellow = _band(abs_lateral, 0.13, 0.06, fp) * marked
        for lane in range(1, grid.lanes_per_direction):
            dashes = _periodic_band(along, 9.0, 0.25, 0.17, fp)
            white += _band(abs_lateral, lane * grid.lane_width, 0.075, fp) * dashes
        if grid.parking_width > 0:
            white += _band(abs_lateral, lanes_width, 0.08, fp)
            bays = _periodic_band(along, 6.0, 0.5, 0.012, fp)
            white += bays * ((abs_lateral > lanes_width) & (abs_lateral < half - 0.1))
        white *= marked
        zebra = (distance_crossing > half + 0.8) & (distance_crossing < half + 4.0)
        zebra &= abs_lateral < half - 0.3
        white += _periodic_band(lateral, 1.1, 0.5, 0.25, fp) * zebra
        stop_side = np.where(on_ew, lateral * to_crossing > 0, lateral * to_crossing < 0)
        stop = _band(distance_crossing, half + 4.8, 0.2, fp) * stop_side
        white += stop * (abs_lateral < lanes_width) * (abs_lateral > 0.2)
        white = np.clip(white, 0.0, 1.0) * wear
        yellow = np.clip(yellow, 0.0, 1.0) * wear
        albedo += (np.array([0.85, 0.85, 0.82], f32) - albedo) * white[:, None]
        albedo += (np.array([0.85, 0.68, 0.2], f32) - albedo) * yellow[:, None]
        return albedo

    def _box_material(self, material, point, axis, fp, ids, boxes):
        """Albedo of box faces of one material. Face coordinates: ``u`` along the face from its
        left/low edge, ``w`` height above the box bottom; tops use world ``(x, y)``."""
        f32 = np.float32
        noise = self.noise
        lo, hi = boxes.lo[ids].astype(f32), boxes.hi[ids].astype(f32)
        colour = boxes.colour[ids]
        params = boxes.params[ids]
        ident = boxes.ident[ids]
        x, y, z = point[:, 0], point[:, 1], point[:, 2]
        top = axis == 2
        along_x = axis == 1  # faces whose normal is +-y run along x
        u = np.where(along_x, x - lo[:, 0], y - lo[:, 1])
        face_width = np.where(along_x, hi[:, 0] - lo[:, 0], hi[:, 1] - lo[:, 1])
        w = z - lo[:, 2]
        face_height = hi[:, 2] - lo[:, 2]

        if material == Material.BUILDING:
            return self._facade(
                x, y, u, w, face_width, face_height, top, fp, colour, params, ident, axis
            )
        if material == Material.SLAB:
            return self._slab(x, y, u, w, top, fp, lo, hi, params, ident)
        if material in (Material.CAR_BODY, Material.CAR_CABIN, Material.WHEEL):
            return self._car(material, u, w, face_width, face_height, top, axis, fp, colour, params)
        if material == Material.FOLIAGE:
            return self._foliage(point, colour, fp)
        su, sw = np.where(top, x, u), np.where(top, y, w)
        grain = noise.fbm(su, sw, fp, 3.0, octaves=3)
        if material == Material.TRUNK:
            bark = noise.fbm(6.0 * su, sw, fp * 6.0, 2.0, octaves=3)
            return colour * (f32(1.0) + f32(0.6) * bark + f32(0.2) * grain)[:, None]
        if material == Material.SIGN:
            inner = _band(u, face_width / 2, face_width / 2 - 0.06, fp) * _band(
                w, face_height / 2, face_height / 2 - 0.06, fp
            )
            border = (f32(1.0) - inner) * (face_width > 0.2)
            return colour + (f32(0.92) - colour) * border[:, None]
        if material == Material.POLE:
            return colour * (f32(1.0) + f32(0.25) * grain - f32(0.15) * (w < 0.4))[:, None]
        return colour * (f32(1.0) + f32(0.3) * grain)[:, None]

    def _facade(self, x, y, u, w, width, height, top, fp, colour, params, ident, axis):
        """Walls with floors of windows (frames, sills, lit/dark/curtained panes), shop fronts
        on some ground floors, ledges and a cornice; roofs on top."""
        f32 = np.float32
        noise = self.noise
        floor_h, column_w, window_w, window_h = (params[:, k] for k in range(4))
        columns = np.maximum(np.round(width / column_w), 1.0)
        column_w = width / columns
        cell_u = u / column_w
        column = np.floor(cell_u)
        frac_u = cell_u - column
        cell_w = w / floor_h
        floor = np.floor(cell_w)
        frac_w = cell_w - floor
        fp_u, fp_w = fp / column_w, fp / floor_h
        column_key, floor_key = column.astype(np.int64), floor.astype(np.int64)

        shop = (noise.cell_random(ident, 5) < 0.5) & (floor == 0)
        half_w = np.where(shop, f32(0.42), window_w * f32(0.5))
        half_h = np.where(shop, f32(0.33), window_h * f32(0.5))
        centre_h = np.where(shop, f32(0.45), f32(0.56))
        facade = ~top & (w < height - 0.6)
        window = _band(frac_u, 0.5, half_w, fp_u) * _band(frac_w, centre_h, half_h, fp_w) * facade
        frame = (
            _band(frac_u, 0.5, half_w + 0.05, fp_u)
            * _band(frac_w, centre_h, half_h + 0.04, fp_w)
            * facade
        )
        sill = (
            _band(frac_w, centre_h - half_h - 0.045, 0.02, fp_w)
            * _band(frac_u, 0.5, half_w + 0.07, fp_u)
            * facade
        )
        ledge = (
            _periodic_band(w, floor_h, 0.0, 0.025, fp) + _periodic_band(w, floor_h, 1.0, 0.025, fp)
        ) * ~top
        cornice = _band(w, height - 0.25, 0.25, fp) * ~top

        shift = (ident % 97).astype(f32) * f32(13.0)
        stains = noise.fbm(u * 0.5 + shift, w, fp, 0.5, octaves=3)
        grain = noise.fbm(u, w, fp, 6.0, octaves=3)
        base_light = f32(0.72) + f32(0.28) * np.clip(w * f32(1 / 1.2), 0.0, 1.0)
        wall = colour * ((f32(1.0) + f32(0.35) * stains + f32(0.25) * grain) * base_light)[:, None]
        wall += (colour * f32(0.75) - wall) * (f32(0.5) * ledge)[:, None]
        wall += (np.minimum(colour * f32(1.25), 1.0) - wall) * cornice[:, None]
        frame_tone = np.where(noise.cell_random(ident, 6) < 0.5, f32(0.85), f32(0.25))
        wall += (frame_tone[:, None] - wall) * frame[:, None]
        wall += (f32(0.8) - wall) * sill[:, None]

        lightness = noise.cell_random(ident, column_key, floor_key, axis)
        glass = np.array([0.1, 0.13, 0.17], f32) + lightness[:, None] * np.array(
            [0.3, 0.32, 0.33], f32
        )
        curtain = noise.cell_random(ident, column_key, floor_key, 7) < 0.25
        glass[curtain] = (f32(0.6) + f32(0.4) * lightness[curtain, None]) * np.array(
            [0.55, 0.5, 0.42], f32
        )
        reflection = np.clip(f32(0.5) + noise.fbm(u + 7.0, w, fp, 0.7, octaves=2), 0.0, 1.0)
        glass *= (f32(0.8) + f32(0.4) * reflection)[:, None]
        albedo = wall + (glass - wall) * window[:, None]
        if top.any():
            roof = f32(0.32) + f32(0.3) * noise.fbm(x[top], y[top], fp[top], 1.5, octaves=3)
            albedo[top] = roof[:, None] * np.array([1.0, 0.98, 0.95], f32)
        return albedo

    def _slab(self, x, y, u, w, top, fp, lo, hi, params, ident):
        """Block slab: kerb stones, tiled sidewalk, then grass, gravel or paving inside."""
        f32 = np.float32
        noise = self.noise
        walk, lot, tile = params[:, 0], params[:, 1], params[:, 2]
        edge = np.minimum(
            np.minimum(x - lo[:, 0], hi[:, 0] - x), np.minimum(y - lo[:, 1], hi[:, 1] - y)
        )
        grain = noise.fbm(x, y, fp, 5.0, octaves=3)
        tile_x, tile_y = x / tile, y / tile
        tint = noise.cell_random(
            np.floor(tile_x).astype(np.int64), np.floor(tile_y).astype(np.int64), ident
        ) - f32(0.5)
        joints = np.maximum(
            _periodic_band(x, tile, 0.0, 0.03, fp) + _periodic_band(x, tile, 1.0, 0.03, fp),
            _periodic_band(y, tile, 0.0, 0.03, fp) + _periodic_band(y, tile, 1.0, 0.03, fp),
        )
        blur = np.clip(f32(2.0) * fp / tile - f32(0.5), 0.0, 1.0)
        walk_value = (
            f32(0.6) + f32(0.1) * tint * (f32(1.0) - blur) + f32(0.15) * grain - f32(0.2) * joints
        )
        albedo = walk_value[:, None] * np.array([1.0, 0.98, 0.94], f32)
        kerb_top = edge < 0.3
        albedo[kerb_top] = (f32(0.7) + f32(0.2) * grain[kerb_top])[:, None]

        inner = np.flatnonzero(top & (edge >= walk))
        if len(inner):
            lot_kind = lot[inner]
            xi, yi, fpi = x[inner], y[inner], fp[inner]
            grass = (f32(0.55) + f32(1.2) * noise.fbm(xi, yi, fpi, 2.0, octaves=5))[
                :, None
            ] * np.array([0.25, 0.42, 0.14], f32)
            gravel_noise = noise.fbm(xi + 300.0, yi, fpi, 12.0, octaves=3)
            gravel = (f32(0.5) + f32(0.9) * gravel_noise)[:, None] * np.array(
                [0.58, 0.54, 0.48], f32
            )
            paving_joints = np.maximum(
                _periodic_band(xi, 1.3, 0.0, 0.02, fpi) + _periodic_band(xi, 1.3, 1, 0.02, fpi),
                _periodic_band(yi, 1.3, 0.0, 0.02, fpi) + _periodic_band(yi, 1.3, 1, 0.02, fpi),
            )
            paving = (f32(0.5) + f32(0.25) * gravel_noise - f32(0.15) * paving_joints)[
                :, None
            ] * np.array([0.95, 0.92, 0.88], f32)
            albedo[inner] = np.where(
                (lot_kind == LotKind.GRASS)[:, None],
                grass,
                np.where((lot_kind == LotKind.GRAVEL)[:, None], gravel, paving),
            )

        sides = np.flatnonzero(~top)
        if len(sides):
            stone = f32(0.62) + f32(0.25) * noise.fbm(
                u[sides], w[sides] * 3.0, fp[sides], 3.0, octaves=3
            )
            stone -= f32(0.2) * _periodic_band(u[sides], 1.0, 0.0, 0.01, fp[sides])
            albedo[sides] = stone[:, None]
        return albedo

    def _car(self, material, u, w, width, height, top, axis, fp, colour, params):
        """Cars: painted body with door seams, lights and a dark sill; glazed cabin with
        pillars; dark wheels with hubs."""
        f32 = np.float32
        noise = self.noise
        car_axis = params[:, 0].astype(np.int64)  # 0: car along x, 1: along y
        side_face = ~top & (axis == 1 - car_axis)  # faces parallel to the car's length
        end_face = ~top & ~side_face
        shine = noise.fbm(u, w, fp, 1.5, octaves=2)
        if material == Material.WHEEL:
            hub = _band(np.hypot(u - 0.33, w - 0.32), 0.0, 0.17, fp) * side_face
            return f32(0.05) + (f32(0.55) - f32(0.05)) * hub[:, None] * np.ones(3, f32)
        albedo = colour * (f32(1.0) + f32(0.12) * shine)[:, None]
        if material == Material.CAR_CABIN:
            glass = _band(w, height * 0.47, height * 0.37, fp) * ~top
            pillars = (
                _band(u, 0.0, 0.1, fp) + _band(u, width, 0.1, fp) + _band(u, width / 2, 0.07, fp)
            ) * side_face + (_band(u, 0.0, 0.12, fp) + _band(u, width, 0.12, fp)) * end_face
            glass *= f32(1.0) - np.clip(pillars, 0.0, 1.0)
            tint = f32(0.1) + f32(0.15) * np.clip(shine + f32(0.5), 0.0, 1.0)
            pane = tint[:, None] * np.array([1.0, 1.05, 1.15], f32)
            return albedo + (pane - albedo) * glass[:, None]
        sill = (w < 0.12) & ~top
        albedo[sill] *= f32(0.45)
        seams = (_band(u, width * 0.36, 0.012, fp) + _band(u, width * 0.62, 0.012, fp)) * side_face
        albedo *= (f32(1.0) - f32(0.7) * seams)[:, None]
        lights = (
            (_band(u, 0.28, 0.16, fp) + _band(u, width - 0.28, 0.16, fp))
            * _band(w, 0.45, 0.07, fp)
            * end_face
        )
        return albedo + (np.array([0.9, 0.85, 0.7], f32) - albedo) * lights[:, None]

    def _foliage(self, point, colour, fp):
        """Leaves: two crossed noise planes through the 3D point, clumps and hue variation."""
        f32 = np.float32
        noise = self.noise
        x, y, z = point[:, 0], point[:, 1], point[:, 2]
        leaves = noise.fbm(x + 0.7 * z, y - 0.6 * z, fp, 3.0, octaves=4) + noise.fbm(
            y + 0.5 * z + 50.0, x + 0.8 * z, fp, 3.0, octaves=4
        )
        clumps = noise.fbm(x - z, y + z, fp, 0.8, octaves=2)
        shade = f32(0.55) + f32(1.1) * leaves + f32(0.5) * clumps
        hue = np.stack(
            [f32(0.95) + f32(0.3) * clumps, np.ones_like(clumps), f32(0.9) - f32(0.2) * clumps],
            axis=1,
        )
        return colour * shade[:, None] * hue
