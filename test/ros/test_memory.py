"""The heap trimmer: trims at most once per period, never when off, and glibc's malloc_trim
really gives freed pages back."""

import pytest

from la_pose_ros.memory import MALLOC_TRIM, HeapTrimmer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_trims_at_most_once_per_period():
    calls, clock = [], FakeClock()
    trimmer = HeapTrimmer(0.25, trim=calls.append, clock=clock)
    assert trimmer.maybe_trim()  # the first frame trims
    clock.now += 0.1
    assert not trimmer.maybe_trim()
    clock.now += 0.15
    assert trimmer.maybe_trim()
    assert calls == [0, 0] and trimmer.count == 2


def test_period_zero_is_off_and_negative_is_an_error():
    calls = []
    trimmer = HeapTrimmer(0.0, trim=calls.append)
    assert not trimmer.enabled and not trimmer.maybe_trim() and calls == []
    with pytest.raises(ValueError, match=r"model\.memory_trim_period_s must be 0 or more"):
        HeapTrimmer(-1.0)


def test_no_malloc_trim_in_the_c_library_means_off():
    trimmer = HeapTrimmer(0.25, trim=None)
    assert not trimmer.enabled and not trimmer.maybe_trim()


@pytest.mark.skipif(MALLOC_TRIM is None, reason="the C library has no malloc_trim (not glibc)")
def test_malloc_trim_returns_freed_pages():
    """Frame-size buffers (466 KB, a KITTI frame) freed in a worker thread between small
    allocations that stay live: glibc keeps their pages in the thread's arena (RSS does not
    fall); the trim gives them back."""
    import threading

    def rss_mb() -> float:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

    live = []

    def churn() -> None:
        for _ in range(3):  # the first frees raise glibc's mmap threshold past a frame
            frames = []
            for _ in range(64):
                frames.append(bytearray(466_616))
                live.append(bytearray(1000))  # stays: the freed frames are not the heap's top
            frames.clear()

    thread = threading.Thread(target=churn)
    thread.start()
    thread.join()
    before = rss_mb()
    assert HeapTrimmer(0.25).maybe_trim()
    assert before - rss_mb() > 10.0  # of the 30 MB freed
