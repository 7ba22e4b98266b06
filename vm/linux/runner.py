"""``pyvm prog`` for Linux i386 ELF programs (and, through :func:`run_process`, flat
binaries: vm/linux/flat.py): options to a first process, then the kernel's scheduler
until that process ends. The exit status is the program's own, or 128 + the
signal that killed it, as a shell reports it."""

from __future__ import annotations

import os
import sys
from typing import Callable, List, Optional

from formats.envswitch import env_switch
from formats.outputs import open_run_output
from vm.linux.abi import PARENT_PID
from vm.linux.interp import load_interpreter
from vm.linux.kernel import Kernel
from vm.linux.limits import std_streams, stop_check
from vm.linux.loader import LoadError, prepare
from vm.linux.process import Process
from vm.options import (
    EXIT_BAD_FILE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OUTPUT_LIMIT,
    EXIT_TIMEOUT,
    Deadline,
    OutputBudget,
    RunOptions,
    TimedOut,
    budgeted_text,
)
from vm.sandbox import Sandbox
from vm.stats import RunClock
from vm.x86.hooks import set_tracer
from vm.x86.trace import Tracer, register_dump


def environment(opts: RunOptions) -> List[bytes]:
    """The guest's environment: the host's (unless --clear-env), then each --env K=V."""
    env = {} if opts.clear_env else dict(os.environb)
    for item in opts.env:
        key, sep, value = item.partition("=")
        env[os.fsencode(key)] = os.fsencode(value)
    return [k + b"=" + v for k, v in env.items()]


def run_elf(path: str, data: bytes, opts: RunOptions) -> int:
    """Run an i386 Linux program (static, or dynamic with its interpreter from the
    guest's root); returns the exit status."""
    if opts.max_steps is not None and opts.max_steps < 1:
        return _fail(path, f"--max-steps must be at least 1, not {opts.max_steps}")
    try:
        image = prepare(data)
    except LoadError as e:
        return _fail(path, str(e))

    def start(kernel: Kernel, proc: Process, sandbox: Sandbox) -> None:
        host = os.path.realpath(path)
        img = image
        try:
            img = kernel.image_for(host, data)
        except OSError:
            pass                        # keep the image parsed from data
        proc.exe_host_path = host
        proc.comm = os.fsencode(os.path.basename(path))[:15]
        proc.exe_guest_path = sandbox.to_guest(host) or path
        argv = [os.fsencode(path)] + [os.fsencode(a) for a in opts.args]
        interp = None
        if img.interp is not None:          # dynamic: ld.so from the guest's root
            try:
                interp = load_interpreter(kernel, sandbox, img.interp)
            except LoadError as e:
                raise OSError(e.errno, str(e)) from None
        proc.start_image(img, argv, environment(opts), os.fsencode(path), interp)

    return run_process(path, opts, start)


def _fail(path: str, message: str) -> int:
    print(f"pyvm: {path}: {message}", file=sys.stderr)
    return EXIT_BAD_FILE


def run_process(path: str, opts: RunOptions,
                start: Callable[[Kernel, Process, Sandbox], None],
                finish: Optional[Callable[[Kernel, Process, int], None]] = None,
                memory_limit: Optional[int] = None) -> int:
    """Run a first process on a new kernel with the limits of ``opts`` (sandbox,
    --max-steps, --timeout, --max-output, --max-procs, --memory, --trace, --regs,
    --stats) until it ends; returns pyvm's exit status. ``start`` puts the program in
    the process (it may raise MemoryError or OSError: the program cannot start);
    ``finish`` sees the status before --regs and --stats are printed."""
    err = sys.stderr

    def fail(message: str) -> int:
        print(f"pyvm: {path}: {message}", file=err)
        return EXIT_BAD_FILE

    if opts.max_steps is not None and opts.max_steps < 1:
        return fail(f"--max-steps must be at least 1, not {opts.max_steps}")
    for d in [opts.root] if opts.root else []:
        if not os.path.isdir(d):
            return fail(f"--root {d}: not a directory")
    try:
        sandbox = Sandbox(root=opts.root, writable=tuple(opts.allow_write))
    except OSError as e:
        return fail(f"cannot set up the file-system view: {e}")
    trace_file = None
    tracer = None
    budget = OutputBudget(opts.max_output)      # (the trace draws on it too: see execute)
    if opts.trace or opts.trace_file:
        if opts.trace_file:
            try:
                trace_file = open_run_output(opts.trace_file, budget=budget)
            except OSError as e:
                return fail(f"cannot write {opts.trace_file}: {e.strerror or e}")
            tracer = Tracer(trace_file)
        else:
            tracer = Tracer(budgeted_text(err, budget))
    kernel = Kernel(path, err, tracer, opts.max_steps,
                    max_procs=getattr(opts, "max_procs", 64),
                    memory_limit=memory_limit if memory_limit is not None
                    else getattr(opts, "memory", None), seed=getattr(opts, "seed", None))
    deadline = Deadline(opts.timeout)
    kernel.stop_check = stop_check(kernel, deadline, budget)
    if budget.limit is not None:    # the guest's files draw on it too (a full disk)
        kernel.output_budget = budget
    proc = Process(kernel, kernel.new_pid(), PARENT_PID, std_streams(budget, opts.std_fds),
                   sandbox)
    proc.umask = os.umask(0o022)
    os.umask(proc.umask)
    try:
        start(kernel, proc, sandbox)
    except MemoryError:
        return fail("cannot allocate the guest's memory")
    except OSError as e:
        return fail(f"cannot start: {e.strerror or e}")
    set_tracer(proc.machine, tracer)     # keeps code hooks a vm.run setup() added
    kernel.add(proc)
    clock = RunClock()
    try:
        with deadline:
            status = kernel.run()
        # (the trace draws on --max-output as its buffer is written: before the check)
        if tracer is not None:
            tracer.flush()
        if trace_file is not None:
            trace_file.flush()
        if budget.exceeded and status != EXIT_OUTPUT_LIMIT:   # ended after its last write
            status = kernel.stop_check()
    except TimedOut:                # waiting in a host call (stdin, a sleep)
        print(f"pyvm: {path}: {deadline.message()}", file=err)
        status = EXIT_TIMEOUT
    except KeyboardInterrupt:
        m = kernel.current_machine() or proc.machine
        where = f" at 0x{m.eip:08x}" if m is not None else ""
        print(f"pyvm: {path}: interrupted{where}", file=err)
        if m is not None:
            print(register_dump(m), file=err)
        status = EXIT_INTERRUPTED
    except Exception as e:          # a bug in pyvm: one line, not a traceback
        if env_switch("PYVM_DEBUG"):
            raise
        m = kernel.current_machine()
        where = f" at 0x{m.eip:08x}" if m is not None else ""
        print(f"pyvm: {path}: internal error{where}: {type(e).__name__}: {e} "
              "(a bug in pyvm; PYVM_DEBUG=1 shows the traceback)", file=err)
        status = EXIT_INTERNAL
    finally:
        if tracer is not None:
            tracer.flush()
        if trace_file is not None:
            trace_file.close()
    if finish is not None:
        finish(kernel, proc, status)
    if opts.regs and proc.machine is not None:
        print(register_dump(proc.machine), file=err)
    if opts.stats:
        clock.report(kernel.steps, err)
    return status
