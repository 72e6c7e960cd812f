"""Procedural driving world: streets rendered by ray casting, with exact poses and intrinsics.

The project's built-in data for demos, tests and unlimited pretraining clips. Modules:

- :mod:`.world`: street grid, city blocks (buildings, cars, poles, trees), lighting, fog;
- :mod:`.trajectory`: routes with turns, speed profiles with stops and reversing, lane
  changes, camera mount;
- :mod:`.renderer`: pinhole ray caster with procedural textures fixed to the world;
- :mod:`.sequence`: :class:`SyntheticSequence` (the ``KittiSequence`` interface, in memory)
  and :func:`write_synthetic_sequence` (a KITTI-layout folder).

Everything is deterministic given the seed. No ROS, no GPU.
"""

from la_pose_core.data.synthetic.renderer import Renderer, RenderOutput, intrinsics_from_fov
from la_pose_core.data.synthetic.sequence import (
    DEFAULT_SIZE,
    SyntheticSequence,
    parse_size,
    write_synthetic_sequence,
)
from la_pose_core.data.synthetic.trajectory import (
    TrajectoryConfig,
    VehicleTrajectory,
    generate_trajectory,
)
from la_pose_core.data.synthetic.world import (
    BoxSet,
    Lighting,
    Material,
    SphereSet,
    StreetGrid,
    World,
    WorldStyle,
)

__all__ = [
    "DEFAULT_SIZE",
    "BoxSet",
    "Lighting",
    "Material",
    "RenderOutput",
    "Renderer",
    "SphereSet",
    "StreetGrid",
    "SyntheticSequence",
    "TrajectoryConfig",
    "VehicleTrajectory",
    "World",
    "WorldStyle",
    "generate_trajectory",
    "intrinsics_from_fov",
    "parse_size",
    "write_synthetic_sequence",
]
