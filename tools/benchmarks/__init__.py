"""Benchmarks behind the speed claims of the docs; each prints a ratio against a baseline timed in the
same run (``python -m tools.benchmarks.<name> --help``)."""
