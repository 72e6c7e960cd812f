"""Hand the C heap's freed pages back to the system, so the node's RSS is its live memory.

The node cycles large short-lived buffers: serialised frames (466 KB at KITTI size, 6 MB at
1080p), decoded images, activations. glibc keeps what they free in its per-thread arenas for
reuse, and how much it keeps wanders: measured on the shipped model streaming KITTI frames,
``malloc_trim(0)`` gave back 13-14 MB after every 300 frames, and in a 30-minute soak the node's
RSS stepped up 5.2 MB at one moment and stayed there. A monitor (or a leak check) then cannot
tell retention from a leak. Fixing the allocator's thresholds
(``MALLOC_MMAP_THRESHOLD_``) stops the retention but maps and faults every large buffer anew:
the streaming step went from 15 to 23 ms. Trimming once after a published frame costs the next
step about 3 ms (16.3 -> 19.1 ms) and keeps RSS flat (README, "Real time").

``malloc_trim`` is glibc's; elsewhere (musl, macOS) trimming is off and nothing else changes.
"""

import ctypes
import ctypes.util
import time


def _malloc_trim():
    """glibc's ``int malloc_trim(size_t pad)``, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    try:
        function = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes, function.restype = [ctypes.c_size_t], ctypes.c_int
    return function


MALLOC_TRIM = _malloc_trim()


class HeapTrimmer:
    """``maybe_trim()`` trims the heap when ``period_s`` has passed since the last trim.

    Called after each published frame: at model rate (2 fps) and the default period (0.25 s)
    that is after every frame; at camera rate 4 times a second. ``period_s`` 0 turns it off.
    """

    def __init__(self, period_s: float, trim=MALLOC_TRIM, clock=time.monotonic) -> None:
        if period_s < 0.0:
            raise ValueError(f"model.memory_trim_period_s must be 0 or more, got {period_s}")
        self.trim = trim if period_s > 0.0 else None
        self.period_s = period_s
        self.clock = clock
        self.last = -float("inf")
        self.count = 0  # trims so far (memory_trims on /diagnostics)

    @property
    def enabled(self) -> bool:
        return self.trim is not None

    def maybe_trim(self) -> bool:
        """Trim if due; True when it did."""
        now = self.clock()
        if self.trim is None or now - self.last < self.period_s:
            return False
        self.trim(0)
        self.last = now
        self.count += 1
        return True
