"""A Debian i386 userland under ``pyvm --root``: a root made from Debian's packages by
scripts/make-i386-root.sh (libc6, coreutils, dash, gzip, sed, grep, gawk, bc, lua5.4 and
their libraries; built once per version of the script, cached in the temp directory),
and real commands with real inputs run in it, compared with ``qemu-i386 -L ROOT``.

Every program here is dynamic: /lib/ld-linux.so.2 and the libraries come from the root.
Commands run in a directory inside the root (relative paths name the same files for both
runners), with the same small environment. qemu-user does not follow execve (a program
that dash starts under ``qemu-i386 -L`` is the host's own ``/usr/bin/sort``), so the
commands that start others (``sh -c`` pipelines, system()) have a native ``chroot`` into
the root as their oracle instead: this host runs i386 code, and chroot needs root, which
CI has."""

from __future__ import annotations

import fcntl
import hashlib
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import IN_CI, require_tool
from linux.kit import ROOT as REPO
from linux.kit import TIMEOUT, Result, _env

SCRIPT = REPO / "scripts" / "make-i386-root.sh"
SYSTEM_C = REPO / "tests" / "dynamic" / "system_call.c"
ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": "/", "TZ": "UTC"}


@pytest.fixture(scope="session")
def i386_root() -> Path:
    """The Debian i386 root, built on first use (a lock keeps parallel workers to one
    build); a missing apt or network skips locally and fails under CI."""
    require_tool("qemu-i386")
    for tool in ("apt-get", "apt-cache", "dpkg"):
        require_tool(tool)
    key = hashlib.sha256(SCRIPT.read_bytes()).hexdigest()[:12]
    base = Path(tempfile.gettempdir()) / f"pyvm-i386-root-{os.getuid()}"
    base.mkdir(exist_ok=True)
    root = base / key
    with open(base / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / ".packages").exists():
            proc = subprocess.run(["bash", str(SCRIPT), str(root)], capture_output=True,
                                  text=True, timeout=1800)
            if proc.returncode or not (root / ".packages").exists():
                message = f"cannot build the i386 root:\n{proc.stderr[-2000:]}"
                if IN_CI:
                    pytest.fail(message)
                pytest.skip(message)
    return root


WORDS = ("the quick brown fox jumps over the lazy dog while a lazy cat sleeps in the "
         "warm sun and the dog barks at the moon singing loudly running jumping eating "
         "apple banana cherry date elderberry fig grape kiwi lemon mango").split()


def _inputs(work: Path) -> None:
    rng = random.Random(12)
    (work / "words.txt").write_text("".join(rng.choice(WORDS) + "\n" for _ in range(400)))
    lines = []
    for _ in range(60):
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        lines.append(line.capitalize() + rng.choice([".", "!", "?", ","]))
    (work / "text.txt").write_text("\n".join(lines) + "\n")
    (work / "nums.txt").write_text("".join(f"{rng.randint(-5000, 100000)}\n"
                                           for _ in range(300)))
    (work / "table.txt").write_text("".join(
        f"user{i}:x:{1000 + i * 7}:{rng.randint(1, 99)}:User {i}:/home/u{i}:/bin/sh\n"
        for i in range(40)))
    (work / "prog.awk").write_text(
        '{ for (i = 1; i <= NF; i++) { w = tolower($i); gsub(/[^a-z]/, "", w);\n'
        '    if (w != "") count[w]++ } }\n'
        'END { n = asorti(count, keys); for (i = 1; i <= n; i++)\n'
        '    printf "%-12s %3d %s\\n", keys[i], count[keys[i]],\n'
        '           substr("##########", 1, count[keys[i]] % 10) }\n')
    (work / "calc.bc").write_text(
        "scale = 50\n4 * a(1)\ne(1)\nl(10)\nscale = 0\n2 ^ 256\n"
        "define f(n) { if (n < 2) return 1; return n * f(n - 1); }\nf(40)\n"
        "obase = 16\n255 * 255\nquit\n")
    (work / "script.lua").write_text(
        "local t = {}\n"
        "for w in io.lines('words.txt') do t[w] = (t[w] or 0) + 1 end\n"
        "local keys = {}\nfor k in pairs(t) do keys[#keys + 1] = k end\n"
        "table.sort(keys, function(a, b) return t[a] > t[b] or t[a] == t[b] and a < b end)\n"
        "for i = 1, 5 do print(string.format('%-8s %4d', keys[i], t[keys[i]])) end\n"
        "local function fib(n) if n < 2 then return n end return fib(n-1) + fib(n-2) end\n"
        "print(fib(20), 2^0.5, math.floor(-3.5), 7 // 2, 7 % -3, #keys)\n"
        "print(('hello world'):gsub('o', '0'), ('%d items'):format(42))\n"
        "local co = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i * i) end end)\n"
        "print(co(), co(), co())\n")
    (work / "script.sh").write_text(
        "set -e\n"
        "count() { n=0; for x in \"$@\"; do n=$((n + 1)); done; echo $n; }\n"
        "echo args $(count a b 'c d' e)\n"
        "for f in words.txt text.txt missing.txt; do\n"
        "  case $f in w*) echo \"w: $f\";; *.txt) [ -e $f ] && echo \"exists: $f\" "
        "|| echo \"absent: $f\";; esac\n"
        "done\n"
        "i=0; while [ $i -lt 5 ]; do i=$((i + 1)); printf '%d^2=%d ' $i $((i * i)); done; echo\n"
        "trap 'echo bye' EXIT\n"
        "x=$(grep -c lazy text.txt) && echo lazy lines $x\n"
        "exit 3\n")


