"""Process-wide settings of pyvm's own console entry points (not of library callers)."""

from __future__ import annotations

import atexit
import gc
import sys
from typing import Callable, NoReturn


def quiet_gc() -> None:
    """Fewer cyclic-collector passes: the objects made while starting (modules, the
    decoder's tables) are never scanned again, and young objects are collected after
    1,000,000 allocations (net of those freed) instead of 700. A short run makes
    hundreds of thousands of small objects (modules, instances, code, tuples), nearly all
    of them kept: the default passes over them and over the start-up heap were ~10% of a
    warm glibc hello world, with 10,000 still 12 ms of a cold one, and with 100,000 six
    passes that freed almost nothing, 3% of a cold one (46 M instructions; none now). A long run
    scans each kept object in a young pass all the same, whatever the threshold. Also
    turns the collector back on where ``python -m vm.linux`` turned it off while pyvm's
    modules were imported."""
    if hasattr(gc, "freeze") and hasattr(gc, "set_threshold"):     # (not PyPy's collector)
        gc.freeze()
        gc.set_threshold(1_000_000, 10, 10)
        # and at exit: the interpreter's shutdown passes over every object left were 3%
        # of a cold hello world. pyvm's own clean-up is explicit (files closed, the code
        # cache committed), and a cycle's finalizer has nothing left to do when the
        # process ends
        atexit.register(gc.freeze)
    gc.enable()


_closed_std: set = set()      # which of host fds 0-2 were closed when pyvm started


def cover_std_fds() -> None:
    """Point each of host fds 0-2 that is closed (``pyvm <&-``) at /dev/null, before
    pyvm opens anything: the next open would get that number, so a program file, the
    code cache or a trace file would become the guest's stdin (its read(0) gave the ELF
    bytes) or its stdout. The guests still see them closed (closed_std_fds: the Linux
    personality leaves its guest's descriptor out: EBADF, as natively)."""
    import os
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        null = os.open(os.devnull, os.O_RDWR)       # the lowest free number: ``fd``
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        _closed_std.add(fd)


def closed_std_fds() -> frozenset:
    """The host's standard descriptors that were closed at start (cover_std_fds)."""
    return frozenset(_closed_std)


def status_of(main: Callable[[], object]) -> int:
    """``main()``'s exit status, as ``sys.exit`` would make it of a return or a
    SystemExit (None: 0; not an int: printed, 1), stdout and stderr flushed after.
    Shared by the click entry points (vm/entry.py) and the click-free plain command
    line (vm/runfile.py), which must end alike."""
    cover_std_fds()
    try:
        rv = main()
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if not isinstance(code, int):
            print(code, file=sys.stderr)
            return 1
        return code
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):   # (None: closed at start)
                pass
    return rv if isinstance(rv, int) else 0


def run_entry(main: Callable[[], int]) -> NoReturn:
    """A console entry point's process (``pyvm``, ``python -m vm.cli``, ``python -m
    vm.linux``), after its PyPy re-execution and imports: the collector settings, the
    front end, then the code cache's saving in a forked process; exits with main()'s
    status."""
    cover_std_fds()
    quiet_gc()
    from formats.outputs import OutputWriteError
    try:
        status = main()
    except OutputWriteError as e:    # (a front end without its own report: python -m vm.linux)
        print(f"pyvm: {e}", file=sys.stderr)
        status = 1
    save_in_background()
    exit_now(status)


def exit_now(status: int) -> NoReturn:
    """End the process as ``sys.exit(status)`` would, without the interpreter's teardown:
    the exit hooks run (the code cache's saving, when no forked process took it over),
    stdout and stderr are flushed, then ``os._exit``. The teardown (every module's
    objects released one by one) was ~10 ms of a warm glibc hello world and ~30 ms of a
    cold one, where the forked saver shares the heap and each page the teardown touches
    is first copied. pyvm closes what it writes itself (trace files, the cache). The
    usual exit stays wherever this one could be told apart: a caller that could catch
    the SystemExit (:func:`_outermost`), other threads alive (sys.exit waits for them), a
    status os._exit cannot give as is, or a standard stream that cannot be flushed (its
    error is then reported as Python reports it)."""
    import os
    import threading
    if not (isinstance(status, int) and 0 <= status <= 255) or \
            threading.active_count() != 1 or not _outermost(sys._getframe(1)):
        sys.exit(status)
    atexit._run_exitfuncs()     # (and forgets them: none runs twice)
    try:
        for f in (sys.stdout, sys.stderr):
            if f is not None:
                f.flush()
    except Exception:           # (e.g. EPIPE, ENOSPC: the teardown's flush reports it)
        sys.exit(status)
    os._exit(status)


