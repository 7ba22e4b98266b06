"""The first tier (vm/x86/tier0.py): one-instruction blocks from templates shared by
every instruction of the same shape, until a start is hot.

Oracles: Unicorn for the state after every step count and at faults, the native run of
a nasm program that rewrites code it already ran. The template builder's symbols are
checked to refuse every way of looking at a value."""

from __future__ import annotations

import os
import subprocess
import weakref

import pytest
from conftest import require_module, require_tool
from flat32_harness import pyvm, pyvm_state, unicorn, unicorn_state
from test_x86_cpu_asm import asm

from vm.linux.runner import run_elf
from vm.options import RunOptions
from vm.x86 import codecache, tier0
from vm.x86.compiler import Translator
from vm.x86.machine import Machine
from vm.x86.tier0 import Sym, ValueUsed

CODE, DATA, STACK, MEMORY = 0x1000, 0x8000, 0x80000, 0x100000
DEFINED = 0x8D5     # CF PF AF ZF SF OF: defined after every instruction used below

# many instructions of few shapes with different constants (immediates, displacements,
# zero and nonzero, negative, branch targets), each run a few times (under HOT)
SHAPES = """
        mov ebp, 0x8000
        mov ecx, 3
again:  mov eax, 5
        mov eax, 0xffffffff
        add eax, 0x10
        add eax, 0x20
        mov [ebp + 8], eax
        mov [ebp + 12], eax
        mov eax, 0x11111111
        mov ebx, 0x22222222
        add eax, 0x7f
        add ebx, -3
        add eax, 0
        mov [ebp + 4], eax
        mov [ebp + 0x40], ebx
        mov [ebp], ecx
        mov edx, [ebp + 4]
        mov esi, [ebp - 8]
        lea edi, [ebx + ecx * 4 + 0x100]
        lea edi, [edi + ecx * 4 - 0x10]
        shl eax, 3
        shr ebx, 5
        sub edx, [ebp + 0x40]
        cmp edx, 0x1000
        jb below
        xor edx, 0x5a5a
below:  push 0x1234
        push dword [ebp + 4]
        pop esi
        pop edi
        and esi, 0xff00
        or edi, 0x80000000
        test edi, 0x10
        jz skip
        inc edx
skip:   add [ebp + 0x40], ecx
        dec ecx
        jnz again
        int3
"""


def _unicorn(code: bytes):
    return unicorn(code, CODE, STACK, MEMORY)


def _ours(code: bytes) -> Machine:
    return pyvm(code, CODE, STACK, MEMORY)


def _state_uc(emu, X) -> dict:
    return unicorn_state(emu, X, DEFINED)


def _state(m: Machine) -> dict:
    return pyvm_state(m, DEFINED)


def _after_int3(emu, X) -> dict:
    """Unicorn stopped before the closing int3; the run stops after it (a trap)."""
    out = _state_uc(emu, X)
    out["eip"] += 1
    return out


def _new_process(monkeypatch) -> None:
    """The first tier's process-wide state as a new process starts with it."""
    monkeypatch.setattr(tier0, "_shared", {})
    monkeypatch.setattr(tier0, "_disk", {"loaded": False, "blobs": {}, "saved": False})
    monkeypatch.setattr(tier0, "_live", weakref.WeakSet())     # (not other tests' runs)
    # (the template library beside the package: tests/test_x86_tier0_library.py)
    monkeypatch.setenv("PYVM_TIER0_LIBRARY", "0")


@pytest.fixture
def fresh(monkeypatch):
    """No code cache: every template is made in this run."""
    monkeypatch.setattr(codecache, "_opened", True)
    monkeypatch.setattr(codecache, "_cache", None)
    _new_process(monkeypatch)


def test_symbols_refuse_every_look_at_their_value():
    k = Sym("_k1", True)
    d = k & 0xFFFFFFFF
    assert f"{d:#x}" == "(_k1 & 4294967295)" and bool(d)       # a nonzero 32-bit value
    assert f"{(k + 4) << 2:#x}" == "((_k1 + 4) << 2)"
    for look in (lambda: k == 1, lambda: k < 2, lambda: hash(k), lambda: {k},
                 lambda: [0][k], lambda: int(k), lambda: f"{k:08x}", lambda: "%x" % k,  # noqa: UP031
                 lambda: 1 << k, lambda: k >> k, lambda: bool(k + 1),
                 lambda: bool(Sym("_k0")), lambda: k in {1: 2}, lambda: k // 2,
                 lambda: k & 0xFF and 1, lambda: hex(k), lambda: k * 1.5):
        with pytest.raises((ValueUsed, TypeError)):     # (PyPy: TypeError for "%x")
            look()


