"""What a test needs from the machine: in CI, where .ci/run installs everything, a missing tool fails the
test; elsewhere the test skips and says how to install it."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI") == "true"


def require(present: bool, missing: str, install: str) -> None:
    """Go on when `present`; otherwise fail in CI and skip elsewhere, naming what is missing."""
    if present:
        return
    if IN_CI:
        pytest.fail(f"{missing}; CI installs it ({install})")
    pytest.skip(f"{missing} ({install})")
