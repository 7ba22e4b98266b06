"""The Unicorn-like surface of the B32 and V16 CPUs (docs/api.md): the names of
vm.x86.Machine, run(until=, count=, timeout=) and removable hooks."""

from __future__ import annotations

import pytest

import asm
from vm.b32.cpu import B32CPU, IllegalOpcode
from vm.b32.cpu import Stop as B32Stop
from vm.v16.cpu import ERR_SEGV, NO_ERR, SYS_HLT, V16CPU

B32_SOURCE = """
START  LDX #$A000
LOOP   LDA #$2A
       STA ,X
       INCX
       INCX
       CMPX #$A006
       JNE #LOOP
DONE   END START
"""

V16_SOURCE = """
        .entry main
msg:    .byte "hey"
main:   mov bx, msg
next:   mov ax, [bx]
        out ax
        push ax
        pop cx
        inc bx
        cmp bx, main
        jne next
done:   hlt
"""


def b32(source: str = B32_SOURCE):
    code = asm.assemble(source, fmt="b32")
    cpu = B32CPU()
    cpu.load(code.data)
    return cpu, code.symbols


def v16(source: str = V16_SOURCE):
    code = asm.assemble(source, fmt="v16")
    cpu = V16CPU()
    cpu.load(code.data)
    return cpu, code.symbols


# -- B32 ------------------------------------------------------------------------------------

def test_b32_registers_and_memory_by_x86_names():
    cpu, _ = b32()
    cpu.write_reg("x", 0x1234)
    cpu.set_reg("D", 0xABCD)
    assert cpu.read_reg("X") == 0x1234 and cpu.reg("a") == 0xAB and cpu.reg("B") == 0xCD
    cpu.write(0x9000, b"\x01\x02")
    assert cpu.read(0x9000, 2) == b"\x01\x02"
    assert cpu.regs()["IP"] == cpu.IP


def test_b32_run_until_stops_before_the_address():
    cpu, sym = b32()
    stop = cpu.run(until=sym["LOOP"])
    assert stop.reason == "until" and cpu.IP == sym["LOOP"] and cpu.steps == 1
    # starting at the address: leave it first, stop the next time round
    stop = cpu.run(until=sym["LOOP"])
    assert stop.reason == "until" and cpu.IP == sym["LOOP"] and cpu.steps == 7
    assert cpu.run(until=sym["DONE"]).reason == "until" and cpu.IP == sym["DONE"]
    assert not cpu.halted
    assert cpu.run(until=sym["DONE"]).reason == "halt" and cpu.halted
    assert cpu.run(count=5).reason == "halt"


def test_b32_count_limits_steps():
    cpu, _ = b32()
    stop = cpu.run(count=4)
    assert isinstance(stop, B32Stop) and stop.reason == "limit" and cpu.steps == 4
    assert cpu.run(count=0).reason == "limit" and cpu.steps == 4
    assert cpu.run(max_steps=3, timeout=10).reason == "limit" and cpu.steps == 7
    assert cpu.run(count=1000).reason == "halt" and cpu.steps == 20


def test_b32_plain_run_keeps_its_old_contract():
    cpu, _ = b32()
    assert cpu.run() == 20 and cpu.halted


def test_b32_fault_and_timeout():
    cpu = B32CPU()
    cpu.write(0, b"\xff")
    stop = cpu.run(count=5)
    assert stop.reason == "fault" and isinstance(stop.fault, IllegalOpcode)
    cpu, sym = b32("START JMP #START\n END START\n")
    assert cpu.run(timeout=0.01).reason == "timeout" and cpu.steps > 0


def test_b32_code_hook_arguments_range_and_removal():
    cpu, sym = b32()
    seen, ranged = [], []
    h = cpu.hook_code(lambda c, a: seen.append((c, a)))
    h2 = cpu.hook_code(lambda c, a: ranged.append(a), sym["LOOP"], sym["LOOP"] + 1)
    assert cpu.run(count=3).reason == "limit"
    assert seen == [(cpu, sym["START"]), (cpu, sym["LOOP"]), (cpu, sym["LOOP"] + 2)]
    assert ranged == [sym["LOOP"]]
    cpu.hook_del(h)
    cpu.run(count=6)
    assert len(seen) == 3 and ranged == [sym["LOOP"]] * 2
    cpu.hook_del(h2)
    assert "step" not in cpu.__dict__        # back to the class's step: the fast path
    with pytest.raises(ValueError):
        cpu.hook_del(h2)


def test_b32_memory_write_hook_sees_screen_writes():
    cpu, _ = b32()
    writes = []
    h = cpu.hook_mem_write(lambda c, a, d: writes.append((a, d, cpu.screen.cell(0, 0))),
                           0xA000, 0xA003)
    never = cpu.hook_mem_read(lambda *a: pytest.fail("B32 has no data reads"))
    cpu.run()                                # hooks fire through the plain run too
    # after the write: the screen already shows the character
    assert writes == [(0xA000, b"*", (0x2A, 0x07)), (0xA002, b"*", (0x2A, 0x07))]
    cpu.hook_del(h)
    cpu.hook_del(never)
    assert cpu._hooks is None and "step" not in cpu.__dict__
    cpu.load(asm.assemble(B32_SOURCE, fmt="b32").data)
    cpu.run()
    assert len(writes) == 2


def test_b32_request_stop_from_a_hook():
    cpu, sym = b32()

    def stop_at_second_write(c, a, d):
        if a == 0xA002:
            c.request_stop()
    cpu.hook_mem_write(stop_at_second_write)
    assert cpu.run(count=100).reason == "stopped" and cpu.X == 0xA002


