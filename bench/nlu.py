"""Typed messages: time per message and memory of the recogniser (issue 16: <= 2 ms p99, <= 100 MB).

    .venv/bin/python -m bench.nlu [FILE.csv] [--rounds 5]

Each round builds a fresh recogniser (its word cache empty), then times `understand`
(intent + details) on every row of FILE (default: the evaluation set), in order:
round 1 is "cold" (every word new to the cache), the others "warm". Wall time counts
the other processes of a shared machine too; CPU time (this thread's) does not. Memory is what
loading the data files and one round allocate (tracemalloc), and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import statistics
import time
import tracemalloc
from datetime import date
from pathlib import Path

from bot.company import load_company, product_terms
from bot.config import Settings
from bot.nlu import understand, warm_up
from services.intents import load_intents

DEFAULT = Path(__file__).resolve().parent.parent / "tests" / "data" / "nlu_eval.csv"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", nargs="?", default=str(DEFAULT))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = list(csv.DictReader(Path(args.file).open(encoding="utf-8")))
    settings = Settings()
    tracemalloc.start()
    company = load_company(settings)
    loaded, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()  # it slows every allocation: measured apart below
    today = date(2026, 12, 3)
    for round_ in range(1, args.rounds + 1):
        recogniser = load_intents(settings.data_dir / "intents.yaml")  # empty word cache
        terms = product_terms(company.catalog)
        warm_up(recogniser, terms, today, "CN")  # phone metadata, once per process
        millis, cpu = [], []
        for row in rows:
            started, started_cpu = time.perf_counter(), time.thread_time()
            understand(recogniser, terms, row["text"], row["locale"] or None, today=today, default_region="CN")
            millis.append((time.perf_counter() - started) * 1000)
            cpu.append((time.thread_time() - started_cpu) * 1000)
        waited = sum(w - c > 1.0 for w, c in zip(millis, cpu, strict=True))  # off the CPU for over 1 ms
        print(f"round {round_} ({'cold' if round_ == 1 else 'warm'} word cache): {len(rows)} messages, "
              f"wall p50 {statistics.median(millis):.3f} ms, p99 {_percentile(millis, 0.99):.3f} ms, max {max(millis):.3f} ms; "
              f"CPU p50 {statistics.median(cpu):.3f} ms, p99 {_percentile(cpu, 0.99):.3f} ms, max {max(cpu):.3f} ms; "
              f"{waited} waited > 1 ms for a CPU (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    tracemalloc.start()
    recogniser = load_intents(settings.data_dir / "intents.yaml")
    for row in rows:
        understand(recogniser, terms, row["text"], row["locale"] or None, today=today, default_region="CN")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"memory: company data loaded {loaded / 2**20:.1f} MB; a recogniser and one round {peak / 2**20:.1f} MB at peak (tracemalloc); "
          f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
