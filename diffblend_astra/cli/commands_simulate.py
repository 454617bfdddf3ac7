"""``diffblend-astra simulate``: volume + ASTRA geometry → projections (optionally noisy)."""

from __future__ import annotations

from pathlib import Path

from .common import add_common, load_operator, subparser

EXAMPLES = """\
  diffblend-astra simulate volume.npy geometry.json --out sino.npy
  diffblend-astra simulate volume.nii.gz geometry.json --out sino.npy --photons 1e4
  diffblend-astra simulate volume.npy geometry.json --out sino.npy --gaussian 0.01
"""


def register(sub) -> None:
    p = subparser(sub, "simulate", "project a volume with an ASTRA geometry (2D geometries "
                  "slice by slice), optionally adding Poisson or Gaussian noise", EXAMPLES)
    p.add_argument("volume", type=Path, help="(Z, Y, X) volume file or DICOM folder")
    p.add_argument("geometry", type=Path,
                   help='JSON file {"proj_geom": {...}, "vol_geom": {...}} of ASTRA dicts')
    p.add_argument("--out", type=Path, required=True, help="projections file (.npy, .tif, ...)")
    noise = p.add_mutually_exclusive_group()
    noise.add_argument("--photons", type=float,
                       help="Poisson noise: incident photons per ray (Beer-Lambert, I0); the volume "
                            "must then hold attenuation per world unit, so that line "
                            "integrals are a few units at most")
    noise.add_argument("--gaussian", type=float, help="Gaussian noise standard deviation")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> None:
    import torch

    from ..io import read_volume, write_sinogram
    from ..noise import add_gaussian_noise, add_poisson_noise

    volume = torch.from_numpy(read_volume(args.volume))
    operator = load_operator(args.geometry, volume.shape[0])
    if tuple(operator.domain_shape) != tuple(volume.shape):
        raise ValueError(f"the geometry {args.geometry} describes volumes of shape "
                         f"{tuple(operator.domain_shape)}; the volume has shape "
                         f"{tuple(volume.shape)}")
    y = operator(volume)
    generator = torch.Generator().manual_seed(args.seed)
    if args.photons is not None:
        y = add_poisson_noise(y, args.photons, generator)
    elif args.gaussian is not None:
        y = add_gaussian_noise(y, args.gaussian, generator)
    write_sinogram(args.out, y)
    print(f"projections {tuple(y.shape)} written to {args.out}")
