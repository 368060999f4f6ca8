"""Benchmarks (`make bench`): rating throughput, memory and pipeline ratios, measured in one run.

Placeholder until the rating engine exists; it exits 0 so `make bench` works from day one.
"""

from __future__ import annotations


def main() -> int:
    print("no benchmarks yet")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
