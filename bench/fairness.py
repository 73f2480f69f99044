"""Two processes writing flat out to one SQLite file: how the commits are shared.

    .venv/bin/python -m bench.fairness                 # 20 s
    .venv/bin/python -m bench.fairness --seconds 60

Each process (tests/race_worker.py, mode `write`) runs small write transactions back
to back through the store's engine; reported per process: commits, share, the longest
and the 99th-percentile wait for the write lock. See bench/README.md.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from storage.db import upgrade
from tests.test_races import _race


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'fair.db'}"
        upgrade(url)
        results = _race(*(["write", url, tag, str(args.seconds)] for tag in ("a", "b")))
    total = sum(r["commits"] for r in results)
    print(f"{args.seconds:.0f} s, {total} commits ({total / args.seconds:.0f}/s)")
    for tag, r in zip("ab", results, strict=True):
        print(f"process {tag}: {r['commits']} commits ({r['commits'] / total:.1%}), "
              f"longest wait {r['max_wait'] * 1000:.1f} ms, p99 {r['p99_wait'] * 1000:.2f} ms")


if __name__ == "__main__":
    main()
