"""Host open flags that Python's ``os`` may lack. PyPy's ``os`` has no ``O_PATH``
(CPython's has it on Linux); the kernel takes it all the same, so Linux's value is
given here, once, for ``formats`` and ``vm`` alike (``vm`` imports ``formats``, never
the reverse)."""

from __future__ import annotations

import os

# open a file or directory only to name it: nothing is read, no device is opened
O_PATH: int = getattr(os, "O_PATH", 0o10000000)
