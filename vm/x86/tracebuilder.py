"""The Builder of a trace along several recorded paths ("trace trees", traces.py).

All paths start at the trace's key and share a prefix; where a branch sends some of
them another way than the first (the main path), the code for those is emitted inline
as an arm under the branch's condition, before the main path goes on::

    if <the other direction>:
        <the arm's instructions>          # back at the start: c += n; ...; continue
    <the main path's instructions>        # or it leaves: write back, return key

An arm is translated with the Builder's state as it was at the branch (register
versions, lazy flags, stack checks, names bound) and that state is restored for the
main path afterwards: nothing an arm binds is seen after it, as it always ends (a
``continue`` to the loop's head or a ``return``). Everything else is as for any trace:
every branch is guarded, faults are precise (an arm's instructions carry their index
along their own path), invalidated code leaves at the next jump, and every iteration
runs at most MAX_LOOP instructions (``span``: past MAX_BLOCK, the step limit's margin,
the trace checks on entry that one iteration fits: Translator.translate_trace).

Traces are flat-mode code (traces.py makes none in real or protected mode), which checks no
``ALIVE`` cell (Builder.alive_checks): a write over a trace's code stops it before its
next instruction (smc.py).
"""

from __future__ import annotations

from typing import Optional

from vm.x86.emit import (
    STOP_TEST,
    Builder,
    Lazy,
    const,
    negate,
)
from vm.x86.traces import MAX_LOOP


