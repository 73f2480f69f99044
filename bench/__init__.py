"""Benchmarks. `python -m bench.pipeline` compares the full Telegram pipeline with a bare aiogram echo."""
