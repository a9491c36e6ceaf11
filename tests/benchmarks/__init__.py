"""Speed, size and load benchmarks: `python -m tests.benchmarks` (or `make bench`) writes docs/benchmarks.md.

Not part of the test run. Each figure is a median with min and max over repeated runs;
each ratio is measured in the same run, the two sides interleaved, as the median of the
per-round ratios.
"""