class TraceBuilder(Builder):
    """A Builder following ``paths`` (lists of keys, one per instruction; paths[0] the
    main one); ``any_helper``: a helper call is somewhere in the trace (from the first
    pass), so every loop back keeps r[] current for it."""

    def __init__(self, tr, key: int, loop_mode: bool, lz_needed: bool, carried: frozenset,
                 paths: list, any_helper: bool = False):
        super().__init__(tr, key, False, loop_mode, lz_needed, carried)
        self.paths = paths
        self.group = list(range(len(paths)))    # the paths that reach this point
        self.path = paths[0]
        self.indent = 0         # arms' lines sit this much deeper than their depth says
        self.in_arm = 0
        self.any_helper = any_helper
        self.span = 0           # the most instructions of one iteration, any path

    def trace_next(self) -> Optional[int]:
        """As Builder's, a loop's iteration up to MAX_LOOP instructions (not MAX_BLOCK)."""
        path = self.path
        if self.pos + 1 >= len(path) or self.ninsn >= MAX_LOOP:
            return None
        return path[self.pos + 1]

    def emit(self, text: str) -> None:
        self.depth += self.indent
        try:
            super().emit(text)
        finally:
            self.depth -= self.indent

    # -- where the paths part ----------------------------------------------------------------
    def _split(self, main: int) -> tuple:
        """(paths going on to main, {other key: paths going there}) of this group."""
        nxt = self.pos + 1
        keep: list = []
        other: dict = {}
        for i in self.group:
            p = self.paths[i]
            if nxt < len(p):
                if p[nxt] == main:
                    keep.append(i)
                else:
                    other.setdefault(p[nxt], []).append(i)
        return keep, other

    def end_cond(self, cond: str, ip_taken: int, ip_fall: int) -> None:
        kt, kf = self.key_of(ip_taken), self.key_of(ip_fall)
        nk = self.trace_next()
        if kt != kf and nk in (kt, kf) and self.key0 not in (kt, kf):
            keep, other = self._split(nk)
            ko, ipo = (kf, ip_fall) if nk == kt else (kt, ip_taken)
            arm = other.get(ko)
            if arm:
                self.group = keep
                self._arm(negate(cond) if ko == kf else cond, ipo, ko, arm)
                self._follow(ip_taken if nk == kt else ip_fall, None, nk)
                return
        elif kt != kf and self.key0 in (kt, kf):
            # a branch back to the start: the paths that go the other way are an arm
            ko, ipo = (kf, ip_fall) if kt == self.key0 else (kt, ip_taken)
            nxt = self.pos + 1
            arm = [i for i in self.group
                   if nxt < len(self.paths[i]) and self.paths[i][nxt] == ko]
            if arm and self.ninsn < MAX_LOOP:
                self._arm(negate(cond) if ko == kf else cond, ipo, ko, arm)
        super().end_cond(cond, ip_taken, ip_fall)

    def end_indirect(self, key_expr: str) -> None:
        nk = self.trace_next()
        if nk is not None:
            keep, other = self._split(nk)
            other.pop(self.key0, None)      # a loop back the other way: the guard leaves
            if other:
                v = self.bind(key_expr)
                self.group = keep
                if const(v) is not None:    # a known target: no other path gets here
                    super().end_indirect(v)
                    return
                if nk == self.key0:
                    for k, arm in other.items():
                        self._arm(f"{v} == {k:#x}", k & 0xFFFFFFFF, k, arm)
                    super().end_indirect(v)
                    return
                # the main path's target costs one test; the others (in the order they
                # were found: the more frequent first) one more each
                self.may_fault()
                self.emit(f"if {v} != {nk:#x}:")
                self.indent += 1
                for k, arm in other.items():
                    self._arm(f"{v} == {k:#x}", k & 0xFFFFFFFF, k, arm)
                self.emit("\n".join(self._exit(v)))
                self.indent -= 1
                self._follow(nk & 0xFFFFFFFF, None, nk)
                return
        super().end_indirect(key_expr)

    def _arm(self, cond: str, ip: int, key: int, group: list) -> None:
        """The code of the paths in group, which go to key (at ip) when cond holds."""
        self.may_fault()
        self.emit(f"if {cond}:")
        saved = self._save()
        self.indent += 1
        self.in_arm += 1
        self.group = group
        self.path = self.paths[group[0]]
        self.pos += 1
        self.tr._walk(self, ip)
        self.indent -= 1
        self.in_arm -= 1
        self._restore(saved)

    def _save(self) -> tuple:
        fl = self.fl
        if isinstance(fl, Lazy):        # (res_of fills in res: not for the main path)
            copy = Lazy(fl.op, fl.res, fl.a, fl.b)
            copy.pending, copy.cf, copy.keep = fl.pending, fl.cf, fl.keep
            fl = copy
        return (fl, list(self.ver), set(self.dirty), dict(self._cse), dict(self.aff),
                set(self.stkbase), dict(self._chk),
                [(c, dict(c.known)) for c in self._chk.values()], set(self.visited),
                list(self.returns), self.pos, self.ninsn, self.followed, self.has_store,
                self._knows, self.path, self.group, self.insn, self.ip, self.nip,
                self._lin, self.idx)

    def _restore(self, s: tuple) -> None:
        (self.fl, self.ver, self.dirty, self._cse, self.aff, self.stkbase, self._chk, known,
         self.visited, self.returns, self.pos, self.ninsn, self.followed, self.has_store,
         self._knows, self.path, self.group, self.insn, self.ip, self.nip, self._lin,
         self.idx) = s
        for c, k in known:
            c.known = k
        self.ended = False
        self.follow = None

    # -- ends --------------------------------------------------------------------------------
    def _leave(self, key: str, counted: bool = False) -> list:
        """Lines that leave from inside the loop body or an arm."""
        if counted:
            st = "ST[0] += c"
        else:
            st = f"ST[0] += {'c + ' if self.loop_mode else ''}{self.ninsn}"
        return self._wb_lines() + [st, f"return {key}"]

    def _finish(self, tail: list) -> None:
        self.span = max(self.span, self.ninsn)
        if not (self.in_arm or self.loop_mode):
            super()._finish(tail)
            return
        # inside the loop's body (an arm, or the main path of a loop only an arm makes)
        self.ended = True
        self.emit("\n".join(self._leave("")[:-1] + tail))
        if not self.in_arm:
            self._patch_checks()

    def _end_loop(self, cond: str, key_fall: Optional[int]) -> None:
        self.span = max(self.span, self.ninsn)
        if not self.in_arm:
            super()._end_loop(cond, key_fall)     # (its tail tests STOP_TEST)
            return
        self.ended = True
        self.loop = True
        if not self.loop_mode:
            return          # the translator runs a second pass in loop mode
        out = [f"c += {self.ninsn}"]
        if cond != "True":
            kf = key_fall if isinstance(key_fall, str) else f"{key_fall:#x}"
            out += [f"if {negate(cond)}:"] + ["    " + x for x in self._leave(kf, True)]
        out += [STOP_TEST] + \
            ["    " + x for x in self._leave(f"{self.key0:#x}", True)]
        self._loop_flags(out)
        # as Builder._end_loop: the entry names take this path's last versions
        self._loop_phis(out, self.any_helper or self.has_helper)
        out.append("continue")
        self.emit("\n".join(out))

