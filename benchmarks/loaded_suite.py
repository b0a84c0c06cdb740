"""Run the whole test suite while two busy loops keep both cores loaded (issue 12).

    python benchmarks/loaded_suite.py [--busy N] [make target or command...]

Prints the suite's wall time and exit code. The busy loops are stopped however
the suite ends.
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import time


def _spin() -> None:
    while True:
        pass


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=2, help="busy loops to run beside the suite (default 2)")
    parser.add_argument("command", nargs="*", default=["make", "test"])
    args = parser.parse_args(argv)
    loops = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.busy)]
    for loop in loops:
        loop.start()
    started = time.monotonic()
    try:
        code = subprocess.call(args.command)
    finally:
        for loop in loops:
            loop.kill()
    minutes = (time.monotonic() - started) / 60
    print(f"{' '.join(args.command)} beside {args.busy} busy loops: exit {code} in {minutes:.1f} min")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
