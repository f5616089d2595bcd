"""Benchmarks of the running service: ``python -m benchmarks`` (``make bench``).

Each stage drives the real server (uvicorn, one worker) as a child process,
on a fresh database per engine, and the runner writes every number with the
machine it ran on to ``benchmarks/results/latest.json``.
"""