def test_b32_hook_arguments_checked():
    cpu, _ = b32()
    with pytest.raises(TypeError):
        cpu.hook_code(42)
    with pytest.raises(ValueError):
        cpu.hook_code(print, 0x10, 0x10)
    with pytest.raises(TypeError):
        cpu.run(count=1, trace=print)


# -- V16 ------------------------------------------------------------------------------------

def test_v16_x86_names_beside_the_old_ones():
    cpu, _ = v16()
    cpu.set_reg("ax", 0x1234)
    assert cpu.reg("AX") == cpu.reg_read("ax") == cpu.read_reg("ax") == 0x1234
    cpu.write_reg("cx", 7)
    assert cpu.regs() == cpu.registers() and cpu.regs()["CX"] == 7
    cpu.write(0x9000, b"ab")
    assert cpu.read(0x9000, 2) == cpu.mem_read(0x9000, 2) == b"ab"


def test_v16_run_returns_a_stop_that_is_the_old_code():
    cpu, _ = v16()
    stop = cpu.run(2)
    assert stop == NO_ERR and stop.reason == "limit" and cpu.steps == 2
    stop = cpu.run()
    assert stop == SYS_HLT and stop.reason == "halt" and stop.name == "SysHlt"
    assert bytes(cpu.output) == b"hey"
    cpu, _ = v16("        mov [0x100], ax\n")
    stop = cpu.run(count=5)
    assert stop == ERR_SEGV and stop.reason == "fault" and stop.code == ERR_SEGV


def test_v16_run_until_and_count():
    cpu, sym = v16()
    assert cpu.run(until=sym["next"]).reason == "until" and cpu.ip == sym["next"]
    assert cpu.steps == 1
    assert cpu.run(until=sym["next"]).reason == "until" and cpu.steps == 8
    assert cpu.run(count=3).reason == "limit" and cpu.steps == 11
    assert cpu.run(until=sym["done"], timeout=10).reason == "until"
    assert cpu.ip == sym["done"]
    assert cpu.run(until=sym["done"]).reason == "halt"


def test_v16_timeout():
    cpu, _ = v16("loop: jmp loop\n")
    assert cpu.run(timeout=0.01).reason == "timeout" and cpu.steps > 0


def test_v16_hooks_fire_with_the_right_arguments():
    cpu, sym = v16()
    code, reads, writes, ports = [], [], [], []
    hooks = [cpu.hook_code(lambda c, a: code.append(a), sym["next"], sym["next"] + 1),
             cpu.hook_mem_read(lambda c, a, n, v: reads.append((c, a, n, v)), 0, 0x10000),
             cpu.hook_mem_write(lambda c, a, d: writes.append((a, d))),
             cpu.hook_port_out(lambda c, p, n, v: ports.append((p, n, v)))]
    assert cpu.run().reason == "halt"
    assert code == [sym["next"]] * 3
    # mov ax, [bx] reads the string's words; pop reads the stack
    assert [(a, v) for c, a, n, v in reads if a < 0x8000] == [
        (0, 0x6568), (1, 0x7965), (2, 0x0079 | cpu.mem[3] << 8)]
    assert all(c is cpu and n == 2 for c, a, n, v in reads)
    assert [a for c, a, n, v in reads if a >= 0x8000] == [0xFFFE] * 3
    assert writes == [(0xFFFE, b"he"), (0xFFFE, b"ey"), (0xFFFE, bytes((0x79, cpu.mem[3])))]
    assert ports == [(0, 1, ord("h")), (0, 1, ord("e")), (0, 1, ord("y"))]
    assert bytes(cpu.output) == b"hey"
    for h in hooks:
        cpu.hook_del(h)
    assert cpu._hooks is None
    assert not {"step", "load16", "store16"} & set(cpu.__dict__)
    with pytest.raises(ValueError):
        cpu.hook_del(hooks[0])
    cpu.load(asm.assemble(V16_SOURCE, fmt="v16").data)
    cpu.run()
    assert len(code) == 3 and len(reads) == 6 and len(writes) == 3 and len(ports) == 3


def test_v16_port_hook_swallows_output():
    cpu, _ = v16()
    h = cpu.hook_port_out(lambda c, p, n, v: v == ord("e"))
    cpu.run()
    assert bytes(cpu.output) == b"hy"
    cpu.hook_del(h)
    cpu.load(asm.assemble(V16_SOURCE, fmt="v16").data)
    cpu.run()
    assert bytes(cpu.output) == b"hey"


def test_v16_request_stop_and_the_runner_contract():
    cpu, sym = v16()
    cpu.hook_port_out(lambda c, p, n, v: c.request_stop())
    stop = cpu.run()
    assert stop.reason == "stopped" and stop == NO_ERR and bytes(cpu.output) == b"h"


def test_hooks_see_vm_run(tmp_path):
    import vm
    seen, screen = [], []
    source = tmp_path / "hey.asm"
    source.write_text(V16_SOURCE)
    r = vm.run(source, setup=lambda cpu: cpu.hook_port_out(lambda c, p, n, v: seen.append(v)))
    assert r.status == 0 and r.stdout == b"hey" and bytes(seen) == b"hey"
    source = tmp_path / "stars.asm"
    source.write_text(B32_SOURCE)
    r = vm.run(source, setup=lambda cpu: cpu.hook_mem_write(
        lambda c, a, d: screen.append((a, d)), 0xA000, 0xAFA0))
    assert r.status == 0 and screen == [(0xA000, b"*"), (0xA002, b"*"), (0xA004, b"*")]
