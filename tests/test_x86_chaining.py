"""Return-address prediction: a ``ret`` to the call followed into the same block continues
inside it behind a guard. Edge cases: a modified return address, a fault after the return,
step limits that stop between the call and the continuation."""

from __future__ import annotations

from vm.linux.flat import LinuxFlat
from vm.x86.machine import Machine

# 0x00 call 0x20 / 0x05 mov ebx,1 / 0x0a mov eax,1 / 0x0f int 0x80
# 0x11 mov ebx,2 / 0x16 mov eax,1 / 0x1b int 0x80
MAIN = bytes.fromhex("e81b000000" "bb01000000" "b801000000" "cd80"
                     "bb02000000" "b801000000" "cd80").ljust(0x20, b"\x90")
PLAIN_RET = bytes.fromhex("c3")
REDIRECT = bytes.fromhex("c7042411000000" "c3")           # mov dword [esp], 0x11; ret


def machine(callee: bytes, after: bytes = b"") -> Machine:
    m = Machine("flat32", 16 << 20)
    m.load(0, MAIN + callee)
    if after:
        m.load(0x05, after)
    m.set_reg("eip", 0)
    m.set_reg("esp", 0x100000)
    LinuxFlat(m, 0x800000, 0xF00000)
    m.tr.tier0 = None       # (cold) real blocks from the start, not the first tier
    return m


def test_predicted_return_continues_after_the_call():
    m = machine(PLAIN_RET)
    stop = m.run(100)
    assert (stop.reason, stop.status, m.steps) == ("exit", 1, 5)
    block = m.tr.cache[0]
    assert block.meta.n == 5            # call, ret and the continuation in one block


def test_modified_return_address_leaves_the_block():
    m = machine(REDIRECT)
    stop = m.run(100)
    assert (stop.reason, stop.status, m.steps) == ("exit", 2, 6)


def test_fault_after_a_predicted_return_is_precise():
    # after the return: mov eax, [0xfffffff0] faults (outside the 16 MiB)
    m = machine(PLAIN_RET, bytes.fromhex("a1f0ffffff"))
    stop = m.run(100)
    assert stop.reason == "fault"
    assert m.eip == 0x05 and m.steps == 2
    assert m.reg("esp") == 0x100000


def test_step_limit_between_call_and_continuation():
    for n in range(1, 5):
        m = machine(PLAIN_RET)
        stop = m.run(n)
        assert stop.reason == "limit" and m.steps == n
        assert m.eip == [0x20, 0x05, 0x0A, 0x0F][n - 1]
        assert m.run(100).status == 1
