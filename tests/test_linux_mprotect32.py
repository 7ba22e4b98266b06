"""mprotect across a hole or a mapping it may not change, and a memory fault's si_code.
Oracle: the same i386 program run natively (tests/linux/mprotect32.c).

- Linux's mprotect goes VMA by VMA: over a range with an unmapped page it changes the
  pages before the hole and then fails with ENOMEM (those after keep their protection);
  an unmapped first page changes nothing; a MAP_SHARED mapping of a file opened
  read-only, made writable, stops it with EACCES after the pages before it.
- a fault on a mapped page the access may not make (a write to a read-only page, any
  access to a PROT_NONE one) is SIGSEGV with si_code SEGV_ACCERR (2); on an unmapped
  page SEGV_MAPERR (1); si_addr is the first byte faulted on.
- the other CPU exceptions (tests/linux/fault_codes32.c): #GP (privileged instruction,
  bad selector, INT n, BOUND), INT3 and INTO give si_code SI_KERNEL and si_addr 0; #UD
  ILL_ILLOPN; #DE FPE_INTDIV; INT1 TRAP_BRKPT; x87 #MF the code of its first unmasked
  exception (FPE_FLTDIV, FLTINV, FLTRES, FLTOVF). For SIGSEGV the sigcontext's trapno
  and err: INT n is #GP (13, n*8+2) with EIP on the INT; a page fault's err has the
  user, write and (a write to a present page) protection bits."""

from __future__ import annotations

from linux.kit import build, run_native, run_pyvm


def test_mprotect_and_fault_codes_as_native(tmp_path):
    exe = build("mprotect32")
    (tmp_path / "n").mkdir()
    (tmp_path / "p").mkdir()
    native = run_native(exe, cwd=tmp_path / "n")
    ours = run_pyvm(exe, cwd=tmp_path / "p")
    assert native.status == 0 and ours.status == 0, ours
    assert ours.stdout.decode().splitlines() == native.stdout.decode().splitlines()
    # the oracle shows what is tested (a kernel without these semantics fails here)
    assert b"write page 39: sig 11 code 2" in native.stdout
    assert b"write page 41: no fault" in native.stdout
    assert b"read unmapped: sig 11 code 1" in native.stdout


def test_fault_siginfo_as_native(tmp_path):
    exe = build("fault_codes32")
    native = run_native(exe, cwd=tmp_path)
    ours = run_pyvm(exe, cwd=tmp_path)
    assert native.status == 0 and ours.status == 0, ours
    assert ours.stdout.decode().splitlines() == native.stdout.decode().splitlines()
    assert b"hlt: sig 11 code 128 addr 0" in native.stdout
    assert b"int 0x40: sig 11 code 128 addr 0 eip =insn trapno 13 err 514" in native.stdout
    assert b"x87 divide by zero: sig 8 code 3" in native.stdout


def test_mp2_reproducer(tmp_path):
    """The reviewer's case: mprotect(m, 64 pages, PROT_READ) with page 40 unmapped
    returns -1 and still makes page 0 read-only."""
    src = tmp_path / "mp2.c"
    src.write_text(_MP2)
    exe = build("mp2", where=tmp_path)
    native = run_native(exe, cwd=tmp_path)
    ours = run_pyvm(exe, cwd=tmp_path)
    assert native.stdout == b"mprotect -1\nsig 11 code 2\n", native
    assert ours.stdout == native.stdout and ours.status == native.status == 3, ours


_MP2 = r"""
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
static void h(int s, siginfo_t *si, void *uc) {
  printf("sig %d code %d\n", s, si->si_code); fflush(stdout); _exit(3);
}
int main(void) {
  struct sigaction sa; memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = h; sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, 0);
  unsigned char *m = mmap(0, 64 * 4096, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  m[8] = 1; munmap(m + 40 * 4096, 4096);
  printf("mprotect %d\n", mprotect(m, 64 * 4096, PROT_READ)); fflush(stdout);
  volatile unsigned *q = (unsigned *)(m + 8); *q = 5;
  printf("no fault %u\n", *q);
  return 0;
}
"""
