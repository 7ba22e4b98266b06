"""The guest file-system sandbox: no write outside the writable trees, no escape through
`..` or symlinks, chroot-like --root."""

from __future__ import annotations

import errno
import os

import pytest

from vm.sandbox import Sandbox, SandboxError


@pytest.fixture()
def tree(tmp_path):
    work = tmp_path / "work"
    outside = tmp_path / "outside"
    root = tmp_path / "root"
    for d in (work, outside, root / "etc", root / "home"):
        d.mkdir(parents=True)
    (outside / "secret").write_text("s")
    (root / "etc" / "passwd").write_text("guest")
    (work / "to_outside").symlink_to(outside)
    (work / "abs_link").symlink_to("/")
    (root / "home" / "up").symlink_to("../../..")
    (root / "home" / "abs").symlink_to("/etc")
    (work / "loop").symlink_to("loop")
    return tmp_path


def test_writes_only_under_the_start_directory(tree):
    sb = Sandbox(cwd=str(tree / "work"))
    sb.check_write(sb.resolve("new.txt"))
    sb.check_write(sb.resolve("./new.txt"))
    for path in ("../outside/x", str(tree / "outside" / "x"), "/etc/passwd",
                 "to_outside/secret", "to_outside/new", "abs_link/tmp/x"):
        with pytest.raises(SandboxError) as e:
            sb.check_write(sb.resolve(path))
        assert e.value.errno == errno.EROFS, path


def test_allow_write_widens(tree):
    sb = Sandbox(cwd=str(tree / "work"), writable=(str(tree / "outside"),))
    sb.check_write(sb.resolve("to_outside/new"))


def test_reads_see_the_host(tree):
    sb = Sandbox(cwd=str(tree / "work"))
    assert sb.resolve("to_outside/secret") == str(tree / "outside" / "secret")
    assert sb.resolve("/etc") == os.path.realpath("/etc")


def test_root_is_a_chroot(tree):
    sb = Sandbox(root=str(tree / "root"), cwd=str(tree / "work"))
    root = str(tree / "root")
    assert sb.resolve("/etc/passwd") == os.path.join(root, "etc", "passwd")
    assert sb.resolve("/../../../etc/passwd") == os.path.join(root, "etc", "passwd")
    # symlinks resolve inside the guest root, relative or absolute
    assert sb.resolve("/home/up/etc/passwd") == os.path.join(root, "etc", "passwd")
    assert sb.resolve("/home/abs/passwd") == os.path.join(root, "etc", "passwd")
    assert sb.cwd == "/"
    with pytest.raises(SandboxError):
        sb.check_write(sb.resolve("/etc/new"))


def test_lstat_style_resolution_keeps_the_final_link(tree):
    sb = Sandbox(cwd=str(tree / "work"))
    assert sb.resolve("to_outside", follow=False) == str(tree / "work" / "to_outside")
    sb.check_write(sb.resolve("to_outside", follow=False))   # unlinking the link is fine


def test_symlink_loop_and_bad_paths(tree):
    sb = Sandbox(cwd=str(tree / "work"))
    with pytest.raises(SandboxError) as e:
        sb.resolve("loop/x")
    assert e.value.errno == errno.ELOOP
    with pytest.raises(SandboxError) as e:
        sb.resolve("")
    assert e.value.errno == errno.ENOENT
    with pytest.raises(SandboxError) as e:
        sb.resolve("nope/x")
    assert e.value.errno == errno.ENOENT
