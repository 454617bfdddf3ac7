"""``diffblend-astra simulate``: volume + ASTRA geometry → projections (optionally noisy)."""

from __future__ import annotations

from pathlib import Path

from .common import add_common, add_geometry, add_projector, load_operator, subparser

EXAMPLES = """\
  diffblend-astra simulate volume.npy geometry.json --out sino.npy
  diffblend-astra simulate volume.nii.gz geometry.json --out sino.npy --photons 1e4
  diffblend-astra simulate volume.npy geometry.json --out sino.npy --gaussian 0.01
  diffblend-astra simulate volume.npy geometry.json --out sino.npy --projector strip
"""


def register(sub) -> None:
    p = subparser(sub, "simulate", "project a volume with an ASTRA geometry (2D geometries "
                  "slice by slice), optionally adding Poisson or Gaussian noise", EXAMPLES)
    p.add_argument("volume", type=Path, help="(Z, Y, X) volume file or DICOM folder")
    add_geometry(p)
    p.add_argument("--out", type=Path, required=True, help="projections file (.npy, .tif, ...)")
    noise = p.add_mutually_exclusive_group()
    noise.add_argument("--photons", type=float,
                       help="Poisson noise: incident photons per ray (Beer-Lambert, I0); the volume "
                            "must then hold attenuation per world unit, so that line "
                            "integrals are a few units at most")
    noise.add_argument("--gaussian", type=float, help="Gaussian noise standard deviation")
    add_projector(p)
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> None:
    import torch

    from ..io import read_volume, write_sinogram
    from ..noise import add_gaussian_noise, add_poisson_noise
    from .checks import (check_device, check_expected_counts, check_finite, check_gaussian,
                         check_output_file, check_photons)

    device = check_device(args.device)
    check_output_file(args.out, inputs=(args.volume, args.geometry))
    if args.photons is not None:
        check_photons(args.photons)
    if args.gaussian is not None:
        check_gaussian(args.gaussian)
    volume = read_volume(args.volume)
    check_finite(volume, f"the volume {args.volume}")
    operator = load_operator(args.geometry, volume.shape[0], args.projector)
    if tuple(operator.domain_shape) != tuple(volume.shape):
        raise ValueError(f"the geometry {args.geometry} describes volumes of shape "
                         f"{tuple(operator.domain_shape)}; the volume has shape "
                         f"{tuple(volume.shape)}")
    y = operator(torch.from_numpy(volume).to(device)).cpu()
    generator = torch.Generator().manual_seed(args.seed)
    if args.photons is not None:
        check_expected_counts(args.photons, y)
        y = add_poisson_noise(y, args.photons, generator)
    elif args.gaussian is not None:
        y = add_gaussian_noise(y, args.gaussian, generator)
    check_finite(y.numpy(), "the simulated projections (float32)")
    write_sinogram(args.out, y)
    print(f"projections {tuple(y.shape)} written to {args.out}")
