"""Block code (vm/x86/emit.py) that skips stack memory work the guest's instructions
repeat, session 28:

- a load through a stack check of bytes the block already loaded through that check is
  the earlier load's value (as a store's value was already forwarded), until a store
  through another base, an overlapping store or a helper call may have changed them;
- in a merged run of direct stack accesses (Builder._merge_accesses) a store that a
  later one in the run overwrites before any load is left out (a call's return address
  that the next push replaces): the slow path keeps every store, and its faults. So
  in the direct form (emit.SlowPath, session 31: each access on a line of its own after
  a check line that leaves the block when it fails), within a run of its accesses.

Oracle: Unicorn (registers, flags, the stack page, the fault point); the shape tests read
the generated source of the block."""

from __future__ import annotations

import re

import pytest
from test_x86_stackpath import CODE, nasm, ours, run_uc, state, state_uc, unicorn

# loads of [esp + 4] and [esp + 8] again and again, with the writes that must end a
# forwarding between them: another base (ebx), a byte inside the word, a string store
# and the loop's own read-modify-write
RELOADS = """
start:  mov ecx, 40
        mov dword [esp + 4], 0x1234
        mov dword [esp + 8], 0x5678
        mov [esp - 40], esp
top:    mov eax, [esp + 4]
        add eax, [esp + 8]
        mov edx, [esp + 4]              ; the same bytes again: eax's load
        mov ebx, [esp - 40]
        add ebx, 4                      ; esp + 4, but not as the block sees it
        mov [ebx], ecx                  ; an alias: the next load reads memory
        mov esi, [esp + 4]
        mov byte [esp + 9], cl          ; a byte of [esp + 8]
        mov edi, [esp + 8]
        add ebp, edx
        add ebp, esi
        add ebp, edi
        add ebp, eax
        push edi
        lea edi, [esp + 8]              ; [esp + 4] before the push
        mov eax, 0x77
        stosd
        pop edi
        add ebp, [esp + 4]
        add [esp + 8], ecx
        add ebp, [esp + 8]
        dec ecx
        jnz top
        jmp done
done:   nop
"""

# a PIC prologue: the thunk's return address on the stack, replaced by the next push
THUNK = """
start:  mov ecx, 40
top:    push ebp
        push edi
        call thunk
        push ebx
        add ebx, 0x10
        pop eax
        pop edi
        pop ebp
        add ebp, eax
        dec ecx
        jnz top
        jmp done
thunk:  mov ebx, [esp]
        ret
done:   nop
"""

# the thunk reads its return address through a base the block cannot follow before
# the push replaces it: the call's store must stay
ALIASED = """
start:  mov ecx, 40
        mov [esp - 64], esp
top:    push ebp
        call thunk
        add ebx, ecx
        push ebx
        pop eax
        pop ebp
        add ebp, eax
        dec ecx
        jnz top
        jmp done
thunk:  mov edx, [esp - 56]
        mov ebx, [edx - 8]
        ret
done:   nop
"""


def _run_both(src: str, tmp_path, esp: int, readonly=()):
    code = nasm(src, tmp_path)
    end = CODE + code.rindex(b"\x90")
    emu, X = unicorn(code, esp, readonly=readonly)
    m = ours(code, esp, readonly=readonly)
    stop = m.run(100000, until=end)
    fault = run_uc(emu, X, end)
    return m, stop, emu, X, fault


def _sources(m) -> list:
    return [entry[6] for entry in m.tr.blocks.values() if len(entry) > 6 and entry[6]]


@pytest.mark.parametrize("tier0", ["0", "1"])
@pytest.mark.parametrize("esp", [0x9800, 0x9004, 0x9ff8, 0x9802])
def test_reloads_match_unicorn(tmp_path, monkeypatch, tier0, esp):
    monkeypatch.setenv("PYVM_TIER0", tier0)
    m, stop, emu, X, fault = _run_both(RELOADS, tmp_path, esp)
    assert stop.reason == "until" and fault is None
    assert state(m) == state_uc(emu, X)
    assert m.read(0x8000, 0x3000) == bytes(emu.mem_read(0x8000, 0x3000))


