"""``python -m tools.benchmarks``: every method's step and evaluation against its floor."""

from tools.benchmarks.floor_ratios import main

main()
