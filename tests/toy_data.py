"""What a test does when Fashion-MNIST is missing: skip, or fail where the data was promised.

``tools/run_tests.sh`` provides the files before the suite runs and sets ``REQUIRE_FASHION_MNIST=1``; a
toy-world test that still finds nothing then fails rather than being skipped among the passes.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_ENV = "REQUIRE_FASHION_MNIST"


def missing_fashion_mnist(reason: str) -> None:
    """Skip the test, or fail it when ``REQUIRE_FASHION_MNIST=1``."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: the toy-world data was expected here)", pytrace=False)
    pytest.skip(f"{reason}; `bash tools/provide_fashion_mnist.sh` installs or downloads it")
