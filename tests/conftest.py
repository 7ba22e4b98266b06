"""Shared test helpers: oracle tools fail (not skip) under CI=true when missing."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str) -> str:
    """Return the path of an oracle tool; skip locally, fail under CI when it is missing."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"oracle tool {name!r} is missing under CI")
        pytest.skip(f"{name} not installed")
    return path


def require_module(name: str):
    """Import an oracle Python module; skip locally, fail under CI when it is missing."""
    try:
        return __import__(name)
    except ImportError:
        if IN_CI:
            pytest.fail(f"oracle module {name!r} is missing under CI")
        pytest.skip(f"{name} not installed")