# name -> (argv in the root, stdin, compare stderr too)
def _cases():
    sh = "/bin/sh"
    return {
        "sort": (["/usr/bin/sort", "words.txt"], b"", False),
        "sort-numeric-reverse": (["/usr/bin/sort", "-n", "-r", "nums.txt"], b"", False),
        "uniq-count": ([sh, "-c", "sort words.txt | uniq -c | sort -k1,1nr -k2 | head -n 7"],
                       b"", False),
        "wc": (["/usr/bin/wc", "text.txt", "words.txt"], b"", False),
        "head-tail": ([sh, "-c", "head -n 4 text.txt; tail -n 3 nums.txt"], b"", False),
        "cut": (["/usr/bin/cut", "-d:", "-f1,3,5", "table.txt"], b"", False),
        "tr-stdin": (["/usr/bin/tr", "a-z", "A-Z"], b"Mixed Case input\nline two\n", False),
        "md5sum": (["/usr/bin/md5sum", "text.txt", "words.txt"], b"", False),
        "sha256sum": (["/usr/bin/sha256sum", "nums.txt"], b"", False),
        "seq": (["/usr/bin/seq", "-w", "1", "7", "100"], b"", False),
        "expr": (["/usr/bin/expr", "123456789", "*", "987"], b"", False),
        "printf": (["/usr/bin/printf", "%05d|%-6s|%x|%.3f\\n", "42", "ab", "255", "3.14159"],
                   b"", False),
        "base64": (["/usr/bin/base64", "text.txt"], b"", False),
        "od": (["/usr/bin/od", "-A", "x", "-t", "x1z", "-N", "96", "text.txt"], b"", False),
        "tac-nl": ([sh, "-c", "tac text.txt | nl -ba | tail -n 5"], b"", False),
        "date": (["/bin/date", "-u", "-d", "@1234567890", "+%Y-%m-%d %H:%M:%S %A %j"],
                 b"", False),
        "cat-missing": (["/bin/cat", "text.txt", "missing.txt"], b"", True),
        "sed-subst": (["/bin/sed", "-n", "-e", r"s/\([a-z]*\)ing/<\1>/gp", "text.txt"],
                      b"", False),
        "sed-extended": (["/bin/sed", "-E", "s/[0-9]+/#/g; 3q", "table.txt"], b"", False),
        "grep-count": (["/bin/grep", "-c", "-i", "the", "text.txt"], b"", False),
        "grep-extended": ([sh, "-c", "grep -o -E '[A-Z][a-z]+' text.txt | sort -u"],
                          b"", False),
        "grep-none": (["/bin/grep", "-n", "zebra", "text.txt"], b"", False),
        "awk-sum": (["/usr/bin/awk", "-F:", "{ s += $3; n++ } END "
                     "{ printf \"%d %d %.4f\\n\", s, n, s / n }", "table.txt"], b"", False),
        "awk-program": (["/usr/bin/awk", "-f", "prog.awk", "text.txt"], b"", False),
        "awk-math": (["/usr/bin/awk", "BEGIN { for (i = 1; i <= 8; i++) "
                      "printf \"%.6f %.3e %d\\n\", sin(i), exp(i), int(log(i) * 100) }"],
                     b"", False),
        "bc-file": (["/usr/bin/bc", "-l", "calc.bc"], b"", False),
        "bc-stdin": (["/usr/bin/bc"], b"scale=30; sqrt(2)\n3^100 % 1000007\n", False),
        "lua-script": (["/usr/bin/lua", "script.lua"], b"", False),
        "lua-expr": (["/usr/bin/lua5.4", "-e",
                      "print(('x'):rep(3), 7 // 2, 2^10, math.maxinteger, 10 / 4)"],
                     b"", False),
        "gzip-bytes": (["/bin/gzip", "-9", "-c"], b"compress me " * 300, False),
        "gzip-roundtrip": ([sh, "-c", "gzip -c < text.txt | gzip -d | md5sum; "
                            "gzip -1 -c words.txt | wc -c"], b"", False),
        "sh-status": ([sh, "-c", "false | true; echo pipe $?; (exit 7); echo sub $?; "
                       "x=$(seq 5 | wc -l); [ $x -eq 5 ] && echo five; exit 4"], b"", False),
        "sh-read-loop": ([sh, "-c", "while IFS=: read a b c d rest; do echo \"$d-$a\"; "
                          "done < table.txt | sort -n | head -n 6"], b"", False),
        "sh-script": ([sh, "script.sh"], b"", False),
        "sh-heredoc-arith": ([sh, "-c", "cat <<EOF | awk '{ print $2 * $3 }'\n"
                              "a $((6 * 7)) 10\nb $((1 << 20)) 2\nEOF\n"
                              "echo $((17 % 5)) ${#HOME}"], b"", False),
    }


