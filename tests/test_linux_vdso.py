"""The vDSO (vm/linux/vdso.py) against real oracles: a program that parses it as the
kernel's own selftest does and calls every function prints the same natively (the host
kernel's vDSO) and under pyvm, static and dynamic; glibc's LD_SHOW_AUXV lists the same
auxiliary vector keys in the same order as on the real kernel; readelf and objdump read
pyvm's image as they read the kernel's, with the same symbols, versions and SONAME; the
system calls glibc makes through __kernel_vsyscall show in --trace."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import require_tool
from linux.kit import build, run_native, run_pyvm

from vm.linux import vdso as V

# glibc's names for the auxv entries Linux 6.3+ adds for rseq, which pyvm does not
# implement (rseq is ENOSYS and uname says 6.1): the only keys it leaves out.
RSEQ_KEYS = {"AT_??? (0x1b)", "AT_??? (0x1c)", "AT_RSEQ_FEATURE_SIZE", "AT_RSEQ_ALIGN"}


def _ld_so():
    if not os.path.exists("/lib/ld-linux.so.2"):
        from conftest import IN_CI
        if IN_CI:
            pytest.fail("/lib/ld-linux.so.2 is missing (gcc-multilib's libc6-i386)")
        pytest.skip("no i386 ld.so on this host")


@pytest.mark.parametrize("flags", [("-static",), ()], ids=["static", "dynamic"])
def test_parsed_and_called_as_on_the_kernel(flags, tmp_path):
    if not flags:
        _ld_so()
    exe = build("vdso_probe", "O2", flags=flags)
    native = run_native(exe, (), tmp_path)
    emulated = run_pyvm(exe, (), tmp_path)
    assert native.status == 0, native
    assert b"returns into the vdso: yes" in native.stdout, native
    assert b"missing" not in native.stdout.replace(b"(wrong version): missing", b""), native
    assert emulated.stdout == native.stdout and emulated.status == 0, emulated


def _auxv_keys(text: bytes) -> list:
    return [line.split(b":")[0].decode() for line in text.splitlines()
            if line.startswith(b"AT_")]


def test_ld_show_auxv_lists_the_kernels_keys(tmp_path):
    _ld_so()
    exe = build("printf_int", "O2", flags=())
    native = run_native(exe, (), tmp_path, env={"LD_SHOW_AUXV": "1"})
    emulated = run_pyvm(exe, (), tmp_path, options=("--env", "LD_SHOW_AUXV=1"))
    assert native.status == 0 and emulated.status == 0, emulated
    ours, theirs = _auxv_keys(emulated.stdout), _auxv_keys(native.stdout)
    assert "AT_SYSINFO" in theirs and "AT_SYSINFO_EHDR" in theirs, native
    assert ours == [k for k in theirs if k not in RSEQ_KEYS], (ours, theirs)
    values = dict(re.findall(rb"^(AT_SYSINFO(?:_EHDR)?):\s+0x([0-9a-f]+)$",
                             emulated.stdout, re.M))
    ehdr, entry = int(values[b"AT_SYSINFO_EHDR"], 16), int(values[b"AT_SYSINFO"], 16)
    assert ehdr % 4096 == 0 and entry == ehdr + V.vdso().vsyscall


def _readelf(path, *args) -> str:
    readelf = require_tool("readelf")
    proc = subprocess.run([readelf, "-W", *args, str(path)], capture_output=True, text=True)
    assert proc.returncode == 0 and "Warning" not in proc.stderr, proc.stderr
    return proc.stdout


def test_readelf_reads_it_as_the_kernels(tmp_path):
    """The same SONAME, version definitions and (a subset of) the kernel's symbols with
    the kernel's versions; the unwind tables decode; each function makes its call."""
    kernel_so, ours = tmp_path / "kernel.so", tmp_path / "pyvm.so"
    dump = build("vdso_dump", "O2")
    assert run_native(dump, (str(kernel_so),), tmp_path).status == 0
    ours.write_bytes(V.build().data)
    sym = re.compile(r"FUNC\s+GLOBAL\s+DEFAULT\s+\d+\s+(\S+@@LINUX_2\.[56])$", re.M)
    theirs_syms = set(sym.findall(_readelf(kernel_so, "--dyn-syms")))
    our_syms = set(sym.findall(_readelf(ours, "--dyn-syms")))
    assert len(our_syms) == 8 and our_syms <= theirs_syms, (our_syms, theirs_syms)
    for f in (kernel_so, ours):
        dyn = _readelf(f, "-d")
        assert "Library soname: [linux-gate.so.1]" in dyn, dyn
        versions = _readelf(f, "-V")
        assert re.search(r"Flags: BASE\s+Index: 1\s+Cnt: 1\s+Name: linux-gate\.so\.1",
                         versions), versions
        assert "Name: LINUX_2.6" in versions and "Name: LINUX_2.5" in versions
        segments = re.findall(r"^\s+(LOAD|DYNAMIC|NOTE|GNU_EH_FRAME)\s", _readelf(f, "-l"),
                              re.M)
        assert segments == ["LOAD", "DYNAMIC", "NOTE", "GNU_EH_FRAME"], segments
    frames = _readelf(ours, "--debug-dump=frames")
    assert frames.count(" FDE ") == 6 and "DW_CFA_offset: r3 (ebx) at cfa-8" in frames
    objdump = require_tool("objdump")
    text = subprocess.run([objdump, "-d", str(ours)], capture_output=True, text=True,
                          check=True).stdout
    bodies = dict(re.findall(r"<(\w+)@@LINUX_2\.[56]>:\n((?:.+\n)+)", text))
    calls = {name: int(m.group(1), 16) for name, body in bodies.items()
             for m in [re.search(r"mov\s+\$0x([0-9a-f]+),%eax", body)] if m}
    assert calls == {
        "__kernel_sigreturn": 119, "__kernel_rt_sigreturn": 173,
        "__vdso_clock_gettime": 265, "__vdso_gettimeofday": 78, "__vdso_clock_getres": 266,
        "__vdso_clock_gettime64": 403, "__vdso_time": 13}, calls
    assert re.match(r".*int\s+\$0x80\n.*ret", bodies["__kernel_vsyscall"])


