"""``pyvm-tools cputest PATH...``: run real-mode hardware test vectors (the format of
../shared/cputests/README.md) on the x86 CPU and report per-opcode failures.

Each test is one instruction followed by HLT, with the registers and the bytes of memory
around it; we run until that HLT and compare registers (flags masked as the README says:
bits 12-15 and what the instruction leaves undefined, from the table's ``@flags``) and
the memory the test lists.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Iterable, Optional

from asm.x86.decoder import DecodeError, decode
from asm.x86.operands import Imm, Mem, Reg
from asm.x86.table import flag_effect
from vm.x86.machine import Machine
from vm.x86.state import GPR16, SREGS

TEST_MEMORY = 16 << 20          # the suite's 24-bit address bus, no 1 MiB wrap
REGS16 = GPR16
IGNORED_FLAGS = 0xF000          # real-mode FLAGS bits 12-15 start out random

def _ss_overrun(insn, test: dict) -> bool:
    """The expected #GP comes from an access through SS past offset 0xFFFF."""
    if test.get("exception") != 13:
        return False
    regs = test["initial"]["regs"]
    for op in insn.operands:
        if isinstance(op, Mem):
            off = op.disp
            for name, mult in op.regs:
                off += regs[name] * mult
            off &= 0xFFFF
            size = op.size or (4 if insn.form.mnemonic != "bound" else 2 * insn.osize // 8)
            if off > 0x10000 - size:
                return op.seg == "ss" or not op.seg and op.regs[0][0] == "bp"
    return insn.form.mnemonic in ("push", "pop", "leave", "pusha", "popa", "call", "ret",
                                  "enter", "pushf", "popf", "iret", "retf")


def _has_fpu() -> bool:
    try:
        import vm.x86.fpu  # noqa: F401
    except ImportError:
        return False
    return True


def _lock_refused(insn, test: dict) -> bool:
    return insn.lock and not insn.form.lockable(insn.operands)


# The one place that says what is skipped and why: (reason, applies(file stem, test,
# decoded instruction)). Everything else must pass.
SKIPS = (
    ("x87 escape without an x87 unit in this build (vm/x86/fpu.py): #UD here, while the "
     "test machine, without a coprocessor either, let ESC read its operand and go on",
     lambda stem, t, insn: stem == "D8" and not _has_fpu()),
    ("LOCK on an instruction that cannot be locked: #UD from the 386 on, the 286 "
     "ignored it",
     lambda stem, t, insn: insn is not None and _lock_refused(insn, t)),
    ("MOV to/from segment register 4 or 5: #UD on the 286, FS/GS on the 386",
     lambda stem, t, insn: insn is not None and insn.form.mnemonic == "mov" and any(
         isinstance(o, Reg) and o.name in ("fs", "gs") for o in insn.operands)),
    ("instruction longer than 10 bytes: #GP on the 286, the 386 allows 15",
     lambda stem, t, insn: insn is not None and insn.length > 10),
    ("stack-segment access past offset 0xFFFF: #GP(13) on the 286, #SS(12) on the 386",
     lambda stem, t, insn: insn is not None and _ss_overrun(insn, t)),
    ("INS/OUTS at offset 0xFFFF: the 286 advances SI/DI before its #GP, the 386 faults "
     "first",
     lambda stem, t, insn: insn is not None and t.get("exception") == 13 and
     insn.form.mnemonic[:3] in ("ins", "out")),
)


def skip_reason(stem: str, test: dict) -> Optional[str]:
    """Why a test does not apply to a 386-class CPU, or None."""
    try:
        insn = decode(bytes(test["bytes"]), 0, 16, 0)
    except DecodeError:
        insn = None
    for reason, applies in SKIPS:
        if applies(stem, test, insn):
            return reason
    return None


def flags_mask(test: dict) -> int:
    """FLAGS bits to compare for this test."""
    code = bytes(test["bytes"])
    try:
        insn = decode(code, 0, 16, 0)
    except DecodeError:
        return 0xFFFF & ~IGNORED_FLAGS
    count = None
    mn = insn.form.mnemonic
    if mn in ("rol", "ror", "rcl", "rcr", "shl", "sal", "shr", "sar"):
        src = insn.operands[1]
        if isinstance(src, Imm):
            count = src.value & 0x1F
        elif isinstance(src, Reg):
            count = test["initial"]["regs"]["cx"] & 0x1F
    undefined = flag_effect(mn).undefined_mask(count)
    if test.get("exception") is not None and mn not in ("div", "idiv"):
        undefined = 0       # the instruction faulted before changing the flags
    return 0xFFFF & ~IGNORED_FLAGS & ~undefined


def flags_image(test: dict, stem: str) -> tuple:
    """Linear addresses of the FLAGS image the instruction pushed (PUSHF, or an
    interrupt/exception frame), compared with the same mask as FLAGS."""
    final = dict(test["initial"]["regs"])
    final.update(test["final"]["regs"])
    sp, ss = final["sp"], final["ss"]
    if test.get("exception") is not None:
        off = (sp + 4) & 0xFFFF
    elif stem == "9C":
        off = sp
    else:
        return ()
    return ((ss << 4) + off, (ss << 4) + ((off + 1) & 0xFFFF))


class Runner:
    """Runs tests on one reusable real-mode machine."""

    def __init__(self):
        self.m = Machine("real", TEST_MEMORY)

    def run(self, stem: str, test: dict) -> Optional[str]:
        """None when the test passes, else a description of the differences."""
        m = self.m
        cpu = m.cpu
        data = m.mem.data
        m.flush_translations()
        init = test["initial"]
        regs = init["regs"]
        touched = []
        for addr, value in init["ram"]:
            data[addr] = value
            touched.append(addr)
        for n, name in enumerate(REGS16):
            cpu.r[n] = regs[name]
        for name in SREGS[:4]:
            m.set_segment(name, regs[name])
        m.set_segment("fs", 0)
        m.set_segment("gs", 0)
        cpu.eip = regs["ip"]
        cpu.set_eflags(regs["flags"])
        cpu.idt_base = 0
        try:
            stop = m.run(12)
        except Exception as e:          # an emulator bug: report it as a failure
            stop = None
            problem = f"{type(e).__name__}: {e}"
        else:
            problem = None if stop.reason == "halt" else f"stopped: {stop}"
        final = test["final"]
        diffs = []
        if problem:
            diffs.append(problem)
        fmask = flags_mask(test)
        for name in REGS16 + SREGS[:4] + ("ip", "flags"):
            want = final["regs"].get(name, regs[name])
            got = m.reg(name)
            if name == "flags":
                if (got ^ want) & fmask:
                    diffs.append(f"flags {got:04x} want {want:04x} (mask {fmask:04x})")
            elif got != want:
                diffs.append(f"{name} {got:04x} want {want:04x}")
        image = flags_image(test, stem)
        for addr, want in final["ram"]:
            got = data[addr]
            mask = 0xFF
            if image and addr == image[0]:
                mask = fmask & 0xFF
            elif image and addr == image[1]:
                mask = fmask >> 8
            if (got ^ want) & mask:
                diffs.append(f"[{addr:06x}] {got:02x} want {want:02x}")
            touched.append(addr)
        for addr in touched:
            data[addr] = 0
        return "; ".join(diffs) if diffs else None


def load(path: Path) -> list:
    with gzip.open(path, "rt") as f:
        return json.load(f)["tests"]


def test_files(paths: Iterable[str]) -> list:
    out = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(sorted(path.glob("*.json.gz")))
        else:
            out.append(path)
    return out


def run_paths(paths: Iterable[str], out=None, verbose: bool = False) -> tuple:
    """Run every test file; returns (passed, failed, skipped, failures by stem)."""
    runner = Runner()
    passed = failed = skipped = 0
    failures: dict = {}
    skips: dict = {}
    for path in test_files(paths):
        stem = path.name.split(".json")[0]
        try:
            tests = load(path)
        except (OSError, ValueError, KeyError, EOFError) as e:
            raise CputestError(f"{path}: cannot read test vectors: {e}") from None
        for t in tests:
            reason = skip_reason(stem, t)
            if reason:
                skipped += 1
                skips.setdefault(reason, []).append(stem)
                continue
            problem = runner.run(stem, t)
            if problem is None:
                passed += 1
            else:
                failed += 1
                failures.setdefault(stem, []).append((t["idx"], t["name"], problem))
    if out is not None:
        for stem, items in sorted(failures.items()):
            out.write(f"{stem}: {len(items)} failed\n")
            for idx, name, problem in items[: None if verbose else 3]:
                out.write(f"  #{idx} {name}: {problem}\n")
        for reason, stems in sorted(skips.items()):
            out.write(f"skipped {len(stems)} ({', '.join(sorted(set(stems)))}): {reason}\n")
    return passed, failed, skipped, failures


def default_path() -> Path:
    return Path(__file__).resolve().parent.parent.parent / "shared" / "cputests" / "80286-real"


class CputestError(Exception):
    pass


def main(paths, verbose: bool = False) -> int:
    """Run the vectors, print the report; returns the exit status."""
    if not paths:
        d = default_path()
        if not d.is_dir():
            raise CputestError(f"no test vectors given and {d} does not exist")
        paths = (str(d),)
    passed, failed, skipped, _ = run_paths(paths, sys.stdout, verbose)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


try:        # the CLI needs click; the runner itself does not (PyPy)
    import click
except ImportError:
    click = None

if click is not None:
    @click.command()
    @click.argument("paths", nargs=-1, type=click.Path(exists=True))
    @click.option("-v", "--verbose", is_flag=True, help="List every failing test.")
    def command(paths, verbose) -> None:
        """Run real-mode CPU test vectors (default: ../shared/cputests/80286-real)."""
        try:
            status = main(paths, verbose)
        except CputestError as e:
            raise click.ClickException(str(e)) from None
        sys.exit(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
