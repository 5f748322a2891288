"""Start-up time of the command line: ``actsearch --help``, ``--version`` and ``validate``, per source tree.

Each command runs in a fresh interpreter; trees are measured alternately (A, B, A, B, ...) so a busy machine
slows both alike. The median of the repeats is printed, with the heavy modules each command imported.

    python benchmarks/cli_startup.py                       # this checkout
    python benchmarks/cli_startup.py --tree before=/tmp/old --tree after=.   # side by side
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "--help": ["--help"],
    "--version": ["--version"],
    "validate": ["validate", "studies/quickstart.yaml"],
}
PROBE = (
    "import sys, time\nstart = time.perf_counter()\nfrom actsearch.cli import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    "heavy = [m for m in ('torch', 'ray', 'optuna') if m in sys.modules]\n"
    "print('IMPORTED', ','.join(heavy) or '-', file=sys.stderr)\n"
)


def measure(tree: Path, argv: list[str]) -> tuple[float, str]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    imported = next((line.split()[1] for line in done.stderr.splitlines() if line.startswith("IMPORTED")), "?")
    return seconds, imported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=PATH", help="source tree (repeatable)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.tree) or {"this": "."}
    trees = {name: Path(path).resolve() for name, path in trees.items()}
    print(f"{'command':<10} " + " ".join(f"{name + ' (s)':>14} {'imports':>18}" for name in trees))
    for label, argv in COMMANDS.items():
        times: dict[str, list[float]] = {name: [] for name in trees}
        imported: dict[str, str] = {}
        for _ in range(args.repeats):
            for name, tree in trees.items():
                seconds, imported[name] = measure(tree, argv)
                times[name].append(seconds)
        print(f"{label:<10} " + " ".join(f"{statistics.median(times[n]):>14.2f} {imported[n]:>18}" for n in trees))


if __name__ == "__main__":
    main()
