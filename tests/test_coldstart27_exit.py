"""pyvm's entry points end with os._exit (vm/startup.py exit_now: no interpreter teardown,
~30 ms of a cold glibc hello world). What a caller sees must be what ``sys.exit``
gives: the same output, exit hooks, exit status, the same report of a standard stream
that cannot be flushed, and other threads waited for.

Oracle: the same ``main`` ended by CPython's (or PyPy's) own ``sys.exit`` and teardown, in
a child process of the running interpreter (with the same collector settings)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

MAINS = {
    "output": "def main():\n    print('out ' * 3000)\n    print('err', file=sys.stderr)\n"
              "    return 3\n",
    "hooks": "def main():\n    import atexit\n"
             "    atexit.register(lambda: print('first hook'))\n"
             "    atexit.register(lambda: sys.stdout.write('last hook\\n'))\n"
             "    sys.stdout.write('body\\n')\n    return 0\n",
    "wide status": "def main():\n    print('x')\n    return 300\n",
    "negative status": "def main():\n    return -1\n",
    "thread": "def main():\n    import threading, time\n"
              "    def late():\n        time.sleep(0.3)\n        print('from the thread')\n"
              "    threading.Thread(target=late).start()\n    return 5\n",
}

ENDS = {
    "run_entry": "from vm.startup import run_entry\nrun_entry(main)\n",
    # (with run_entry's collector settings, which decide what a teardown finds)
    "sys.exit": "from vm.startup import quiet_gc\nquiet_gc()\nsys.exit(main())\n",
}


def _run(body: str, end: str, stdout=subprocess.PIPE) -> tuple:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYVM_CODE_CACHE": "0"}
    env.pop("PYTHONUNBUFFERED", None)       # (stdout buffered, as a user's is)
    r = subprocess.run([sys.executable, "-c", "import sys\n" + body + ENDS[end]], env=env,
                       stdout=stdout, stderr=subprocess.PIPE, timeout=60)
    return r.returncode, r.stdout, r.stderr


@pytest.mark.parametrize("case", sorted(MAINS))
def test_exit_as_sys_exit_gives_it(case):
    mine = _run(MAINS[case], "run_entry")
    assert mine == _run(MAINS[case], "sys.exit")
    assert mine[1] or case == "negative status"        # (the output was not lost)


def test_an_unflushable_stdout_is_reported_as_python_reports_it():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    body = "def main():\n    print('lost ' * 100)\n    return 0\n"
    with open("/dev/full", "wb") as full:
        mine = _run(body, "run_entry", stdout=full)
        python = _run(body, "sys.exit", stdout=full)
    assert mine == python
    assert mine[0] == 120 and b"No space left on device" in mine[2]


def test_a_caller_that_catches_the_exit_or_profiles_the_run_sees_sys_exit(tmp_path):
    """Under a caller that catches the SystemExit and goes on (runpy.run_module in a
    try), or a profiler that writes its report after the run (cProfile -o), the exit is
    sys.exit's: the caller's code runs and its status is the process's."""
    body = MAINS["output"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYVM_CODE_CACHE": "0"}
    seen = []
    for end in ("run_entry", "sys.exit"):
        (tmp_path / "entry.py").write_text("import sys\n" + body + ENDS[end])
        caught = (f"import runpy, sys\nsys.path.insert(0, {str(tmp_path)!r})\n"
                  "try:\n    runpy.run_module('entry', run_name='__main__')\n"
                  "except SystemExit as e:\n    print('caught', e.code)\n")
        r = subprocess.run([sys.executable, "-c", caught], env=env, capture_output=True,
                           timeout=60)
        seen.append((r.returncode, r.stdout, r.stderr))
    assert seen[0] == seen[1] and seen[0][1].endswith(b"caught 3\n")
    assert seen[0][0] == 0
    statuses = []
    for end in ("run_entry", "sys.exit"):
        (tmp_path / "entry.py").write_text("import sys\n" + body + ENDS[end])
        profile = tmp_path / f"{end}.prof"
        r = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(profile),
                            str(tmp_path / "entry.py")], env=env, capture_output=True,
                           timeout=60)
        statuses.append(r.returncode)
        assert profile.stat().st_size > 0           # (written after the run)
    assert statuses[0] == statuses[1]