def test_shared_templates_match_unicorn_at_step_limits(fresh):
    code = asm(SHAPES.replace("mov ecx, 3", "mov ecx, 7"), 32, CODE)
    emu, X = _unicorn(code)
    m = _ours(code)
    made = []
    plain = tier0.Tier0._make

    def counting(self, insn, gen, literal, *general):
        t = plain(self, insn, gen, literal, *general)
        made.append(t)
        return t

    mp = pytest.MonkeyPatch()
    mp.setattr(tier0.Tier0, "_make", counting)
    try:
        n = 0
        while True:     # (a run within MAX_BLOCK of its limit single-steps)
            stop = m.run(49 + n % 13)
            if stop.reason != "limit":
                break
            emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0,
                          count=m.steps - n)
            n = m.steps
            assert _state(m) == _state_uc(emu, X), f"after {n} instructions"
        emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), CODE + len(code) - 1)
        assert stop.reason == "fault" and _state(m) == _after_int3(emu, X)
    finally:
        mp.undo()
    assert m.read(DATA - 16, 0x60) == bytes(emu.mem_read(DATA - 16, 0x60))
    instances = m.tr.tier0.seen         # starts run in the first tier
    assert len(instances) >= 15
    assert len([t for t in made if t is not None]) < len(instances)   # shared


def test_whole_run_matches_unicorn_and_hot_starts_get_real_blocks(fresh):
    src = SHAPES.replace("mov ecx, 3", "mov ecx, 40")
    code = asm(src, 32, CODE)
    emu, X = _unicorn(code)
    m = _ours(code)
    stop = m.run(100_000)
    emu.emu_start(CODE, CODE + len(code) - 1)       # up to the int3
    assert stop.reason == "fault" and _state(m) == _after_int3(emu, X)
    head = CODE + len(asm("mov ebp, 0x8000\nmov ecx, 40", 32, CODE))
    fn = m.tr.cache[head]
    assert not getattr(fn.meta, "tier0", False)         # hot: a real block now
    assert head in m.tr.tier0.hot


@pytest.mark.parametrize("fault", ["load", "store", "push", "rmw"])
def test_fault_in_an_instance_is_precise(fresh, fault):
    """The faulting instruction is the first run of its start: registers, flags and
    eip are those before it, as Unicorn reports them."""
    access = {"load": "mov ebx, [esi + 0x10]", "store": "mov [esi + 0x10], ecx",
              "push": "mov esp, esi\n        push 0x77", "rmw": "add [esi + 0x10], ecx"}
    src = f"""
        mov ecx, 5
        add ecx, 0x7ffffffe
        mov esi, 0x{MEMORY + 0x40:x}
        {access[fault]}
        int3
"""
    code = asm(src, 32, CODE)
    uc = require_module("unicorn")
    emu, X = _unicorn(code)
    with pytest.raises(uc.UcError):
        emu.emu_start(CODE, CODE + len(code))
    m = _ours(code)
    stop = m.run(100)
    assert stop.reason == "fault"
    state = _state(m)
    want = _state_uc(emu, X)
    if fault == "push":     # Unicorn reports the push's esp write before its fault
        want["esp"] = state["esp"]
    assert state == want and m.steps == 3 + (fault == "push")
    assert m.eip in m.tr.tier0.seen and m.eip not in m.tr.cache     # a first run
    assert stop.fault.insn.form.mnemonic in ("mov", "push", "add")


# a program that rewrites an immediate it already ran (the same shape: the same template)
# and runs it again, a few times over, then puts the first one back and runs it once
# more; it prints the sum of what g returned
SELF_MODIFYING = """bits 32
global _start
section .text progbits alloc exec write
_start: xor esi, esi
        mov ecx, 5
top:    call g
        add esi, eax
        lea edx, [ecx * 8 + 3]
        mov [g + 1], edx
        dec ecx
        jnz top
        mov dword [g + 1], 1
        call g
        add esi, eax
        mov [res], esi
        mov eax, 4
        mov ebx, 1
        mov ecx, res
        mov edx, 4
        int 0x80
        mov eax, 1
        xor ebx, ebx
        int 0x80
g:      mov eax, 1
        ret
section .data
res:    dd 0
"""


