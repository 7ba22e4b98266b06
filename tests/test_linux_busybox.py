"""Debian's static i386 busybox (fetched by .ci/run) under pyvm: each applet's stdout and
exit status must match the native run byte for byte. Skipped locally, with a message, when
the binary is missing; a failure under CI=true."""

from __future__ import annotations

import pytest
from linux.kit import busybox, run_native, run_pyvm

TEXT = "\n".join(f"line {i} {'alpha' if i % 3 else 'beta'} {i * 7 % 11}"
                 for i in range(1, 41)) + "\nZebra\napple\nMango\napple\n"


def setup(d) -> None:
    (d / "text.txt").write_text(TEXT)
    (d / "nums.txt").write_text("\n".join(str((i * 37) % 101) for i in range(60)) + "\n")
    (d / "data.bin").write_bytes(bytes((i * 31 + i // 7) & 0xFF for i in range(50000)))
    (d / "csv.txt").write_text("name,age,city\nann,31,oslo\nbob,27,rome\ncid,45,lima\n")


# name, busybox argv, stdin
CASES = [
 ("echo", ["echo", "-n", "hello", "world"], None),
 ("echo-e", ["echo", "-e", "a\\tb\\nc"], None),
 ("cat", ["cat", "text.txt", "csv.txt"], None),
 ("cat-stdin", ["cat", "-n"], TEXT),
 ("head", ["head", "-n", "5", "text.txt"], None),
 ("head-c", ["head", "-c", "20", "data.bin"], None),
 ("tail", ["tail", "-n", "3", "text.txt"], None),
 ("sort", ["sort", "text.txt"], None),
 ("sort-n", ["sort", "-n", "-r", "nums.txt"], None),
 ("sort-u", ["sort", "-u", "-t", ",", "-k", "2", "csv.txt"], None),
 ("uniq", ["sh", "-c", "sort text.txt | uniq -c"], None),
 ("wc", ["wc", "text.txt", "data.bin"], None),
 ("tr", ["tr", "a-z", "A-Z"], TEXT),
 ("tr-d", ["tr", "-d", "aeiou\\n"], TEXT),
 ("cut", ["cut", "-d", ",", "-f", "1,3", "csv.txt"], None),
 ("cut-c", ["cut", "-c", "1-6", "text.txt"], None),
 ("sed", ["sed", "-e", "s/line/LINE/g", "-e", "/beta/d", "text.txt"], None),
 ("sed-n", ["sed", "-n", "2,5p;$=", "text.txt"], None),
 ("grep", ["grep", "-n", "beta", "text.txt"], None),
 ("grep-cv", ["grep", "-c", "-v", "-i", "APPLE", "text.txt"], None),
 ("grep-E", ["grep", "-E", "^line (1|2)[0-9] ", "text.txt"], None),
 ("awk", ["awk", "-F", ",", "NR>1 {s += $2; print $1, $2 * 2} END {print \"sum\", s, s / 3}", "csv.txt"], None),
 ("awk-printf", ["awk", "{ printf \"%5.2f %s\\n\", $4 / 3, toupper($3) }", "text.txt"], None),
 ("expr", ["expr", "12", "*", "34", "+", "5"], None),
 ("expr-str", ["expr", "length", "hello world"], None),
 ("seq", ["seq", "1", "3", "20"], None),
 ("basename", ["basename", "/usr/lib/libc.so.6", ".6"], None),
 ("dirname", ["dirname", "/usr/lib/libc.so.6"], None),
 ("printf", ["printf", "%05d|%-6s|%x|%.3f\\n", "42", "ab", "255", "3.14159"], None),
 ("od", ["od", "-A", "x", "-t", "x1z", "-N", "64", "data.bin"], None),
 ("rev", ["rev", "text.txt"], None),
 ("md5sum", ["md5sum", "text.txt", "data.bin"], None),
 ("sha1sum", ["sha1sum", "data.bin"], None),
 ("sha256sum", ["sha256sum", "text.txt", "data.bin"], None),
 ("cksum", ["cksum", "data.bin"], None),
 ("gzip", ["sh", "-c", "gzip -c < data.bin > d.gz && gunzip -c d.gz | cmp - data.bin && wc -c < d.gz && md5sum d.gz"], None),
 ("bzip2", ["sh", "-c", "bzip2 -c text.txt | bunzip2 -c | md5sum; bzip2 -c < text.txt | wc -c"], None),
 ("sh-arith", ["sh", "-c", "echo $((7 * 6 + 2 ** 10 - 100 / 7 % 5)) $(( (1 << 20) | 3 ))"], None),
 ("sh-loop", ["sh", "-c", "i=0; for w in a b c d; do i=$((i + 1)); echo \"$i:$w\"; done; while [ $i -gt 0 ]; do i=$((i - 1)); done; echo done $i"], None),
 ("sh-subst", ["sh", "-c", "n=$(wc -l < text.txt); echo lines=$n; echo \"$(echo inner $(echo nested))\"; x=`seq 3 | tr '\\n' +`; echo $x"], None),
 ("sh-pipeline", ["sh", "-c", "cat text.txt | grep alpha | sort -k 4 -n | head -n 4 | cut -d ' ' -f 2,4"], None),
 ("sh-status", ["sh", "-c", "false; echo $?; (exit 3); echo $?; sh -c 'exit 5'; echo $?"], None),
 ("sh-func", ["sh", "-c", "f() { echo \"f($1)\"; return 2; }; f x; echo r=$?; case abc in a*) echo match;; esac"], None),
 ("sh-files", ["sh", "-c", "mkdir -p sub/dir && echo hi > sub/dir/f && cp sub/dir/f g && mv g h && ls sub/dir h && rm -r sub h && ls"], None),
 ("xargs", ["sh", "-c", "seq 5 | xargs -n 2 echo"], None),
 ("find", ["sh", "-c", "mkdir -p a/b && touch a/b/c a/x && find a | sort"], None),
 ("tee", ["sh", "-c", "echo tee-data | tee out.txt | tr a-z A-Z; cat out.txt"], None),
 ("diff", ["sh", "-c", "printf 'a\\nb\\nc\\n' > x; printf 'a\\nB\\nc\\n' > y; diff x y; echo $?"], None),
 ("test", ["sh", "-c", "[ -f text.txt ] && echo file; [ -d . ] && echo dir; test 3 -lt 10 && echo lt"], None),
 ("yes-head", ["sh", "-c", "yes abc | head -n 3"], None),
 ("fold", ["fold", "-w", "10", "text.txt"], None),
 ("nl", ["nl", "csv.txt"], None),
 ("hexdump", ["hexdump", "-C", "-n", "48", "data.bin"], None),
 ("base64", ["sh", "-c", "base64 csv.txt; base64 csv.txt | base64 -d"], None),
 ("dc", ["dc", "-e", "2 64 ^ p 7 3 / p"], None),
 ("factor", ["factor", "360", "97", "1000000007"], None),
 ("tac", ["tac", "csv.txt"], None),
 ("paste", ["paste", "-d", ":", "csv.txt", "csv.txt"], None),
 ("strings", ["strings", "-n", "5", "data.bin"], None),
 ("awk-math", ["awk", "BEGIN { printf \"%.6f %.6f %.6f %d\\n\", sin(1), exp(2.5), sqrt(2), int(-3.7); x = 2^40; print x, x / 3 }"], None),
 ("tar", ["sh", "-c", "mkdir -p t/d && echo one > t/a && echo two > t/d/b && tar cf x.tar t && rm -r t && tar xvf x.tar && cat t/a t/d/b"], None),
 ("ls-l", ["sh", "-c", "touch -d '2001-02-03 04:05:06' f1 && chmod 640 f1 && ls -l --full-time f1 | cut -c 1-10,30-"], None),
 ("date", ["date", "-u", "-d", "@1000000000", "+%Y-%m-%d %H:%M:%S %j %A"], None),
 ("env", ["env", "-i", "A=1", "B=two", "env"], None),
 ("md5-c", ["sh", "-c", "md5sum text.txt csv.txt > sums; md5sum -c sums"], None),
 ("sha512", ["sha512sum", "data.bin"], None),
 ("heredoc", ["sh", "-c", "cat <<EOF\nhello $((1+2))\nEOF\nread a b <<X\nfirst second\nX\necho $b $a"], None),
 ("trap", ["sh", "-c", "trap 'echo caught' USR1; kill -USR1 $$; echo after; trap 'echo bye' EXIT"], None),
 ("background", ["sh", "-c", "(sleep 0.2; echo bg) & echo fg; wait; echo end"], None),
 ("sed-i", ["sh", "-c", "cp csv.txt c2 && sed -i 's/,/;/g' c2 && cat c2"], None),
 ("devices", ["sh", "-c", "echo hidden > /dev/null; echo shown > /dev/stdout; head -c 4 /dev/zero | od -An -tx1"], None),
]


# more of the same kind: run with -m slow
SLOW = {"echo-e", "cat-stdin", "head-c", "sort-u", "grep-cv", "grep-E", "awk-printf",
        "expr-str", "cut-c", "sed-n", "tr-d", "fold", "nl", "hexdump", "dc", "factor", "tac",
        "paste", "strings", "diff", "test", "sha512", "env", "md5-c", "ls-l", "date",
        "background"}
PARAMS = [pytest.param(*c, id=c[0], marks=[pytest.mark.slow] if c[0] in SLOW else [])
          for c in CASES]


@pytest.mark.parametrize("name,argv,stdin", PARAMS)
def test_applet_matches_native(name, argv, stdin, tmp_path):
    bb = busybox()
    native_dir, pyvm_dir = tmp_path / "native", tmp_path / "pyvm"
    for d in (native_dir, pyvm_dir):
        d.mkdir()
        setup(d)
    data = stdin.encode() if stdin else b""
    native = run_native(bb, argv, native_dir, data)
    emulated = run_pyvm(bb, argv, pyvm_dir, data)
    assert emulated.stdout == native.stdout, emulated
    assert emulated.status == native.status, emulated
    assert b"Traceback" not in emulated.stderr


def test_exit_status_and_signal_from_sh(tmp_path):
    """A child killed by a signal: sh sees 128 + signal, as natively."""
    bb = busybox()
    script = "sh -c 'kill -TERM $$'; echo killed=$?; sh -c 'exit 42'; echo exit=$?"
    native = run_native(bb, ["sh", "-c", script], tmp_path)
    emulated = run_pyvm(bb, ["sh", "-c", script], tmp_path)
    assert emulated.stdout == native.stdout == b"killed=143\nexit=42\n"


def test_busybox_as_its_own_shell_script_interpreter(tmp_path):
    """execve of a #! script whose interpreter is busybox (with --root a tree holding it)."""
    bb = busybox()
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "busybox").write_bytes(bb.read_bytes())
    (root / "bin" / "busybox").chmod(0o755)
    (root / "bin" / "sh").symlink_to("busybox")
    (root / "work").mkdir()
    script = root / "work" / "hello.sh"
    script.write_text("#!/bin/sh\necho script says $1\n")
    script.chmod(0o755)
    result = run_pyvm(bb, ["sh", "-c", "cd /work && ./hello.sh hi; echo status $?"],
                      tmp_path, options=["--root", str(root)])
    assert result.stdout == b"script says hi\nstatus 0\n", result