def _outermost(frame) -> bool:
    """Whether the calls around ``frame`` are only the program's start: pyvm's entry
    points (vm/), runpy running ``python -m``, and the outermost code (a console
    script, ``-c``), with no tracer or profiler (a debugger, coverage, cProfile writing
    its report after the run). Anything else could catch the SystemExit and go on."""
    import os
    if sys.gettrace() is not None or sys.getprofile() is not None:
        return False
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    while frame.f_back is not None:
        code = frame.f_code
        name = os.path.basename(code.co_filename)
        if name in ("runpy.py", "<frozen runpy>"):
            if code.co_name not in ("_run_module_as_main", "_run_code"):
                return False
        elif not os.path.abspath(code.co_filename).startswith(here):
            return False
        frame = frame.f_back
    return True


SAVE_LIMIT = 30.0       # seconds a forked saver may live, waiting for the lock included


class _Late(BaseException):
    """In a forked saver past SAVE_LIMIT: raised wherever it is (not an Exception, so no
    ``except Exception`` of the saving code swallows it)."""


def _late(signum, frame) -> None:
    raise _Late


def save_in_background() -> bool:
    """After the guest has exited: leave what is left to save in the code cache (this
    run's first-tier record, new templates, blocks not yet written: some 20 ms of a
    cold glibc hello world) to a forked process, so that whoever waits for this one
    (a shell, a pipe's reader) need not. True when such a process took it over: the
    caller exits as usual, without saving.

    The child closes every file it inherited (the guest's output pipes see their end
    when this process exits), has stdin/stdout/stderr on /dev/null, runs only pyvm's
    saving code and leaves with ``os._exit``. It holds the cache's lock file
    (CodeCache.lock_path) until it is done, and a run opening the cache waits for that
    (codecache._wait_for_saving), so the next run never misses what this one made. The
    lock is taken here before the fork when it is free; when another run's saver holds
    it (parallel runs, ``make -j``), this process exits at once all the same and its
    child waits for the lock as a starting run would (SAVE_WAIT), then saves nothing. The child lives SAVE_LIMIT seconds at most: then it
    stops where it is and leaves (the alarm's exception unwinds it). Entries are
    written in one SQLite transaction (one cut short is rolled back by the next run to
    open the file) and the template library by an atomic rename (a temporary file
    cut short is removed), so no run ever sees half of either.
    Saving stays in this process without fork, with other threads running, with
    nothing to save, or with ``PYVM_BACKGROUND_SAVE=0``."""
    import os

    from formats.envswitch import env_switch
    if not env_switch("PYVM_BACKGROUND_SAVE", True) or not hasattr(os, "fork"):
        return False
    import threading
    if threading.active_count() != 1:
        return False
    from vm.x86 import codecache, tier0
    cache = codecache._cache
    if cache is None or not (cache.pending or tier0.unsaved()):
        return False
    # (None: another run's saver has it, or no lock file can be had: the child tries)
    lock = codecache.lock_saving(cache, exclusive=True, wait=0)
    try:
        for f in (sys.stdout, sys.stderr):
            if f is not None:
                f.flush()
        pid = os.fork()
    except (OSError, ValueError):
        if lock is not None:
            os.close(lock)
        return False
    # (in the child too: were the alarm's exception to escape its os._exit, an exit by
    # the usual way must not save all over again)
    atexit.unregister(tier0._save_all)
    atexit.unregister(cache.flush)
    if pid:
        if lock is not None:
            os.close(lock)                  # (the child's copy keeps it locked)
        return True
    try:                                    # the child
        # (imported here, not before the fork: ~0.7 ms of the process waited for)
        import signal
        signal.signal(signal.SIGALRM, _late)
        signal.setitimer(signal.ITIMER_REAL, SAVE_LIMIT)
        keep = -1 if lock is None else lock
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        try:        # (the files open; not up to the limit: PyPy closes one by one)
            fds = [int(x) for x in os.listdir("/proc/self/fd")]
        except (OSError, ValueError):       # (no /proc: every one up to the limit)
            os.closerange(3, max(keep, 3))
            os.closerange(max(keep + 1, 3), os.sysconf("SC_OPEN_MAX"))
            fds = []
        for fd in fds:
            if fd > 2 and fd != keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        # (another run's saver: wait for it as a run starting would, then give up, so
        # that a burst of runs does not park a saver each behind one another)
        if lock is None and codecache.lock_saving(cache, exclusive=True) is None:
            return                          # (no lock file to be had: nothing saved)
        cache.reopen()
        tier0._save_all()
        cache.flush()
    finally:
        os._exit(0)