def test_trace_shows_calls_made_through_kernel_vsyscall(tmp_path):
    _ld_so()
    exe = build("printf_int", "O2", flags=())
    result = run_pyvm(exe, (), tmp_path, options=("--trace",))
    assert result.status == 0, result
    lines = result.stderr.decode().splitlines()
    entry = None
    for i, line in enumerate(lines):
        if "call dword [gs:0x10]" in line:
            entry = lines[i + 1].split()[0]     # the next instruction: __kernel_vsyscall
            break
    assert entry is not None, "glibc made no call through AT_SYSINFO"
    at = [i for i, line in enumerate(lines) if line.startswith(entry) and "int 0x80" in line]
    assert at and any("] write(1," in lines[i + 1] for i in at), lines[at[0]:at[0] + 2]


def test_shipped_image_is_this_sources_build():
    """vdso_image.py is what vdso.py builds (run ``python -m vm.linux.vdso`` after
    editing vdso.py), and a run maps that image."""
    from vm.linux import vdso_image
    assert vdso_image.SOURCE_KEY == V.source_key(), "run: python -m vm.linux.vdso"
    built = V.build()
    assert (vdso_image.DATA, vdso_image.VSYSCALL, vdso_image.SIGRETURN,
            vdso_image.RT_SIGRETURN) == (built.data, built.vsyscall, built.sigreturn,
                                         built.rt_sigreturn)


def test_a_run_does_not_assemble(tmp_path):
    """Mapping the vDSO imports neither the assembler nor Lark (start-up cost; PyPy
    installs may lack Lark)."""
    code = ("import sys; from vm.linux import vdso; v = vdso.vdso(); "
            "assert v.data[:4] == b'\\x7fELF'; "
            "print(sorted(m for m in sys.modules if m == 'lark' or m.startswith('asm.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env=dict(os.environ, PYVM_CODE_CACHE="0"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
