import json

import pytest

from medattn.io import write_json_atomic, write_text_atomic


def test_atomic_write_replaces_content_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "sub" / "r.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "r.json"
    write_text_atomic(path, "old")

    class Unwritable:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(TypeError):
        write_text_atomic(path, Unwritable())
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_written_files_get_the_usual_permissions_not_mkstemps_0600(tmp_path):
    import os

    mask = os.umask(0)
    os.umask(mask)
    path = write_text_atomic(tmp_path / "r.txt", "x")
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
