"""The guest's random bytes (AT_RANDOM, getrandom, /dev/urandom) are the host's, fresh
every run as on the real kernel (a guest making keys must get real ones); with --seed N
they follow from N, the same every run, so that a run can be repeated exactly."""

from __future__ import annotations

from linux.kit import build, run_native, run_pyvm


def _lines(result) -> list:
    assert result.status == 0, result
    lines = result.stdout.decode().splitlines()
    assert [x.split()[0] for x in lines] == ["AT_RANDOM", "getrandom", "urandom"], lines
    return lines


def test_random_bytes_are_fresh_unless_seeded(tmp_path):
    exe = build("random_bytes", "O2")
    native = [_lines(run_native(exe, (), tmp_path)) for _ in range(2)]
    plain = [_lines(run_pyvm(exe, (), tmp_path)) for _ in range(2)]
    seeded = [_lines(run_pyvm(exe, (), tmp_path, options=("--seed", str(n))))
              for n in (7, 7, 8)]
    # the real kernel: every source differs between two runs
    assert all(a != b for a, b in zip(*native))
    assert all(a != b for a, b in zip(*plain))
    assert seeded[0] == seeded[1]
    assert all(a != b for a, b in zip(seeded[0], seeded[2]))
    # and within a run, the three sources never repeat each other
    for run in native + plain + seeded:
        assert len({x.split()[1] for x in run}) == 3