def _elf(tmp_path, src: str, name: str = "p"):
    """A static i386 executable from nasm source (nasm + ld)."""
    nasm, ld = require_tool("nasm"), require_tool("ld")
    (tmp_path / f"{name}.asm").write_text(src)
    subprocess.run([nasm, "-f", "elf32", str(tmp_path / f"{name}.asm"), "-o",
                    str(tmp_path / f"{name}.o")], check=True)
    exe = tmp_path / name
    subprocess.run([ld, "-m", "elf_i386", "-N", str(tmp_path / f"{name}.o"), "-o", str(exe)],
                   check=True, capture_output=True)
    return exe


def _native(exe) -> bytes:
    native = subprocess.run([str(exe)], capture_output=True, timeout=10)
    assert native.returncode == 0 and len(native.stdout) == 4
    return native.stdout


def _pyvm_elf(tmp_path, exe) -> tuple:
    """(status, output) of exe run by pyvm in this process."""
    out = tmp_path / "out"
    with open(out, "wb") as f, open("/dev/null", "rb") as null:
        status = run_elf(str(exe), exe.read_bytes(),
                         RunOptions(std_fds=(null.fileno(), f.fileno(), f.fileno())))
    return status, out.read_bytes()


def test_code_written_after_its_instance_ran_matches_native(tmp_path, fresh):
    exe = _elf(tmp_path, SELF_MODIFYING)
    assert _pyvm_elf(tmp_path, exe) == (0, _native(exe))


def test_single_steps_and_traced_runs_use_real_blocks(fresh):
    code = asm(SHAPES, 32, CODE)
    emu, X = _unicorn(code)
    m = _ours(code)
    for k in range(60):
        assert m.step() is None
        emu.emu_start(emu.reg_read(X.UC_X86_REG_EIP), 0xFFFFFFF0, count=1)
        assert _state(m) == _state_uc(emu, X), f"step {k}"
    assert not m.tr.cache and m.tr.cache1


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private code cache; returns a function that ends this 'process' (keeps what
    the first tier made) and opens the cache as the next one would."""
    path = str(tmp_path / "blocks.sqlite3")
    secret = os.urandom(32)

    def reopen() -> None:
        for t in list(tier0._live):
            t.save()
        tier0._live.clear()
        if codecache._cache is not None:
            codecache._cache.flush()
        monkeypatch.setattr(codecache, "_cache", codecache.CodeCache(path, secret))
        _new_process(monkeypatch)

    monkeypatch.setattr(codecache, "_opened", True)
    monkeypatch.setattr(codecache, "_cache", codecache.CodeCache(path, secret))
    _new_process(monkeypatch)
    return reopen


def test_warm_run_replays_instances_without_decoding(cache, monkeypatch):
    code = asm(SHAPES, 32, CODE)
    m1 = _ours(code)
    assert m1.run(100_000).reason == "fault"
    cache()
    fetched: list = []
    plain = Translator.fetch

    def counting(self, key, ip):
        fetched.append(ip)
        return plain(self, key, ip)

    monkeypatch.setattr(Translator, "fetch", counting)
    made: list = []
    monkeypatch.setattr(tier0.Tier0, "_make", lambda *a: made.append(a))
    m2 = _ours(code)
    assert m2.run(100_000).reason == "fault"
    assert _state(m2) == _state(m1) and m2.read(DATA - 16, 0x60) == m1.read(DATA - 16, 0x60)
    assert not made and not fetched
    # the same program, an immediate changed before its instruction first runs: that
    # one instruction is decoded again, the others are replayed
    cache()
    fetched.clear()
    at = CODE + code.index(bytes.fromhex("b811111111"))
    m3 = _ours(code)
    m3.tr.translate(CODE)           # the run starts: its record is found
    m3.load(at, bytes.fromhex("b833333333"))
    assert m3.run(100_000).reason == "fault"
    assert set(fetched) == {at} and not made
    emu, X = _unicorn(code.replace(bytes.fromhex("b811111111"), bytes.fromhex("b833333333")))
    emu.emu_start(CODE, CODE + len(code) - 1)
    assert _state(m3) == _after_int3(emu, X)


def test_a_second_machine_uses_the_first_ones_templates(fresh, monkeypatch):
    code = asm(SHAPES, 32, CODE)
    m1 = _ours(code)
    assert m1.run(100_000).reason == "fault"
    made: list = []
    monkeypatch.setattr(tier0.Tier0, "_make", lambda *a: made.append(a))
    m2 = _ours(code)
    assert m2.run(100_000).reason == "fault"
    assert not made and m2.tr.tier0.templates
    emu, X = _unicorn(code)
    emu.emu_start(CODE, CODE + len(code) - 1)
    assert _state(m2) == _after_int3(emu, X) == _state(m1)


def test_the_symbol_builder_begins_an_instruction_as_the_builder_does():
    """_SymBuilder leaves out begin()'s `visited` (an address set) and the address
    comparisons of end_jump/end_cond, which one instruction never needs: anything else
    the Builder starts doing per instruction must be done there too."""
    from vm.x86.emit import Builder
    from vm.x86.tier0 import _SymBuilder
    m = _ours(asm("mov eax, [ebx + 8]\nint3", 32, CODE))
    insn, _ = m.tr.fetch(CODE, CODE)
    plain, sym = Builder(m.tr, CODE, True, False), _SymBuilder(m.tr, CODE, True, False)
    for b in (plain, sym):
        b.begin(insn, CODE, CODE + insn.length, CODE)
    one, two = dict(vars(plain)), dict(vars(sym))
    assert one.pop("visited") == {CODE} and two.pop("visited") == set()
    one.pop("meta"), two.pop("meta")
    assert one == two
    for b in (plain, sym):
        b.end_cond("eax0 == 1", 0x2000, 0x3000)
    assert plain.exit_lines == sym.exit_lines


def _count_replays(monkeypatch) -> list:
    """The instances made from the earlier run's record from now on (appended to)."""
    got: list = []
    plain = tier0.Tier0._replay

    def counting(self, key, i):
        fn = plain(self, key, i)
        if fn is not None:
            got.append(key)
        return fn

    monkeypatch.setattr(tier0.Tier0, "_replay", counting)
    return got


