"""The table of prior kinds against the bundled weights, and the checkpoint format version."""

import json
import shutil
from importlib import resources
from pathlib import Path

import pytest

from diffblend_astra.checkpoint import (BUNDLED_WEIGHTS, FBP_UNET_WEIGHTS, FORMAT_VERSION,
                                        bundled_path, load_checkpoint, load_prior, sidecar_path)
from diffblend_astra.comparisons.fbp_unet import FbpUnet
from diffblend_astra.comparisons.padis import PatchPrior, load_patch_prior
from diffblend_astra.networks import named_config
from diffblend_astra.prior_kinds import BUNDLED_KIND, PRIOR_CLASSES, PRIOR_KINDS

WEIGHTS = Path(str(resources.files("diffblend_astra") / "weights"))
SIDECARS = sorted(WEIGHTS.glob("*.json"))


def test_every_bundled_weight_file_has_a_kind_in_the_table():
    assert SIDECARS
    stems = {stem: name for name, stem in BUNDLED_WEIGHTS.items()}
    for sidecar in SIDECARS:
        assert sidecar.with_suffix(".safetensors").is_file(), sidecar
        assert sidecar.stem in stems, f"{sidecar.name} is not named in BUNDLED_WEIGHTS"
        meta = json.loads(sidecar.read_text())
        name = stems[sidecar.stem]
        if name in FBP_UNET_WEIGHTS:
            assert meta.get("model") == "fbp-unet", sidecar
        else:
            assert meta.get("prior_kind") in PRIOR_KINDS, f"{sidecar.name}: kind not in the table"
            assert BUNDLED_KIND[name] == meta["prior_kind"], sidecar


@pytest.mark.parametrize("kind", PRIOR_KINDS)
def test_every_kind_in_the_table_loads(kind):
    row = PRIOR_KINDS[kind]
    assert row.bundled, f"{kind!r} has no bundled weights to load"
    for name in row.bundled:
        path = bundled_path(name, must_exist=True)
        if row.prior_class is None:                      # a comparison system's own kind
            prior = load_patch_prior(path)
            assert isinstance(prior, PatchPrior) and PatchPrior.kind == kind
            config = prior.network.config
        else:
            assert row.prior_class.kind == kind and PRIOR_CLASSES[kind] is row.prior_class
            prior = load_prior(kind, path)
            assert type(prior) is row.prior_class
            config = prior.network.config
            assert named_config("tiny", kind).in_channels == row.channels[0]
        assert (config.in_channels, config.out_channels) == row.channels


def test_bundled_fbp_unets_load():
    for name in FBP_UNET_WEIGHTS:
        if bundled_path(name).is_file():
            FbpUnet.load(bundled_path(name))


def _copy_with_version(name, tmp_path, version):
    source = bundled_path(name, must_exist=True)
    target = tmp_path / source.name
    shutil.copy(source, target)
    meta = json.loads(sidecar_path(source).read_text())
    meta["format_version"] = version
    sidecar_path(target).write_text(json.dumps(meta))
    return target


@pytest.mark.parametrize("name, load", [
    ("slice", load_checkpoint),
    ("patch", load_patch_prior),
    ("fbp-unet-parallel-8", FbpUnet.load),
])
def test_a_newer_format_version_is_refused_in_one_line(name, load, tmp_path):
    path = _copy_with_version(name, tmp_path, FORMAT_VERSION + 1)
    with pytest.raises(ValueError) as refused:
        load(path)
    message = str(refused.value)
    assert "\n" not in message
    assert f"format_version {FORMAT_VERSION + 1}, newer than" in message
    assert "upgrade diffblend_astra" in message
    load(_copy_with_version(name, tmp_path, FORMAT_VERSION))   # the current version loads
