"""The file-system sandbox seen from real guest programs: writes outside the start
directory fail with EROFS (a read-only mount), whether the path goes there directly, by
``..`` or through a symlink; --allow-write widens it; --root is the guest's /."""

from __future__ import annotations

import os

from linux.kit import build, run_pyvm


def _tree(tmp_path):
    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    outside.mkdir()
    (outside / "existing.txt").write_text("outside data\n")
    (work / "link_out").symlink_to(outside)
    return work, outside


def _report(result) -> dict:
    out = {}
    for line in result.stdout.decode().splitlines():
        key, _, value = line.rpartition(": ")
        out[key] = value
    return out


def test_writes_outside_the_start_directory_are_refused(tmp_path):
    work, outside = _tree(tmp_path)
    result = run_pyvm(build("sandbox_probe"), [str(outside)], cwd=work)
    assert result.status == 0, result
    r = _report(result)
    assert r["create here"] == "ok"
    for attempt in ("create ../", "create absolute", "create via symlink",
                    "create via ../ chain", "append existing", "unlink outside", "rename out",
                    "mkdir outside", "symlink outside", "chmod outside", "access W outside",
                    "create after chdir", "/etc/passwd for writing"):
        assert r[attempt] == "EROFS", (attempt, r)
    assert r["read existing"] == "ok" and r["chdir .."] == "ok" and r["mkdir here"] == "ok"
    assert sorted(os.listdir(outside)) == ["existing.txt"]
    assert (outside / "existing.txt").read_text() == "outside data\n"
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "chain.txt").exists()
    assert (work / "inside.txt").read_text() == "escaped\n"


def test_allow_write_widens_the_writable_tree(tmp_path):
    work, outside = _tree(tmp_path)
    result = run_pyvm(build("sandbox_probe"), [str(outside)], cwd=work,
                      options=["--allow-write", str(outside)])
    r = _report(result)
    assert r["create absolute"] == r["create via symlink"] == r["mkdir outside"] == "ok", r
    assert r["create ../"] == "EROFS"
    assert (outside / "abs.txt").exists() and (outside / "newdir").is_dir()


def test_root_is_the_guests_slash(tmp_path):
    root = tmp_path / "root"
    for d in ("etc", "home", "work"):
        (root / d).mkdir(parents=True)
    (root / "etc" / "motd").write_text("welcome to the guest root\n")
    (root / "home" / "up").symlink_to("../../../..")
    result = run_pyvm(build("root_probe"), cwd=root / "work", options=["--root", str(root)])
    assert result.status == 0, result
    assert result.stdout.decode().splitlines() == [
        "/: etc home work",
        "/../../..: etc home work",
        "motd: welcome to the guest root",
        "cwd: /",
        "symlink up: welcome to the guest root",
    ]
