"""The table of kinds against the bundled weights, the one loader, and the format version."""

import json
import shutil
from importlib import resources
from pathlib import Path

import pytest

from diffblend_astra.checkpoint import (FORMAT_VERSION, bundled_path, load_bundled,
                                        load_checkpoint, load_prior, sidecar_path)
from diffblend_astra.comparisons.fbp_unet import FbpUnet
from diffblend_astra.prior_kinds import (BUNDLED_KIND, BUNDLED_WEIGHTS, KINDS, PRIOR_CLASSES,
                                         named_config)

WEIGHTS = Path(str(resources.files("diffblend_astra") / "weights"))
SIDECARS = sorted(WEIGHTS.glob("*.json"))


def test_every_bundled_weight_file_has_a_kind_in_the_table():
    assert SIDECARS
    stems = {stem: name for name, stem in BUNDLED_WEIGHTS.items()}
    for sidecar in SIDECARS:
        assert sidecar.with_suffix(".safetensors").is_file(), sidecar
        assert sidecar.stem in stems, f"{sidecar.name} is not named in BUNDLED_WEIGHTS"
        meta = json.loads(sidecar.read_text())
        assert meta.get("format_version") == FORMAT_VERSION, sidecar
        assert meta.get("kind") in KINDS, f"{sidecar.name}: kind not in the table"
        assert BUNDLED_KIND[stems[sidecar.stem]] == meta["kind"], sidecar


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_in_the_table_loads_through_the_one_loader(kind):
    row = KINDS[kind]
    present = [name for name in row.bundled if bundled_path(name).is_file()]
    assert present, f"{kind!r} has no bundled weights to load"
    for name in present:
        checkpoint = load_bundled(name)
        assert checkpoint.kind == kind and type(checkpoint.network) is row.network
        assert tuple(checkpoint.network.channels) == row.channels
        if row.prior_class is None:
            assert kind not in PRIOR_CLASSES
            with pytest.raises(ValueError, match="not a score prior"):
                load_prior(name)
        else:
            assert row.prior_class.kind == kind and PRIOR_CLASSES[kind] is row.prior_class
            assert type(load_prior(name)) is row.prior_class
            assert type(load_prior(kind, bundled_path(name))) is row.prior_class
            assert named_config("tiny", kind).in_channels == row.channels[0]


def test_the_fbp_unet_model_is_built_from_its_checkpoint():
    model = FbpUnet.from_checkpoint(load_bundled("fbp-unet-parallel-8"))
    assert model.geometry["proj_geom"]["type"] == "parallel"
    with pytest.raises(ValueError, match="needs an 'fbp-unet' checkpoint"):
        FbpUnet.from_checkpoint(load_bundled("slice"))


def _copy_with_version(name, tmp_path, version):
    source = bundled_path(name, must_exist=True)
    target = tmp_path / source.name
    shutil.copy(source, target)
    meta = json.loads(sidecar_path(source).read_text())
    meta["format_version"] = version
    sidecar_path(target).write_text(json.dumps(meta))
    return target


@pytest.mark.parametrize("name", ["slice", "patch", "fbp-unet-parallel-8"])
def test_a_newer_format_version_is_refused_in_one_line(name, tmp_path):
    path = _copy_with_version(name, tmp_path, FORMAT_VERSION + 1)
    with pytest.raises(ValueError) as refused:
        load_checkpoint(path)
    message = str(refused.value)
    assert "\n" not in message
    assert f"format_version {FORMAT_VERSION + 1}, newer than" in message
    assert "upgrade diffblend_astra" in message
    load_checkpoint(_copy_with_version(name, tmp_path, FORMAT_VERSION))   # this version loads


def test_fbp_unet_names_follow_the_benchmark_scans():
    """The core cannot import the benchmark scans (a higher layer); its list must match them."""
    from diffblend_astra.experiment import SCANS
    from diffblend_astra.prior_kinds import FBP_UNET_SCANS

    assert FBP_UNET_SCANS == tuple(SCANS)
