"""The x87 state a signal frame keeps survives a nested signal delivered on an
alternate stack at a higher address (vm/linux/signals.py _forget_frames_below): only
frames below on the same stack are ones a handler left by longjmp. Oracle: the same
static i386 program run natively."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linux.kit import build, run_native, run_pyvm  # noqa: E402

HERE = Path(__file__).parent


def test_a_frame_below_an_alternate_stack_keeps_its_x87_state(tmp_path):
    exe = build("altframe28", where=HERE)
    native = run_native(exe, cwd=tmp_path)
    assert native.stdout == b"alternate stack above: 1\nr=1.000000\n"
    vm = run_pyvm(exe, cwd=tmp_path)
    assert (vm.stdout, vm.status) == (native.stdout, native.status)