def _count_fetches(monkeypatch) -> list:
    fetched: list = []
    plain = Translator.fetch

    def counting(self, key, ip):
        fetched.append(ip)
        return plain(self, key, ip)

    monkeypatch.setattr(Translator, "fetch", counting)
    return fetched


def test_warm_run_of_code_rewriting_itself_matches_native(tmp_path, cache, monkeypatch):
    """The record holds g as the cold run last made it, as the file has it: the warm run
    replays it, then the guard over g's page dies at the first write there and g's
    instance is made from the bytes then in memory, each time."""
    exe = _elf(tmp_path, SELF_MODIFYING)
    native = _native(exe)
    assert _pyvm_elf(tmp_path, exe) == (0, native)
    cache()
    replayed = _count_replays(monkeypatch)
    assert _pyvm_elf(tmp_path, exe) == (0, native)
    assert len(replayed) > 10           # the rest of the program came from the record


def test_code_changed_between_runs_is_decoded_again(tmp_path, cache, monkeypatch):
    """The program's file changes between a cold and a warm run, past the code at its
    entry that names the record: the instruction there is decoded again (its span
    differs from memory when the run begins), the others replay; the output is the new
    program's."""
    src = """bits 32
global _start
_start: xor esi, esi
        mov ecx, 5
top:    call g
        add esi, eax
        dec ecx
        jnz top
        mov [res], esi
        mov eax, 4
        mov ebx, 1
        mov ecx, res
        mov edx, 4
        int 0x80
        mov eax, 1
        xor ebx, ebx
        int 0x80
        times 0x11000 db 0xcc
g:      mov eax, 1
        ret
section .data
res:    dd 0
"""
    exe = _elf(tmp_path, src)
    assert _pyvm_elf(tmp_path, exe) == (0, _native(exe)) == (0, (5).to_bytes(4, "little"))
    body = exe.read_bytes()
    g = body.index(bytes.fromhex("b801000000c3"))
    assert body.find(bytes.fromhex("b801000000c3"), g + 1) < 0
    exe.write_bytes(body[:g] + bytes.fromhex("b807000000c3") + body[g + 6:])
    assert _native(exe) == (35).to_bytes(4, "little")
    nm = subprocess.run([require_tool("nm"), str(exe)], capture_output=True, text=True,
                        check=True).stdout
    g_at = int(next(line.split()[0] for line in nm.splitlines() if line.endswith(" g")), 16)
    cache()
    replayed = _count_replays(monkeypatch)
    fetched = _count_fetches(monkeypatch)
    assert _pyvm_elf(tmp_path, exe) == (0, (35).to_bytes(4, "little"))
    assert set(fetched) == {g_at} and g_at not in replayed and len(replayed) > 10


