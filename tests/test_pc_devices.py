"""The PC's devices one at a time, against their data sheets (Intel 8254 and 8259A, the
MC146818A, NS16550A, the IBM AT Technical Reference for the 8042, IBM VGA): the
behaviour test_pc_qemu.py cannot compare with QEMU (where QEMU departs from the data
sheet, or where a sequence needs exact clocks)."""

from __future__ import annotations

import pytest

from vm.pc.cmos import CMOS
from vm.pc.kbc import KeyboardController, scan_bytes
from vm.pc.pic import PICPair
from vm.pc.pit import PIT
from vm.pc.ports import PortBus
from vm.pc.uart import UART
from vm.pc.vga import VGA, glyph


class Clock:
    def __init__(self):
        self.t = 0

    def __call__(self) -> int:
        return self.t


def _pit():
    clock, irqs = Clock(), []
    pit = PIT(clock, lambda: irqs.append(clock.t))
    bus = PortBus()
    pit.install(bus)
    return clock, pit, bus, irqs


def _status(bus, counter: int) -> int:
    bus.write(0x43, 1, 0xE0 | 2 << counter)     # read-back: status only
    return bus.read(0x40 + counter, 1)


def _count(bus, counter: int) -> int:
    bus.write(0x43, 1, counter << 6)            # counter latch command
    lo = bus.read(0x40 + counter, 1)
    return bus.read(0x40 + counter, 1) << 8 | lo


# ---- 8254 ------------------------------------------------------------------------------

def test_pit_mode2_rate_generator_out_pulses_low_once_per_period():
    """Mode 2: OUT high; the count goes N..1; OUT low for the one clock at count 1."""
    clock, pit, bus, _ = _pit()
    bus.write(0x43, 1, 0x34)
    bus.write(0x40, 1, 4)
    bus.write(0x40, 1, 0)
    seen = []
    for t in range(9):
        clock.t = t
        seen.append((_count(bus, 0), _status(bus, 0) >> 7))
    assert seen == [(4, 1), (3, 1), (2, 1), (1, 0), (4, 1), (3, 1), (2, 1), (1, 0), (4, 1)]


def test_pit_mode3_square_wave_counts_by_two():
    """Mode 3, even count N: decrements by 2, OUT high for N/2 clocks then low."""
    clock, pit, bus, _ = _pit()
    bus.write(0x43, 1, 0x36)
    bus.write(0x40, 1, 6)
    bus.write(0x40, 1, 0)
    seen = []
    for t in range(7):
        clock.t = t
        seen.append((_count(bus, 0), _status(bus, 0) >> 7))
    assert seen == [(6, 1), (4, 1), (2, 1), (6, 0), (4, 0), (2, 0), (6, 1)]


def test_pit_mode0_interrupt_on_terminal_count_and_irq0_edge():
    clock, pit, bus, irqs = _pit()
    bus.write(0x43, 1, 0x30)
    bus.write(0x40, 1, 10)
    bus.write(0x40, 1, 0)
    assert _status(bus, 0) == 0x30              # OUT low, LSB/MSB, mode 0
    clock.t = 9
    pit.update()
    assert irqs == [] and _status(bus, 0) >> 7 == 0
    clock.t = 10
    pit.update()
    assert irqs == [10] and _status(bus, 0) >> 7 == 1
    clock.t = 1000
    pit.update()
    assert irqs == [10]                         # one shot


def test_pit_bcd_lsb_only_and_latch_holds():
    clock, pit, bus, _ = _pit()
    bus.write(0x43, 1, 0x15)                    # counter 0, LSB only, mode 2, BCD
    bus.write(0x40, 1, 0x50)                    # 50 decimal
    clock.t = 1
    assert bus.read(0x40, 1) == 0x49
    bus.write(0x43, 1, 0x00)                    # latch: the value stays until read
    clock.t = 5
    bus.write(0x43, 1, 0x00)
    assert bus.read(0x40, 1) == 0x49
    assert bus.read(0x40, 1) == 0x45


def test_pit_counter2_output_on_port_61():
    clock, pit, bus, _ = _pit()
    bus.write(0x61, 1, 0x01)
    bus.write(0x43, 1, 0xB0)
    bus.write(0x42, 1, 3)
    bus.write(0x42, 1, 0)
    assert bus.read(0x61, 1) & 0x23 == 0x01
    clock.t = 3
    assert bus.read(0x61, 1) & 0x20 == 0x20


# ---- 8259A -----------------------------------------------------------------------------

def _pics(auto_eoi: bool = False):
    pics = PICPair()
    bus = PortBus()
    pics.install(bus)
    icw4 = 0x03 if auto_eoi else 0x01
    for port, value in ((0x20, 0x11), (0x21, 0x08), (0x21, 0x04), (0x21, icw4),
                        (0xA0, 0x11), (0xA1, 0x70), (0xA1, 0x02), (0xA1, icw4),
                        (0x21, 0x00), (0xA1, 0x00)):
        bus.write(port, 1, value)
    return pics, bus


