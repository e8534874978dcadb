"""Saving never loses or corrupts a checkpoint: each save writes a temporary file of its own
beside the target and renames it over it, so concurrent savers never fail and readers never
see part of a file; a user's own files are left alone, symlinks stay links (their target is
updated), permissions are kept, and a failed write leaves the old file and no temporary
behind."""

from __future__ import annotations

import errno
import multiprocessing
import os
import stat

import numpy as np
import pytest

import dropnet
from dropnet import saving
from dropnet.layers import Dense, Input
from dropnet.models import Sequential, load_model


def _model(seed=0):
    dropnet.set_random_seed(seed)
    m = Sequential([Input((3,)), Dense(4, activation="relu"), Dense(1)])
    m.compile("adam", "mse")
    return m


def _files(folder):
    return sorted(os.listdir(folder))


def test_a_users_tmp_file_beside_the_target_is_left_alone(tmp_path):
    path = tmp_path / "m.dropnet"
    mine = tmp_path / "m.dropnet.tmp"
    mine.write_text("my notes")
    _model().save(path)
    assert mine.read_text() == "my notes"
    assert _files(tmp_path) == ["m.dropnet", "m.dropnet.tmp"]


def test_a_symlinked_checkpoint_stays_a_link_and_its_target_is_updated(tmp_path):
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "real.dropnet"
    link = tmp_path / "latest.dropnet"
    first, second = _model(0), _model(1)
    first.save(target)
    link.symlink_to(target)
    second.save(link)
    assert link.is_symlink()
    for a, b in zip(load_model(target).get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert _files(tmp_path / "store") == ["real.dropnet"]


def test_permissions_are_kept_and_new_files_get_the_umask(tmp_path):
    path = tmp_path / "m.dropnet"
    _model().save(path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask
    os.chmod(path, 0o600)
    _model(1).save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "m.dropnet"
    old = _model(0)
    old.save(path)

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(saving.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        _model(1).save(path)
    monkeypatch.undo()
    assert _files(tmp_path) == ["m.dropnet"]
    for a, b in zip(load_model(path).get_weights(), old.get_weights()):
        np.testing.assert_array_equal(a, b)


def _saver(path, seed, count, errors):
    try:
        m = _model(seed)
        for _ in range(count):
            m.save(path)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        errors.put(repr(exc))


def test_concurrent_savers_never_fail_and_readers_never_see_a_partial_file(tmp_path):
    path = str(tmp_path / "shared.dropnet")
    _model(0).save(path)
    ctx = multiprocessing.get_context("fork")
    errors = ctx.Queue()
    savers = [ctx.Process(target=_saver, args=(path, s, 60, errors)) for s in (1, 2)]
    for p in savers:
        p.start()
    loads = 0
    while any(p.is_alive() for p in savers) or loads < 20:
        loaded = load_model(path)  # any partial file would raise here
        assert len(loaded.get_weights()) == 4
        loads += 1
    for p in savers:
        p.join()
        assert p.exitcode == 0
    assert errors.empty(), errors.get()
    assert _files(tmp_path) == ["shared.dropnet"]
