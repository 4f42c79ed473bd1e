"""utils/files.py: outputs that appear complete or not at all, and the removal of what killed writers left."""
import errno
import os
import subprocess

import pytest

from utils import files
from utils.files import atomic_path, remove_stale


def _read_only(path, *args, **kwargs):
    raise OSError(errno.EROFS, "Read-only file system", str(path))


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_failed_cleanup_never_hides_the_error_that_stopped_the_write(tmp_path, monkeypatch, kind):
    """On a read-only file system the temporary cannot be made, and removing it fails too (EROFS, not
    ENOENT): the user must see why the write failed, not why the cleanup did."""
    monkeypatch.setattr(files.os, "remove", _read_only)
    monkeypatch.setattr(files.shutil, "rmtree", _read_only)
    with pytest.raises(OSError) as stopped:
        with atomic_path(tmp_path / "out") as tmp:
            if kind == "folder":
                os.mkdir(tmp)
            raise OSError(errno.ENOSPC, "No space left on device", tmp)
    assert stopped.value.errno == errno.ENOSPC
    assert not (tmp_path / "out").exists()


def _dead_pid():
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def test_remove_stale_can_keep_to_one_target(tmp_path):
    dead = _dead_pid()
    for name in (f".out.tmp-{dead}-0123abcd", f".other.tmp-{dead}-0123abcd", f".out.tmp-{os.getpid()}-0123abcd"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "part.png").write_bytes(b"partial")
    assert remove_stale(str(tmp_path), "out") == [f".out.tmp-{dead}-0123abcd"]
    assert sorted(os.listdir(tmp_path)) == [f".other.tmp-{dead}-0123abcd", f".out.tmp-{os.getpid()}-0123abcd"]
    assert remove_stale(str(tmp_path)) == [f".other.tmp-{dead}-0123abcd"]