CASES = _cases()


def _work(root: Path) -> Path:
    work = Path(tempfile.mkdtemp(prefix="w", dir=root / "tmp"))
    _inputs(work)
    return work


def _oracle(root: Path, argv, work: Path, stdin: bytes) -> Result:
    qemu = require_tool("qemu-i386")
    return Result(subprocess.run([qemu, "-L", str(root), str(root) + argv[0], *argv[1:]],
                                 cwd=work, input=stdin, capture_output=True, env=ENV,
                                 timeout=TIMEOUT))


def _chroot(root: Path, argv, work: Path, stdin: bytes) -> Result:
    """The command run natively inside the root (chroot(2): needs root)."""
    if os.geteuid() != 0:
        message = "a native chroot into the i386 root needs root"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    inside = "/" + str(work.relative_to(root))

    def enter() -> None:
        os.chroot(root)
        os.chdir(inside)

    return Result(subprocess.run(argv, cwd=work, input=stdin, capture_output=True, env=ENV,
                                 timeout=TIMEOUT, preexec_fn=enter))


def _pyvm(root: Path, argv, work: Path, stdin: bytes) -> Result:
    opts = ["--root", str(root), "--clear-env"] + [f"--env={k}={v}" for k, v in ENV.items()]
    cmd = [sys.executable, "-m", "vm.cli", *opts, str(root) + argv[0], *argv[1:]]
    return Result(subprocess.run(cmd, cwd=work, input=stdin, capture_output=True,
                                 env=_env(None), timeout=TIMEOUT))


@pytest.mark.parametrize("name", list(CASES))
def test_command_matches_qemu(name, i386_root):
    argv, stdin, stderr_too = CASES[name]
    work = _work(i386_root)
    oracle = _chroot if argv[0] == "/bin/sh" else _oracle     # see the module's note
    expected = oracle(i386_root, argv, work, stdin)
    got = _pyvm(i386_root, argv, work, stdin)
    assert expected.stdout or expected.status, expected        # the oracle ran it
    assert got.stdout == expected.stdout, got
    assert got.status == expected.status, (got, expected)
    if stderr_too:
        assert expected.stderr and got.stderr == expected.stderr, (got, expected)
    assert b"Traceback" not in got.stderr and b"pyvm:" not in got.stderr, got


def test_system_from_a_c_program(i386_root):
    """A gcc -m32 program (dynamic, against the root's libc) calling system() and popen():
    /bin/sh is the root's dash."""
    gcc = require_tool("gcc")
    work = _work(i386_root)
    exe = work / "system_call"
    subprocess.run([gcc, "-m32", "-O2", str(SYSTEM_C), "-o", str(exe)], check=True)
    argv = ["/" + str(exe.relative_to(i386_root))]
    expected = _chroot(i386_root, argv, work, b"")
    got = _pyvm(i386_root, argv, work, b"")
    assert expected.status == 6 and b"VIA SYSTEM" in expected.stdout, expected
    assert got.stdout == expected.stdout and got.status == 6, got