@pytest.mark.parametrize("damage", ["junk", "old format", "short"])
def test_a_damaged_record_is_ignored(cache, damage):
    code = asm(SHAPES, 32, CODE)
    m1 = _ours(code)
    assert m1.run(100_000).reason == "fault"
    run_id = m1.tr.tier0.run_id
    cache()
    entry = codecache._cache.get_warm(run_id)
    assert entry is not None and entry[0] == tier0.RECORD
    bad = {"junk": ("junk",), "old format": (1,) + entry[1:],
           "short": (entry[0], entry[1][:-3]) + entry[2:]}[damage]
    codecache._cache.put_warm(run_id, bad)
    codecache._cache.flush()
    m2 = _ours(code)
    assert m2.run(100_000).reason == "fault"
    assert m2.tr.tier0.record is None
    emu, X = _unicorn(code)
    emu.emu_start(CODE, CODE + len(code) - 1)
    assert _state(m2) == _after_int3(emu, X)


def test_fault_in_a_replayed_instance_is_precise(cache, monkeypatch):
    """A warm run faults where the recorded one did not (its data differs): registers,
    flags and eip before the faulting instruction, as Unicorn reports them, and the
    instruction decoded from the record's bytes."""
    src = """
        mov ecx, 5
        add ecx, 0x7ffffffe
        mov esi, [0x20000]
        mov ebx, [esi + 0x10]
        int3
"""
    code = asm(src, 32, CODE)
    m1 = _ours(code)
    m1.load(0x20000, (0x9000).to_bytes(4, "little"))
    assert m1.run(100).reason == "fault" and m1.steps == 5
    cache()
    fetched = _count_fetches(monkeypatch)
    replayed = _count_replays(monkeypatch)
    m2 = _ours(code)
    m2.load(0x20000, (MEMORY + 0x40).to_bytes(4, "little"))
    stop = m2.run(100)
    assert stop.reason == "fault" and m2.steps == 3
    assert not fetched and len(replayed) == 4
    uc = require_module("unicorn")
    emu, X = _unicorn(code)
    emu.mem_write(0x20000, (MEMORY + 0x40).to_bytes(4, "little"))
    with pytest.raises(uc.UcError):
        emu.emu_start(CODE, CODE + len(code))
    assert _state(m2) == _state_uc(emu, X)
    assert stop.fault.insn.form.mnemonic == "mov" and stop.fault.insn.address == m2.eip


class _CountingDB:
    """A code cache's database that counts the statements run on it."""

    def __init__(self, db):
        self.db, self.queries = db, []

    def execute(self, sql, *args):
        self.queries.append(sql)
        return self.db.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.db, name)


def test_hot_starts_get_their_real_blocks_from_the_record(cache, monkeypatch):
    """A warm run reads one entry: the record, which carries the real blocks of the
    starts that were hot, so neither a block is built nor another entry read."""
    code = asm(SHAPES.replace("mov ecx, 3", "mov ecx, 40"), 32, CODE)
    m1 = _ours(code)
    assert m1.run(100_000).reason == "fault"
    assert m1.tr.tier0.real
    cache()
    db = codecache._cache.db = _CountingDB(codecache._cache.db)
    built: list = []
    plain = Translator._build
    monkeypatch.setattr(Translator, "_build", lambda self, *a, **k: built.append(a) or
                        plain(self, *a, **k))
    m2 = _ours(code)
    assert m2.run(100_000).reason == "fault"
    assert not built and len(db.queries) == 1
    assert m2.tr.tier0.real == m1.tr.tier0.real
    emu, X = _unicorn(code)
    emu.emu_start(CODE, CODE + len(code) - 1)
    assert _state(m2) == _after_int3(emu, X)
    assert m2.read(DATA - 16, 0x60) == bytes(emu.mem_read(DATA - 16, 0x60))
