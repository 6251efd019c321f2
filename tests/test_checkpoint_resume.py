"""--resume reads a checkpoint only when the overrides keep to mesh and device options."""

import pytest

from sdfrecon.base.checkpoint import load_for_resume, save_checkpoint
from sdfrecon.base.errors import ConfigError, InputError


def test_resume_allows_mesh_and_device_overrides_only(tmp_path):
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, {"step": 7})
    assert load_for_resume(path, [{"mesh": {"resolution": 64}}, {"device": "cpu"}])["step"] == 7
    with pytest.raises(ConfigError, match="only mesh and device options may change, not train"):
        load_for_resume(path, [{"train": {"iterations": 5}}])


def test_resume_without_a_checkpoint_or_with_a_bad_one(tmp_path):
    with pytest.raises(ConfigError, match="no checkpoint"):
        load_for_resume(tmp_path / "missing.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a readable checkpoint"):
        load_for_resume(tmp_path / "junk.ckpt")