def test_a_reload_is_the_earlier_load(tmp_path, monkeypatch):
    monkeypatch.setenv("PYVM_TIER0", "0")
    m, stop, emu, X, fault = _run_both(RELOADS, tmp_path, 0x9800)
    assert stop.reason == "until"
    loop = [s for s in _sources(m) if "while True:" in s]
    assert len(loop) == 1
    # [esp + 4] is read from memory by eax's load and after the alias store only: edx's
    # load is eax's, the later reads follow the block's own stores
    assert len(re.findall(r"\bm\d+ = MV\[sq\d+ \+ 1\]", loop[0])) == 2, loop[0]


@pytest.mark.parametrize("tier0", ["0", "1"])
@pytest.mark.parametrize("esp", [0x9800, 0x900c, 0x9ff8])
def test_thunk_prologue_matches_unicorn(tmp_path, monkeypatch, tier0, esp):
    monkeypatch.setenv("PYVM_TIER0", tier0)
    m, stop, emu, X, fault = _run_both(THUNK, tmp_path, esp)
    assert stop.reason == "until" and fault is None
    assert state(m) == state_uc(emu, X)
    assert m.read(0x8000, 0x3000) == bytes(emu.mem_read(0x8000, 0x3000))


def _stored_twice(source: str) -> list:
    """The words a block stores twice after one check with no read of them between:
    the direct form (emit.SlowPath), each access on a line of its own after the check
    line (``... or SLOW()``), which covers every access through its word index."""
    out = []
    stored: dict = {}       # sq name -> the words stored since its check, not read since
    for line in source.splitlines():
        for sq in re.findall(r"\b(sq\d+) = \w+ >> 2;.* or SLOW\(\)", line):
            stored[sq] = set()
        for word in re.findall(r"MV\[(sq\d+ [-+] \w+|sq\d+)\]", line.partition(" = ")[2]):
            stored.get(word.split()[0], set()).discard(word)
        target = re.fullmatch(r"\s*MV\[((sq\d+)(?: [-+] \w+)?)\] = .*", line)
        if target and target[2] in stored:
            if target[1] in stored[target[2]]:
                out.append(line.strip())
            stored[target[2]].add(target[1])
    return out


def test_a_replaced_return_address_is_not_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("PYVM_TIER0", "0")
    m, stop, emu, X, fault = _run_both(THUNK, tmp_path, 0x9800)
    assert stop.reason == "until"
    sources = [s for s in _sources(m) if "or SLOW()" in s]
    assert sources and any("MV[" in s for s in sources)
    for s in sources:
        # the call's return address, replaced by push ebx after the thunk's ret
        assert len(re.findall(r"MV\[[^]]+\] = 0x100c\n", s)) == 1, s
        assert not _stored_twice(s), s


def test_the_slow_path_keeps_the_overwritten_store(tmp_path, monkeypatch):
    """The stack page read-only: the call's push faults, not the later one."""
    monkeypatch.setenv("PYVM_TIER0", "0")
    m, stop, emu, X, fault = _run_both(THUNK, tmp_path, 0x9800, readonly=(0x9000,))
    assert stop.reason == "fault" and fault is not None
    assert state(m) == state_uc(emu, X)


@pytest.mark.parametrize("tier0", ["0", "1"])
@pytest.mark.parametrize("esp", [0x9800, 0x900c])
def test_a_return_address_read_through_an_alias_is_stored(tmp_path, monkeypatch, tier0, esp):
    monkeypatch.setenv("PYVM_TIER0", tier0)
    m, stop, emu, X, fault = _run_both(ALIASED, tmp_path, esp)
    assert stop.reason == "until" and fault is None
    assert state(m) == state_uc(emu, X)
    assert m.read(0x8000, 0x3000) == bytes(emu.mem_read(0x8000, 0x3000))
