"""``diffblend-astra reconstruct``: projections + ASTRA geometry → volume."""

from __future__ import annotations

from pathlib import Path

from .common import (add_common, add_geometry, add_projector, load_operator, positive_int,
                     subparser)

EXAMPLES = """\
  diffblend-astra reconstruct sino.npy geometry.json --out recon.npy
  diffblend-astra reconstruct sino.npy geometry.json --out recon.nii.gz --method dds --steps 100
  diffblend-astra reconstruct sino.npy geometry.json --out recon.npy --samples 4   # + recon_std.npy
  diffblend-astra reconstruct sino.npy geometry.json --out recon.npy --checkpoint runs/mine/model.safetensors
  diffblend-astra reconstruct sino.npy geometry.json --out recon.npy --method fbp --projector strip
"""


def register(sub) -> None:
    from ..methods import DEFAULT_STEPS, METHODS

    p = subparser(sub, "reconstruct", "reconstruct a volume from projections; a 2D geometry "
                  "applies slice by slice to (Z, angles, det) projections", EXAMPLES)
    p.add_argument("sinogram", type=Path, help="projections in ASTRA order")
    add_geometry(p)
    p.add_argument("--out", type=Path, required=True, help="volume file (.npy, .nii.gz, .tif)")
    p.add_argument("--method", choices=METHODS, default="dbpp",
                   help="reconstruction method (default dbpp = DiffusionBlend++)")
    p.add_argument("--checkpoint", type=Path, help="prior weights (default: bundled)")
    p.add_argument("--steps", type=positive_int, default=DEFAULT_STEPS,
                   help="diffusion steps (NFE)")
    p.add_argument("--samples", type=positive_int, default=1,
                   help="posterior samples; > 1 writes the mean to OUT, then the per-voxel "
                        "std (uncertainty) to OUT_std")
    add_projector(p)
    add_common(p)
    p.set_defaults(run=run)


def std_path(out: Path) -> Path:
    """``recon.nii.gz`` → ``recon_std.nii.gz``: the uncertainty beside the mean."""
    from ..io import suffix_of

    suffix = suffix_of(out)
    return out.with_name(out.name[:-len(suffix)] + "_std" + out.name[-len(suffix):])


def run(args) -> None:
    import torch

    from ..io import read_sinogram, write_volume
    from ..methods import CLASSICAL, EXTRA, run_method
    from .checks import check_device, check_finite, check_magnitude, check_output_file

    device = check_device(args.device)
    if args.samples > 1 and args.method in CLASSICAL:
        raise ValueError(f"--samples applies to diffusion methods, not to {args.method!r}")
    if args.samples > 1 and args.method in EXTRA:
        raise ValueError(f"{args.method!r} takes no --samples")
    inputs = (args.sinogram, args.geometry, args.checkpoint)
    check_output_file(args.out, inputs=inputs)
    if args.samples > 1:
        check_output_file(std_path(args.out), inputs=inputs)
    if args.checkpoint is not None and not args.checkpoint.is_file():
        raise FileNotFoundError(f"--checkpoint {args.checkpoint} is not a file; expected "
                                "NAME.safetensors with NAME.json beside it")
    sinogram = read_sinogram(args.sinogram)
    check_finite(sinogram, f"the projections {args.sinogram}")
    check_magnitude(sinogram, f"the projections {args.sinogram}")
    y = torch.from_numpy(sinogram)
    operator = load_operator(args.geometry, y.shape[0], args.projector)
    if tuple(operator.range_shape) != tuple(y.shape):
        raise ValueError(f"the projections have shape {tuple(y.shape)}; the geometry "
                         f"{args.geometry} produces {tuple(operator.range_shape)} (ASTRA "
                         f"order; a 2D geometry gives one (angles, det) sinogram per slice)")
    print(f"reconstruct: {args.method} of {tuple(y.shape)} projections into a "
          f"{tuple(operator.domain_shape)} volume on {device}")
    result = run_method(args.method, operator, y.to(device), checkpoint=args.checkpoint,
                        steps=args.steps, seed=args.seed, samples=args.samples,
                        device=device, progress=True)
    mean, std = result if args.samples > 1 else (result, None)
    check_finite(mean.cpu().numpy(), f"the {args.method} reconstruction")
    write_volume(args.out, mean)
    print(f"volume {tuple(mean.shape)} written to {args.out}")
    if std is not None:
        write_volume(std_path(args.out), std)
        print(f"uncertainty (per-voxel std of {args.samples} samples) written to "
              f"{std_path(args.out)}")