def test_pic_fully_nested_priority_and_specific_eoi():
    pics, bus = _pics()
    pics.pulse(5)
    pics.pulse(3)
    assert pics.acknowledge() == 0x0B           # IR3 first
    assert not pics.pending()                   # IR5 waits for IR3's EOI
    pics.pulse(1)
    assert pics.acknowledge() == 0x09           # a higher level interrupts IR3
    bus.write(0x20, 1, 0x63)                    # specific EOI for IR3
    assert not pics.pending()                   # IR1 still in service
    bus.write(0x20, 1, 0x20)                    # non-specific: IR1
    assert pics.acknowledge() == 0x0D


def test_pic_cascade_slave_vectors_and_two_eois():
    pics, bus = _pics()
    pics.pulse(12)
    assert pics.acknowledge() == 0x74
    bus.write(0x20, 1, 0x0B)
    assert bus.read(0x20, 1) == 0x04            # master ISR: the cascade input
    bus.write(0xA0, 1, 0x0B)
    assert bus.read(0xA0, 1) == 0x10


def test_pic_auto_eoi_rotation_mask_and_spurious_ir7():
    pics, bus = _pics(auto_eoi=True)
    pics.pulse(2 + 4)
    assert pics.acknowledge() == 0x0E
    bus.write(0x20, 1, 0x0B)
    assert bus.read(0x20, 1) == 0               # AEOI: nothing stays in service
    pics, bus = _pics()
    pics.pulse(0)
    pics.acknowledge()
    bus.write(0x20, 1, 0xA0)                    # rotate on non-specific EOI: IR0 lowest
    pics.pulse(0)
    pics.pulse(7)
    assert pics.acknowledge() == 0x0F
    pics, bus = _pics()
    bus.write(0x21, 1, 0x01)                    # OCW1 masks IR0
    pics.pulse(0)
    assert not pics.pending()
    assert pics.master.acknowledge() == 7       # INTA with no request: IR7, spurious
    bus.write(0x20, 1, 0x0B)
    assert bus.read(0x20, 1) == 0


# ---- MC146818A -------------------------------------------------------------------------

def test_cmos_12_hour_mode_and_setting_the_clock():
    clock = Clock()
    # 2021-03-04 15:16:17 local time
    import time
    t0 = time.mktime((2021, 3, 4, 15, 16, 17, 0, 0, -1))
    cmos = CMOS(clock, 32 << 20, lambda: None, now=t0)
    bus = PortBus()
    cmos.install(bus)

    def reg(i, value=None):
        bus.write(0x70, 1, i)
        if value is not None:
            bus.write(0x71, 1, value)
        return bus.read(0x71, 1)
    assert [reg(i) for i in (0, 2, 4, 6, 7, 8, 9)] == [0x17, 0x16, 0x15, 0x05, 0x04, 0x03,
                                                       0x21]
    reg(0x0B, 0x00)                             # 12-hour, BCD
    assert reg(4) == 0x83                       # 3 PM
    reg(0x0B, 0x06)                             # 24-hour, binary
    assert reg(4) == 15 and reg(0) == 17
    reg(2, 40)                                  # set the minutes
    assert reg(2) == 40 and reg(0) == 17
    clock.t = 1193182 * 2                       # two seconds later
    assert reg(0) == 19
    assert reg(0x0D) == 0x80
    assert reg(0x0C) == 0x50 and reg(0x0C) == 0     # PF and UF, no IRQF; read clears


def test_cmos_periodic_interrupt():
    clock, raised = Clock(), []
    cmos = CMOS(clock, 32 << 20, lambda: raised.append(clock.t))
    bus = PortBus()
    cmos.install(bus)
    bus.write(0x70, 1, 0x0A)
    bus.write(0x71, 1, 0x2F)                    # rate 15: 2 Hz
    bus.write(0x70, 1, 0x0B)
    bus.write(0x71, 1, 0x42)                    # PIE
    clock.t = 1193182
    cmos.update()
    assert len(raised) == 1
    bus.write(0x70, 1, 0x0C)
    assert bus.read(0x71, 1) == 0xD0 and bus.read(0x71, 1) == 0     # IRQF PF UF; cleared
    bus.write(0x70, 1, 0x0B)
    bus.write(0x71, 1, 0x02)                    # no interrupts: the flags, no IRQF
    clock.t = 3 * 1193182
    bus.write(0x70, 1, 0x0C)
    assert bus.read(0x71, 1) == 0x50 and len(raised) == 1


# ---- 16550A ----------------------------------------------------------------------------

