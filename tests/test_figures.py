import matplotlib.image
import numpy as np
import pytest
import torch

from diffblend_astra.figures import save_orthogonal_views


@pytest.fixture
def truth():
    z, y, x = np.meshgrid(np.arange(12), np.arange(16), np.arange(20), indexing="ij")
    return ((x + y + z) % 7 / 6.0).astype(np.float32)  # (Z, Y, X) = (12, 16, 20)


@pytest.mark.parametrize("n_methods", [1, 2, 4])
def test_png_has_one_column_per_method_and_three_plane_rows(tmp_path, truth, n_methods):
    volumes = {f"method {i}": truth * (i + 1) / n_methods for i in range(n_methods)}
    path = save_orthogonal_views(tmp_path / "views.png", volumes, vmin=0.0, vmax=1.0)
    assert path == tmp_path / "views.png" and path.stat().st_size > 0
    image = matplotlib.image.imread(path)
    height, width = image.shape[:2]
    assert height / width == pytest.approx(3 / n_methods, rel=0.01)
    assert image[..., :3].std() > 0.05  # slices were drawn, not a blank canvas
    assert sorted(p.name for p in tmp_path.iterdir()) == ["views.png"]


def test_given_index_and_torch_input(tmp_path, truth):
    volumes = {"truth": truth, "recon": torch.from_numpy(truth)}
    path = save_orthogonal_views(tmp_path / "v.png", volumes, vmin=0, vmax=1, index=(0, 15, 19))
    assert matplotlib.image.imread(path).ndim == 3


def test_bad_arguments_write_nothing(tmp_path, truth):
    cases = [
        (dict(volumes={"a": truth, "b": truth[:-1]}), "one \\(Z, Y, X\\) shape"),
        (dict(volumes={}), "empty"),
        (dict(volumes={"a": truth}, index=(12, 0, 0)), "index"),
        (dict(volumes={"a": truth}, vmin=1.0), "vmin < vmax"),
        (dict(volumes={"a": truth}, path=tmp_path / "v.jpg"), "png"),
    ]
    for overrides, message in cases:
        kwargs = dict(path=tmp_path / "v.png", vmin=0.0, vmax=1.0) | overrides
        with pytest.raises(ValueError, match=message):
            save_orthogonal_views(kwargs.pop("path"), kwargs.pop("volumes"), **kwargs)
    assert list(tmp_path.iterdir()) == []
