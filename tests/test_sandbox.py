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


def test_hidden_paths_do_not_exist_for_the_guest(tree):
    work = tree / "work"
    private = work / ".cache" / "pyvm"
    private.mkdir(parents=True)
    (private / "key").write_text("k")
    (work / "alias").symlink_to(private)
    sb = Sandbox(cwd=str(work), hidden=[str(private)])
    for path in (".cache/pyvm", ".cache/pyvm/key", "alias/key", ".cache/../.cache/pyvm",
                 str(private / "key"), ".cache/pyvm/new"):
        with pytest.raises(SandboxError) as e:
            sb.resolve(path)
        assert e.value.errno == errno.ENOENT, path
    # neither the hidden directory nor anything leading to it may be moved or replaced
    for host in (str(work / ".cache"), str(private), str(work)):
        assert not sb.may_write(host), host
    assert sb.may_write(str(work / ".cache" / "other"))


def test_hidden_by_identity_not_spelling(tree):
    work = tree / "work"
    private = tree / "outside" / "private"
    private.mkdir()
    sb = Sandbox(cwd=str(work), hidden=[str(private)])
    sb.hidden = []                      # only the (device, inode) identity is left
    with pytest.raises(SandboxError):
        sb.resolve(str(private))


def test_proc_is_never_the_hosts(tree):
    sb = Sandbox(cwd=str(tree / "work"), hidden=[])
    for path in ("/proc/self/environ", "/proc/../proc/self/maps", "abs_link/proc/self/exe"):
        with pytest.raises(SandboxError) as e:
            sb.resolve(path)
        assert e.value.errno == errno.EACCES, path
    seen = []
    ref = sb.lookup("abs_link/proc/self/environ",
                    procfs=lambda parts: seen.append(parts) or (
                        ("link", "42") if parts == ("self",) else ("dir",)
                        if parts in ((), ("42",)) else ("file",)))
    assert tuple(ref) == ("42", "environ")


def test_hard_links_need_a_source_inside(tree):
    work = tree / "work"
    sb = Sandbox(cwd=str(work), hidden=[])
    (work / "mine").write_text("m")
    sb.check_link_source(str(work / "mine"))
    with pytest.raises(SandboxError) as e:
        sb.check_link_source(str(tree / "outside" / "secret"))
    assert e.value.errno == errno.EPERM
    os.link(tree / "outside" / "secret", work / "planted")
    with pytest.raises(SandboxError) as e:
        with sb.entry(str(work / "planted")):
            pass
    assert e.value.errno == errno.EPERM


def test_what_the_host_python_runs_is_read_only(tree):
    """A guest started in $HOME must not plant code the next pyvm runs: the Python
    installation, sys.path and the user site directory stay read-only (not hidden)."""
    import site
    import sys
    work = tree / "work"
    sb = Sandbox(cwd=str(work))
    for path in (os.path.join(os.path.dirname(os.__file__), "os.py"),
                 os.path.join(site.getusersitepackages(), "evil.pth"),
                 os.path.join(sys.prefix, "lib", "x.py")):
        assert not sb.may_write(os.path.realpath(path)), path
    assert sb.resolve(os.__file__) == os.path.realpath(os.__file__)   # still readable
    fake_home = Sandbox(cwd=str(work), protected=[str(work / ".local" / "lib")])
    assert not fake_home.may_write(str(work / ".local" / "lib" / "python3" / "x.pth"))
    assert not fake_home.may_write(str(work / ".local"))             # nor moved away
    assert fake_home.may_write(str(work / "notes.txt"))