def test_uart_transmit_receive_and_out2_gating():
    out, lines, typed = [], [], [0x41]
    uart = UART(out.append, lambda: typed.pop() if typed else None, lines.append)
    bus = PortBus()
    uart.install(bus)
    bus.write(0x3F8, 1, ord("h"))
    assert out == [b"h"]
    bus.write(0x3F9, 1, 0x01)                   # received-data interrupt
    uart.update()
    assert lines == []                          # OUT2 off: the IRQ line stays quiet
    bus.write(0x3FC, 1, 0x08)
    assert lines == [True]
    assert bus.read(0x3FA, 1) == 0x04 and bus.read(0x3FD, 1) == 0x61
    assert bus.read(0x3F8, 1) == 0x41
    assert lines == [True, False] and bus.read(0x3FA, 1) == 0x01


# ---- 8042 ------------------------------------------------------------------------------

def test_kbc_reset_pulse_and_a20_output_port():
    events = []
    kbc = KeyboardController(lambda on: events.append(("a20", on)),
                             lambda how: events.append(("reset", how)), lambda level: None,
                             None)
    bus = PortBus()
    kbc.install(bus)
    bus.write(0x64, 1, 0xD1)
    bus.write(0x60, 1, 0xDD)                    # A20 off, no reset
    bus.write(0x64, 1, 0xD0)
    assert bus.read(0x60, 1) & 0x03 == 0x01
    bus.write(0x64, 1, 0xFE)
    assert events == [("a20", False), ("reset", "8042 command FEh")]
    bus.write(0x92, 1, 0x02)
    assert kbc.a20 and bus.read(0x92, 1) == 0x02


def test_kbc_typed_keys_become_set1_make_and_break_codes():
    assert scan_bytes(ord("a")) == bytes((0x1E, 0x9E))
    assert scan_bytes(ord("A")) == bytes((0x2A, 0x1E, 0x9E, 0xAA))
    assert scan_bytes(0x0A) == bytes((0x1C, 0x9C))
    keys = [ord("q")]
    irq = []
    kbc = KeyboardController(lambda on: None, lambda how: None, irq.append,
                             lambda: keys.pop() if keys else None)
    bus = PortBus()
    kbc.install(bus)
    assert bus.read(0x64, 1) & 1 == 1
    assert [bus.read(0x60, 1), bus.read(0x60, 1)] == [0x10, 0x90]
    assert irq.count(True) == 2                 # an edge on IRQ 1 per byte


# ---- VGA -------------------------------------------------------------------------------

def test_vga_crtc_cursor_and_write_protect_and_flip_flop():
    mem = bytearray(0x100000)
    vga = VGA(mem, Clock())
    bus = PortBus()
    vga.install(bus)
    bus.write(0x3D4, 1, 0x0E)
    bus.write(0x3D5, 1, 0x01)
    bus.write(0x3D4, 1, 0x0F)
    bus.write(0x3D5, 1, 0x90)
    assert vga.cursor() == 0x190
    bus.write(0x3D4, 1, 0x11)
    bus.write(0x3D5, 1, 0x80)                   # protect CR0-CR7
    bus.write(0x3D4, 1, 0x01)
    bus.write(0x3D5, 1, 0x33)
    assert bus.read(0x3D5, 1) == 0
    bus.write(0x3C0, 1, 0x10)                   # index, then...
    bus.read(0x3DA, 1)                          # ...reading 3DAh: back to index
    bus.write(0x3C0, 1, 0x11)
    bus.write(0x3C0, 1, 0x05)
    assert vga.attr[0x11] == 0x05 and vga.attr[0x10] == 0


@pytest.mark.parametrize("code,char", [(0x00, " "), (0x01, "☺"), (0x41, "A"), (0x7F, "⌂"),
                                       (0xB0, "░"), (0xC9, "╔"), (0xDB, "█"), (0xE1, "ß")])
def test_vga_glyphs_are_code_page_437(code, char):
    assert glyph(code) == char


def test_vga_screen_rendering():
    mem = bytearray(0x100000)
    vga = VGA(mem, Clock())
    assert vga.blank() and vga.text() == ""
    for k, ch in enumerate(b"Hi\xdb"):
        mem[0xB8000 + 2 * k] = ch
        mem[0xB8000 + 2 * k + 1] = 0x1E
    mem[0xB8000 + 160] = ord("x")
    mem[0xB8000 + 161] = 0x07
    assert vga.text() == "Hi█\nx\n"
    assert vga.ansi().startswith("\x1b[93;44mHi█")
    page = vga.html("t")
    assert 'class="vga"' in page and "color:#ffff55;background-color:#0000aa" in page


def test_port_bus_splits_words_for_byte_devices():
    bus = PortBus()
    seen = []
    bus.claim((0x300, 0x301), lambda p, s: p & 0xFF, lambda p, s, v: seen.append((p, v)))
    assert bus.read(0x300, 2) == 0x0100
    assert bus.read(0x302, 1) == 0xFF           # nobody there
    bus.write(0x300, 2, 0xBEEF)
    assert seen == [(0x300, 0xEF), (0x301, 0xBE)]
