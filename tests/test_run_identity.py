"""A run folder is one run: its identity is recorded, checked on resume, never overwritten
silently, and what a killed write left is removed."""

import json

import numpy as np
import pytest
import torch

from diffblend_astra.diffusion import VPSchedule
from diffblend_astra.normalization import IntensityWindow
from diffblend_astra.prior_kinds import named_config
from diffblend_astra.run_identity import (RUN_FILE, begin_run, check_run_folder,
                                          identity_differences, run_identity, volume_digest)

VOLUMES = [np.random.default_rng(k).random((4, 8, 8)).astype(np.float32) for k in range(2)]


def identity(volumes=VOLUMES, window=(0.0, 1.0), kind="slice", network="tiny",
             schedule=VPSchedule()):
    return run_identity(volumes, IntensityWindow(*window), kind, named_config(network, kind),
                        schedule)


def test_the_digest_is_of_the_values_not_their_storage():
    v = VOLUMES[0]
    assert volume_digest(v) == volume_digest(torch.from_numpy(v.astype(np.float64)))
    assert volume_digest(v) == volume_digest(v[::-1].copy()[::-1])
    assert volume_digest(v) != volume_digest(v.reshape(8, 4, 8))
    other = v.copy()
    other[0, 0, 0] += 1e-3
    assert volume_digest(v) != volume_digest(other)


@pytest.mark.parametrize("changed, phrase", [
    (dict(volumes=VOLUMES[:1]), "it trains on 2 volumes, now on 1 volume"),
    (dict(volumes=VOLUMES[::-1]), "the content of volume 0, 1 differs"),
    (dict(window=(-1000.0, 2000.0)), 'its window is {"high":1.0,"low":0.0}, now'),
    (dict(kind="blend"), 'its prior kind is "slice", now "blend"'),
    (dict(network="paper"), "its network is"),
    (dict(schedule=VPSchedule(num_timesteps=500)), "its schedule is"),
])
def test_resume_names_what_differs(tmp_path, changed, phrase):
    begin_run(tmp_path, identity(), resume=False, overwrite=False)
    before = (tmp_path / RUN_FILE).read_bytes()
    with pytest.raises(ValueError, match="cannot resume the run in") as err:
        begin_run(tmp_path, identity(**changed), resume=True, overwrite=False)
    assert phrase in str(err.value)
    assert (tmp_path / RUN_FILE).read_bytes() == before
    begin_run(tmp_path, identity(), resume=True, overwrite=False)


def test_an_existing_run_is_refused_without_resume_or_overwrite(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"old")
    with pytest.raises(ValueError, match=r"already holds a training run \(model.safetensors\)"
                                         r"; pass resume=True .* or overwrite=True"):
        begin_run(tmp_path, identity(), resume=False, overwrite=False)
    with pytest.raises(ValueError, match="give one"):
        check_run_folder(tmp_path, resume=True, overwrite=True)
    begin_run(tmp_path, identity(kind="blend"), resume=False, overwrite=True)
    assert not (tmp_path / "model.safetensors").exists()
    assert json.loads((tmp_path / RUN_FILE).read_text())["prior_kind"] == "blend"


def test_a_run_recorded_without_identity_resumes_and_is_then_recorded(tmp_path):
    (tmp_path / "state.safetensors").write_bytes(b"old")
    begin_run(tmp_path, identity(), resume=True, overwrite=False)
    assert identity_differences(json.loads((tmp_path / RUN_FILE).read_text()), identity()) == []


def test_stale_temporaries_of_the_run_files_are_removed(tmp_path):
    stale = tmp_path / ".0123456789ab.tmp.state.safetensors"
    stale.write_bytes(b"half")
    mine = tmp_path / ".notes.state.safetensors"
    mine.write_bytes(b"keep")
    begin_run(tmp_path, identity(), resume=True, overwrite=False)
    assert not stale.exists() and mine.exists()
