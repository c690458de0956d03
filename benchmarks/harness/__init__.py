"""The benchmark harness of typedis: every workload, three contenders, one run, one server.

Run it with ``make bench`` (or ``.venv/bin/python -m benchmarks.harness --help``). The method,
and how to add a workload, are in docs/performance.md.
"""
