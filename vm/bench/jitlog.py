"""The JIT's view of a pyvm run under PyPy: ``pypy3 -m vm.bench.jitlog [--log FILE]
PROGRAM ARGS...`` runs the program with PyPy's log on and summarises it.

A plain ``PYPYLOG=... pyvm PROGRAM`` logs nothing: PyPy drops PYPYLOG from the environment
at start-up, so the process pypy_tuning.tune_gc re-executes with a larger nursery logs
nothing, and vm/startup.py ends the run without PyPy's shutdown, which writes the summary
and the loops' run counts. So the child here gets the nursery already set (no
re-execution) and runs ``vm.linux`` in a frame that catches the SystemExit.

The summary weighs every compiled loop, bridge and entry by how often it ran
(``jit-backend-counts``): operations per guest instruction, the residual calls and the
allocations that remain in the compiled code, and what the entry preambles cost (an
operation before a trace's first bytecode: a block entered from the dispatcher loads its
frame's locals there, one per parameter).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
from typing import Optional

from vm.bench.real import STATS, _env

CATEGORIES = "jit-summary,jit-log-opt,jit-backend-counts,jit-abort-log"
RUNNER = ("import runpy, sys\nsys.argv = ['vm.linux'] + sys.argv[1:]\n"
          "try:\n    runpy.run_module('vm.linux', run_name='__main__', alter_sys=True)\n"
          "except SystemExit as e:\n    status = e.code\n")
_OP = re.compile(r"\+\d+: (?:[a-z]\d+ = )?([a-z_]+)\((.*)")
_SUMMARY = re.compile(r"^(Total # of loops|Total # of bridges|abort: trace too long|"
                      r"Tracing|Backend|TOTAL):\s*(\S+)(?:\s+(\S+))?")


def run_logged(argv: list, log: str, stdin: bytes = b"",
               python: str = sys.executable) -> tuple:
    """(status, stderr text) of ``python -m vm.linux --stats argv`` with PyPy's log in
    ``log`` (the code cache off, as the benchmark runs)."""
    env = _env({"PYPYLOG": f"{CATEGORIES}:{log}", "PYPY_GC_NURSERY": "64MB"})
    proc = subprocess.run([python, "-c", RUNNER, "--stats", *argv], input=stdin,
                          capture_output=True, env=env, timeout=3600)
    return proc.returncode, proc.stderr.decode(errors="replace")


def _sections(lines: list) -> tuple:
    """(run counts by name, [(header, op lines)] of every loop and bridge logged)."""
    counts: dict = {}
    sections = []
    cur: Optional[list] = None
    in_counts = False
    for ln in lines:
        if "{jit-backend-counts" in ln:
            in_counts = True
        elif "jit-backend-counts}" in ln:
            in_counts = False
        elif in_counts and ":" in ln:
            k, v = ln.rsplit(":", 1)
            if v.strip().isdigit():
                counts[k.strip()] = int(v)
        elif "{jit-log-opt-loop" in ln or "{jit-log-opt-bridge" in ln:
            cur = []
        elif "jit-log-opt-loop}" in ln or "jit-log-opt-bridge}" in ln:
            if cur is not None:
                sections.append(cur)
            cur = None
        elif cur is not None:
            cur.append(ln)
    return counts, sections


def _where(merge_point: str) -> str:
    m = re.search(r"'(.*)'\)", merge_point)
    text = m.group(1) if m else "?"
    text = re.sub(r"<x86 block 0x[0-9a-f]+>:\d+-\d+", "<block>", text)
    text = re.sub(r"<x86 tier0>:\d+-\d+", "<tier0>", text)
    return re.sub(r"~#\d+ ", " ", text)


def summarise(text: str, instructions: int = 0) -> dict:
    """The weighted view of a PYPYLOG file's text (see the module's doc)."""
    lines = text.splitlines()
    counts, sections = _sections(lines)
    ops: collections.Counter = collections.Counter()
    calls: collections.Counter = collections.Counter()
    allocs: collections.Counter = collections.Counter()
    places: collections.Counter = collections.Counter()
    preamble = 0
    for sec in sections:
        head = next((ln for ln in sec if ln.startswith("# ")), "")
        loop = re.search(r"# Loop (\d+)", head)
        bridge = re.search(r"bridge out of Guard (0x[0-9a-f]+)", head)
        n = counts.get(f"bridge {int(bridge.group(1), 16)}", 0) if bridge else \
            counts.get(f"entry {loop.group(1)}", 0) if loop else 0
        where = None
        for ln in sec:
            if ln.startswith("debug_merge_point"):
                where = _where(ln)
                continue
            m = _OP.match(ln)
            if m is None:
                continue
            name, rest = m.groups()
            if name == "label":
                t = re.search(r"descr=TargetToken\((\d+)\)", rest)
                if t:
                    n = counts.get(f"TargetToken({t.group(1)})", n)
                continue
            ops[name] += n
            if where is None:
                preamble += n
            if name.startswith("call") and name != "call_assembler_r":
                c = re.match(r"ConstClass\(([^)]*)\)|(\d+)", rest)
                target = (c.group(1) or f"<function at {c.group(2)}>") if c else "?"
                calls[f"{target[:60]} ({where or 'entry'})"[:110]] += n
            elif name.startswith("new"):
                d = re.search(r"descr=<([^>]*)>", rest)
                allocs[f"{name} {d.group(1) if d else ''}"[:60]] += n
                places[where or "entry"] += n
    summary = {}
    for ln in lines:
        m = _SUMMARY.match(ln.strip())
        if m:
            summary[m.group(1)] = m.group(3) or m.group(2)
    total = sum(ops.values())
    return {"instructions": instructions, "weighted_ops": total,
            "ops_per_instruction": total / instructions if instructions else 0.0,
            "entry_ops": preamble, "summary": summary, "ops": ops.most_common(),
            "calls": calls.most_common(), "allocations": allocs.most_common(),
            "allocation_places": places.most_common()}


def report(view: dict, top: int = 12, out=print) -> None:
    n = view["instructions"] or 1
    s = view["summary"]
    out(f"loops {s.get('Total # of loops', '?')}, bridges {s.get('Total # of bridges', '?')}, "
        f"aborted as too long {s.get('abort: trace too long', '?')}; tracing "
        f"{s.get('Tracing', '?')} s, backend {s.get('Backend', '?')} s")
    out(f"{view['weighted_ops']:,} operations run in compiled code: "
        f"{view['ops_per_instruction']:.1f} per guest instruction, "
        f"{view['entry_ops'] / n:.1f} of them in entry preambles")
    for title, key in (("operations", "ops"), ("residual calls", "calls"),
                       ("allocations", "allocations"),
                       ("allocations by place", "allocation_places")):
        out(f"{title} (per 1,000 guest instructions):")
        for name, c in view[key][:top]:
            out(f"  {1000 * c / n:10.2f}  {name}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vm.bench.jitlog")
    ap.add_argument("--log", help="keep PyPy's log in this file")
    ap.add_argument("--top", type=int, default=12, help="rows per table (at least 1)")
    ap.add_argument("program", nargs=argparse.REMAINDER)
    ns = ap.parse_args(argv)
    if not ns.program:
        ap.error("a program to run is needed")
    if ns.top < 1:
        ap.error("--top needs N >= 1")
    if sys.implementation.name != "pypy":
        ap.error("run this under PyPy (PYTHONPATH=. pypy3 -m vm.bench.jitlog ...)")
    fd, tmp = tempfile.mkstemp(prefix="pyvm-jitlog-")
    os.close(fd)
    log = ns.log or tmp
    try:
        status, err = run_logged(ns.program, log, sys.stdin.buffer.read()
                                 if not sys.stdin.isatty() else b"")
        m = STATS.search(err)
        if m is None:
            tail = err.strip().splitlines()[-1:] or ["?"]
            print(f"python -m vm.bench.jitlog: error: the run failed: {tail[0]}",
                  file=sys.stderr)
            return 1
        try:
            with open(log, errors="replace") as f:
                view = summarise(f.read(), int(m.group(1)))
        except OSError as e:
            print(f"python -m vm.bench.jitlog: error: {log}: {e.strerror}", file=sys.stderr)
            return 1
    finally:
        os.unlink(tmp)
    print(m.group(0))
    report(view, ns.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
