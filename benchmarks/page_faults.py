"""What a minor page fault costs on this machine (Linux), to read the ``page faults per pass`` column of
``benchmarks/activations.py``.

Usage::

    python benchmarks/page_faults.py            # prints a markdown line

glibc returns freed memory at the top of its heap to the system once more than its trim threshold is free
there, and the next allocation of that size touches fresh pages again, one fault per 4 KiB page. Whether an
activation's allocations do this depends on their sizes and order and on what ran before, so in the activation
benchmark it comes and goes between runs. Method: writing one float per page of a fresh anonymous 2 MiB
mapping (every page faults) against writing the same into a mapping already touched; the difference per page,
median of 50 rounds, thread CPU time.
"""

from __future__ import annotations

import argparse
import datetime
import mmap
import resource
import statistics
import time

import numpy as np

SIZE = 2 * 1024 * 1024
PAGE = mmap.PAGESIZE


def _touch(buffer: mmap.mmap) -> float:
    """Seconds to write one float into every page of ``buffer``."""
    pages = np.frombuffer(buffer, dtype=np.float32)[:: PAGE // 4]
    start = time.thread_time()
    pages.fill(1.0)
    return time.thread_time() - start


def fault_cost(rounds: int = 50) -> tuple[float, float]:
    """``(microseconds per fault, faults counted per fresh mapping)``."""
    mapped = mmap.mmap(-1, SIZE)
    _touch(mapped)
    costs, counts = [], []
    for _ in range(rounds):
        fresh = mmap.mmap(-1, SIZE)
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        seconds = _touch(fresh)
        counts.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
        costs.append((seconds - _touch(mapped)) / max(counts[-1], 1))
        fresh.close()
    mapped.close()
    return statistics.median(costs) * 1e6, statistics.median(counts)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    cost, faults = fault_cost()
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    text = (f"`python benchmarks/page_faults.py` ({date}): a minor page fault costs {cost:.2f} us "
            f"({faults:.0f} faults per fresh {SIZE // 1024} KiB mapping of {PAGE} B pages)")
    print(text)
    return text


if __name__ == "__main__":
    main()
