"""The C allocator's settings for a process that keeps every intermediate of its forward passes.

A forward pass with the full cache allocates a few hundred buffers (tens of MB in all for a
pretrained model) and frees them together when the cache is dropped. With glibc's defaults,
buffers over 128 KB come straight from the kernel and go back to it when freed (mmap and munmap,
with a threshold that adapts), and the free top of the heap is given back too, so every pass
faults its memory in afresh: about 10,000 page faults per SmolLM2 pass at 128 tokens, measured
here. And every thread that allocates can get an arena of its own, so a server's memory grows
with its thread pool. Fixed settings keep freed buffers for the next pass and cap the arenas.

Also here: the Python garbage collector's threshold (tune_gc), whose every collection pauses all threads, and how
long a thread may keep the GIL while another waits for it (tune_switch_interval).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import sys

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def tune_allocator(mmap_threshold: int = 32 << 20, trim_threshold: int = 512 << 20, arena_max: int = 2) -> bool:
    """Serve buffers under `mmap_threshold` bytes from the heap, keep up to `trim_threshold` bytes of it
    free for reuse, and use at most `arena_max` arenas. Call it early, before threads allocate.

    Returns False (and changes nothing) where the C library is not glibc."""
    mallopt = getattr(_libc(), "mallopt", None)  # none: no C library found, or one without mallopt (musl)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    settings = ((M_MMAP_THRESHOLD, mmap_threshold), (M_TRIM_THRESHOLD, trim_threshold), (M_ARENA_MAX, arena_max))
    return all([mallopt(param, value) == 1 for param, value in settings])


def trim_allocator() -> bool:
    """Give the free pages of the heap back to the kernel (glibc's malloc_trim). With the settings above, memory
    freed by dropped results stays in the process, in holes that later results of other sizes fill only in
    part; trimming now and then keeps the process's memory near what it holds. False where there is no glibc."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True


# The garbage collector's first threshold: a collection of the youngest objects after this many more container
# allocations than frees (CPython's default: 700), and an older generation every 10 of the younger one. Each
# collection holds the GIL, and a full one walks every object not frozen (service.load_now freezes the models): one
# SmolLM2 report (about a million containers, alive until it is written) ran 171 collections, one of them full, for
# 91 ms in all and up to 58 ms at once; with 20,000, 5 collections, none full, 31 ms in all (measured).
GC_THRESHOLD = 20_000


def tune_gc(threshold: int = GC_THRESHOLD) -> None:
    """Collect the youngest generation after `threshold` net container allocations (the older ones as before)."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)


# How long a thread keeps the GIL while another waits for it, before it is asked to let go (CPython's default: 5 ms).
# The event loop answers /api/health between the model threads' Python work, and waits up to this long at each turn
# it needs the GIL. The load test (tests/backend/test_load.py: 40 SmolLM2 continuations, 20 reports and 20
# comparisons at once), slowest health answer and p99: with 5 ms, 52 and 87 ms, p99 34 ms in both runs; with 1 ms,
# 44, 40 and 28 ms, p99 7, 18 and 6 ms. Two threads analysing sentences at once ran as fast with either (3.2-3.4 ms
# a sentence of the default model, 69-75 ms of SmolLM2; measured).
SWITCH_INTERVAL_S = 0.001


def tune_switch_interval(seconds: float = SWITCH_INTERVAL_S) -> None:
    """Ask a thread that holds the GIL to let go after `seconds` when another waits for it (sys.setswitchinterval)."""
    sys.setswitchinterval(seconds)
