"""On/off environment switches (vm/envswitch.py) and PYVM_DISPATCH_STATS, which each
Machine reads when it is made (vm/x86/machine.py; the counting: dispatchstats.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from formats.envswitch import env_switch


@pytest.mark.parametrize("value, on", [
    ("1", True), ("yes", True), ("ON", True), ("true", True), ("2", True),
    ("0", False), ("no", False), ("off", False), ("Off", False), ("FALSE", False),
    (" no ", False),
])
def test_switch_values(monkeypatch, value, on):
    monkeypatch.setenv("PYVM_TEST_SWITCH", value)
    assert env_switch("PYVM_TEST_SWITCH") is on
    assert env_switch("PYVM_TEST_SWITCH", True) is on


@pytest.mark.parametrize("value", [None, "", "  "])
def test_unset_or_empty_switch_is_its_default(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("PYVM_TEST_SWITCH", raising=False)
    else:
        monkeypatch.setenv("PYVM_TEST_SWITCH", value)
    assert env_switch("PYVM_TEST_SWITCH") is False
    assert env_switch("PYVM_TEST_SWITCH", True) is True


def test_dispatch_stats_are_decided_per_machine(monkeypatch):
    """The switch as it is when a Machine is made (not when pyvm was imported): off for
    "off", on for "1", counting that Machine's dispatches only."""
    from vm.x86 import dispatchstats
    from vm.x86.machine import Machine
    reports = []
    monkeypatch.setattr(dispatchstats, "atexit", SimpleNamespace(register=reports.append))
    # mov ecx, 1000 / xor eax, eax / l: inc eax / dec ecx / jnz l / jmp $
    code = bytes.fromhex("b9e8030000" "31c0" "40" "49" "75fc" "ebfe")
    machines = {}
    for value in ("off", "1", "no"):
        monkeypatch.setenv("PYVM_DISPATCH_STATS", value)
        m = machines[value] = Machine("flat32", 1 << 20)
        m.load(0, code)
        m.set_reg("eip", 0)
        assert m.run(2 + 3 * 1000).reason == "limit"
        assert (m.eip, m.reg("eax"), m.reg("ecx")) == (0x0B, 1000, 0)
    assert type(machines["off"].tr.cache) is dict
    assert type(machines["no"].tr.cache) is dict
    counting = machines["1"].tr.cache
    assert isinstance(counting, dispatchstats.CountingCache)
    assert reports == [counting.report]
    counting._account()
    assert sum(counting.insns) == machines["1"].steps == 3002


@pytest.mark.parametrize("value, on", [("off", False), ("no", False), ("0", False),
                                       ("1", True), ("", True)])
def test_template_library_switch(monkeypatch, value, on):
    from vm.x86 import tier0lib
    monkeypatch.delenv("PYVM_CODE_CACHE", raising=False)
    monkeypatch.setenv("PYVM_TIER0_LIBRARY", value)
    assert tier0lib.enabled() is on
