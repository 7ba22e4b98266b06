"""On/off switches read from the environment (``PYVM_DISPATCH_STATS=1``...)."""

from __future__ import annotations

import os

_OFF = ("0", "no", "off", "false")


def env_switch(name: str, default: bool = False) -> bool:
    """The switch ``name``: off for 0, no, off, false (any case, spaces around), on for
    any other value, ``default`` when it is unset or empty."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value not in _OFF


def caches_on() -> bool:
    """pyvm's files on disk (code cache, table and template caches, the files kept
    beside its code) are in use: unless ``PYVM_CODE_CACHE`` is off."""
    return env_switch("PYVM_CODE_CACHE", True)
