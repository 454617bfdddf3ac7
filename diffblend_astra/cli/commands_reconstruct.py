"""``diffblend-astra reconstruct``: projections + ASTRA geometry → volume."""

from __future__ import annotations

from pathlib import Path

from .common import add_common, load_operator, subparser

EXAMPLES = """\
  diffblend-astra reconstruct sino.npy geometry.json --out recon.npy
  diffblend-astra reconstruct sino.npy geometry.json --out recon.nii.gz --method dds --steps 100
  diffblend-astra reconstruct sino.npy geometry.json --out recon.npy --samples 4   # + recon_std.npy
  diffblend-astra reconstruct sino.npy geometry.json --out recon.npy --checkpoint runs/mine/model.safetensors
"""


def register(sub) -> None:
    from ..methods import DEFAULT_STEPS, METHODS

    p = subparser(sub, "reconstruct", "reconstruct a volume from projections; a 2D geometry "
                  "applies slice by slice to (Z, angles, det) projections", EXAMPLES)
    p.add_argument("sinogram", type=Path, help="projections in ASTRA order")
    p.add_argument("geometry", type=Path,
                   help='JSON file {"proj_geom": {...}, "vol_geom": {...}} of ASTRA dicts')
    p.add_argument("--out", type=Path, required=True, help="volume file (.npy, .nii.gz, .tif)")
    p.add_argument("--method", choices=METHODS, default="dbpp",
                   help="reconstruction method (default dbpp = DiffusionBlend++)")
    p.add_argument("--checkpoint", type=Path, help="prior weights (default: bundled)")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="diffusion steps (NFE)")
    p.add_argument("--samples", type=int, default=1,
                   help="posterior samples; > 1 writes the mean and OUT_std (uncertainty)")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> None:
    import torch

    from ..io import read_sinogram, write_volume
    from ..methods import run_method

    y = torch.from_numpy(read_sinogram(args.sinogram))
    operator = load_operator(args.geometry, y.shape[0])
    if tuple(operator.range_shape) != tuple(y.shape):
        raise ValueError(f"the projections have shape {tuple(y.shape)}; the geometry "
                         f"{args.geometry} produces {tuple(operator.range_shape)} (ASTRA "
                         f"order; a 2D geometry gives one (angles, det) sinogram per slice)")
    result = run_method(args.method, operator, y, checkpoint=args.checkpoint,
                        steps=args.steps, seed=args.seed, samples=args.samples,
                        device=args.device, progress=True)
    if args.samples > 1:
        mean, std = result
        std_path = args.out.with_name(args.out.name.replace(".", "_std.", 1))
        write_volume(std_path, std)
        print(f"uncertainty (per-voxel std of {args.samples} samples) written to {std_path}")
        result = mean
    write_volume(args.out, result)
    print(f"volume {tuple(result.shape)} written to {args.out}")
