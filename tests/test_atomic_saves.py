"""Atomic saves: a save that fails part-way leaves the old file intact.

Every save path the library offers goes through ``_atomic.atomic_write``:
``persistence.save`` and the command-line tool's outputs. Failures are
injected where a real one would strike: a full disk (``ENOSPC``), a
``KeyboardInterrupt``, and a ``SIGKILL`` of the saving process.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from sklearn_cl import ContinualClassifier
from sklearn_cl._atomic import atomic_write
from sklearn_cl.cli import main
from sklearn_cl.persistence import load, save

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def models(digits):
    X, y = digits
    old = ContinualClassifier(max_epochs=1, random_state=0).fit(X[:200], y[:200])
    new = ContinualClassifier(max_epochs=1, random_state=1).fit(X[:200], y[:200])
    return old, new


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize(
    "failure",
    [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()],
    ids=["ENOSPC", "KeyboardInterrupt"],
)
@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_failed_save_keeps_the_old_file(
    models, digits, tmp_path, monkeypatch, failure, where
):
    X, _ = digits
    old, new = models
    path = tmp_path / "model.skops"
    save(old, path)
    before = path.read_bytes()

    def fail(*args):
        raise failure

    if where in ("fsync", "replace"):  # replace: a permission error, say
        monkeypatch.setattr(f"sklearn_cl._atomic.os.{where}", fail)
    else:
        real_fdopen = os.fdopen

        class HalfWriter:
            """Writes half of the data, then fails."""

            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, data):
                self.f.write(bytes(data)[: len(data) // 2])
                raise failure

        monkeypatch.setattr(
            "sklearn_cl._atomic.os.fdopen",
            lambda fd, mode: HalfWriter(real_fdopen(fd, mode)),
        )
    with pytest.raises(type(failure)):
        save(new, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    np.testing.assert_array_equal(load(path).predict_proba(X), old.predict_proba(X))
    assert _leftovers(tmp_path) == []


@pytest.mark.slow  # a child process that imports torch
def test_sigkill_during_a_save_keeps_the_old_file(models, digits, tmp_path):
    X, _ = digits
    old, _ = models
    path = tmp_path / "model.skops"
    save(old, path)
    before = path.read_bytes()
    ready = tmp_path / "ready"
    # the child writes another model, announces it is in the middle of the
    # write (data written, not yet committed), and waits there to be killed
    script = textwrap.dedent(
        f"""
        import os, time
        import numpy as np
        from sklearn_cl import ContinualClassifier
        from sklearn_cl import _atomic
        from sklearn_cl.persistence import save

        X = np.random.default_rng(0).normal(size=(64, 64)).astype("float32")
        model = ContinualClassifier(
            hidden_layer_sizes=(64,), max_epochs=1, random_state=0
        ).fit(X, np.arange(64) % 10)

        def stall(fd):
            open({str(ready)!r}, "w").close()
            time.sleep(60)

        _atomic.os.fsync = stall
        save(model, {str(path)!r})
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the child never reached the write"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    np.testing.assert_array_equal(load(path).predict_proba(X), old.predict_proba(X))


def test_atomic_write_keeps_the_mode_and_accepts_a_writer(tmp_path):
    path = tmp_path / "out.bin"
    atomic_write(path, b"first")
    assert path.stat().st_mode & 0o777 == 0o644
    path.chmod(0o600)
    atomic_write(path, lambda f: f.write(b"second"))
    assert path.read_bytes() == b"second"
    assert path.stat().st_mode & 0o777 == 0o600
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("umask", [0o077, 0o027, 0o022], ids=oct)
def test_a_new_file_gets_the_umask_s_mode(tmp_path, umask):
    # the temporary file used to be chmod'ed to 0644 whatever the umask: a
    # model saved under a private umask (077) became world-readable
    previous = os.umask(umask)
    try:
        save(ContinualClassifier(), tmp_path / "model.skops")
        atomic_write(tmp_path / "out.bin", b"data")
    finally:
        os.umask(previous)
    for name in ("model.skops", "out.bin"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask
    assert _leftovers(tmp_path) == []


def test_a_symbolic_link_is_written_through(models, digits, tmp_path):
    # the link used to be replaced by a regular file, its target left stale
    X, _ = digits
    old, new = models
    target = tmp_path / "versions" / "v1.skops"
    target.parent.mkdir()
    save(old, target)
    link = tmp_path / "current.skops"
    link.symlink_to(target)
    save(new, link)
    assert link.is_symlink() and link.resolve() == target
    np.testing.assert_array_equal(load(target).predict_proba(X), new.predict_proba(X))
    assert _leftovers(target.parent) == [] and _leftovers(tmp_path) == []


def test_a_name_near_the_file_system_s_limit(tmp_path):
    # the temporary file's name, 30 characters longer, was too long
    for name in ("m" * 240 + ".skops", "模型" * 40 + ".skops"):  # 240 bytes
        save(ContinualClassifier(), tmp_path / name)
        assert load(tmp_path / name).get_params() == ContinualClassifier().get_params()
    assert _leftovers(tmp_path) == []


def test_a_folder_or_a_missing_folder_as_target_says_so(tmp_path):
    # the errors named the temporary file, not the mistake
    with pytest.raises(IsADirectoryError, match="is a directory; pass the path"):
        save(ContinualClassifier(), tmp_path)
    with pytest.raises(FileNotFoundError, match="folder .*missing does not exist"):
        save(ContinualClassifier(), tmp_path / "missing" / "model.skops")
    assert list(tmp_path.iterdir()) == []


def test_cli_outputs_are_replaced_atomically(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    argv = ["compare", "--strategies", "finetune", "--seeds", "1", "--n-tasks",
            "2", "--epochs", "1", "--update-epochs", "1", "--hidden", "8",
            "--quiet", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"results.csv", "results.json"} <= set(before)

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("sklearn_cl._atomic.os.fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        main(argv)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
