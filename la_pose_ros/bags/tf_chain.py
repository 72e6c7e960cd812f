"""Poses of one frame relative to another from a bag's ``/tf`` and ``/tf_static``.

A small offline stand-in for a tf2 buffer: the transforms form a tree; the path from ``parent``
to ``child`` is found once, and at every stamp of the chain's most frequent dynamic edge each
edge is looked up at its nearest stamp (static edges are constant). No interpolation: poses of
edges published at different rates are matched within ``tolerance_s``, and stamps where an edge
has nothing that close are left out.
"""

from collections import defaultdict, deque

import numpy as np

from la_pose_core.geometry import inverse, make_pose, matrix_from_quaternion

TF_TOPICS = ("/tf", "/tf_static")


def transform_matrix(transform) -> np.ndarray:
    q, t = transform.rotation, transform.translation
    return make_pose(matrix_from_quaternion([q.x, q.y, q.z, q.w]), [t.x, t.y, t.z])


def find_path(edges, parent: str, child: str) -> list[tuple[str, str, bool]]:
    """Edges ``(a, b, forward)`` from ``parent`` to ``child`` through the tree (BFS)."""
    neighbours = defaultdict(list)
    for a, b in edges:
        neighbours[a].append((b, (a, b), True))
        neighbours[b].append((a, (a, b), False))
    previous = {parent: None}
    queue = deque([parent])
    while queue:
        frame = queue.popleft()
        for nxt, edge, forward in neighbours[frame]:
            if nxt not in previous:
                previous[nxt] = (frame, edge, forward)
                queue.append(nxt)
    if child not in previous:
        raise ValueError(f"no /tf chain from {parent} to {child} (frames: {sorted(neighbours)})")
    path, frame = [], child
    while previous[frame] is not None:
        frame, edge, forward = previous[frame]
        path.append((*edge, forward))
    return path[::-1]


def read_tf_chain(
    reader, parent: str, child: str, tolerance_s: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """``(N,)`` stamps and ``(N, 4, 4)`` poses ``parent_from_child`` along the /tf tree."""
    dynamic = defaultdict(list)  # (parent, child) -> [(stamp, matrix)]
    static = {}
    connections = [c for c in reader.connections if c.topic in TF_TOPICS]
    for connection, _, rawdata in reader.messages(connections=connections):
        for item in reader.deserialize(rawdata, connection.msgtype).transforms:
            edge = (item.header.frame_id.lstrip("/"), item.child_frame_id.lstrip("/"))
            matrix = transform_matrix(item.transform)
            if connection.topic == "/tf_static":
                static[edge] = matrix
            else:
                stamp = item.header.stamp.sec + item.header.stamp.nanosec * 1e-9
                dynamic[edge].append((stamp, matrix))
    path = find_path(set(dynamic) | set(static), parent.lstrip("/"), child.lstrip("/"))
    tables = {}
    for a, b, _ in path:
        if (a, b) in dynamic:
            entries = sorted(dynamic[(a, b)], key=lambda entry: entry[0])
            tables[(a, b)] = (np.array([e[0] for e in entries]), np.stack([e[1] for e in entries]))
    if not tables:
        raise ValueError(f"the chain {parent} -> {child} is static: it has no poses over time")
    clock_edge = max(tables, key=lambda edge: len(tables[edge][0]))
    stamps_out, poses_out = [], []
    for stamp in tables[clock_edge][0]:
        pose = np.eye(4)
        for a, b, forward in path:
            if (a, b) in tables:
                stamps, matrices = tables[(a, b)]
                index = int(np.argmin(np.abs(stamps - stamp)))
                if abs(stamps[index] - stamp) > tolerance_s:
                    break
                matrix = matrices[index]
            else:
                matrix = static[(a, b)]
            pose = pose @ (matrix if forward else inverse(matrix))
        else:
            stamps_out.append(stamp)
            poses_out.append(pose)
    if not poses_out:
        raise ValueError(f"no stamp where every edge of {parent} -> {child} is known")
    return np.asarray(stamps_out), np.stack(poses_out)
