"""Go's 386 port (GOARCH=386 CGO_ENABLED=0, Debian's golang-go): a hello world, goroutines
with channels, a mutex and sync.WaitGroup (threads, futexes, signals on alternate stacks,
SSE2 and MMX in the runtime), and a sort/map/strings program run natively and under pyvm
with identical stdout and exit status."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from linux.kit import CACHE, HERE, run_native, run_pyvm

GO = HERE.parent / "go"


def go_build(name: str) -> Path:
    """``tests/go/<name>`` built for linux/386 (cached by source hash), with the Go
    build cache and module path in the temporary directory."""
    from conftest import require_tool
    go = require_tool("go")
    src = GO / name / "main.go"
    key = hashlib.sha256(src.read_bytes() + b"386").hexdigest()[:16]
    out = CACHE / key / f"go-{name}"
    if out.exists():
        return out
    work = CACHE / "go-work" / name
    work.mkdir(parents=True, exist_ok=True)
    (work / "main.go").write_bytes(src.read_bytes())
    (work / "go.mod").write_text(f"module {name}\n\ngo 1.19\n")
    env = dict(os.environ, GOARCH="386", GOOS="linux", CGO_ENABLED="0",
               GOCACHE=str(CACHE / "go-cache"), GOPATH=str(CACHE / "go-path"),
               GOFLAGS="-mod=mod", GO111MODULE="on")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    proc = subprocess.run([go, "build", "-o", str(tmp), "."], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode:
        pytest.fail(f"go build failed for {name}:\n{proc.stderr}")
    os.replace(tmp, out)
    return out


@pytest.mark.parametrize("name,args,status", [
    ("hello", (), 0),
    ("goroutines", (), 0),
    ("sorts", (), 0),
    ("sorts", ("exit",), 3),
])
def test_matches_native(name, args, status, tmp_path):
    exe = go_build(name)
    native = run_native(exe, args, tmp_path)
    emulated = run_pyvm(exe, args, tmp_path)
    assert native.status == status, native
    assert emulated.stdout == native.stdout, emulated
    assert emulated.status == native.status, emulated
    assert b"Traceback" not in emulated.stderr, emulated
