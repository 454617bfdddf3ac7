"""Your ASTRA 3D cone-beam geometries (``cone`` and ``cone_vec``) with a learned 3D prior.

Shows how an existing ASTRA cone-beam script plugs in: the geometries are written the way an
ASTRA user writes them (``astra.create_proj_geom("cone", ...)``, then the same orbit as
``cone_vec`` vectors with a shifted detector, as a calibrated scanner would give), and
``as_operator(proj_geom, vol_geom)`` maps a ``(Z, Y, X)`` volume to ASTRA's
``(det_rows, angles, det_cols)`` projections. A held-out procedural phantom (64 slices of 64²,
values in [0, 1]) is scanned noiselessly:

* ``cone``, sparse-view: 8 views over 360°, reconstructed with FDK and DiffusionBlend++;
* ``cone_vec``, limited-angle: 90 views over 90° with the detector shifted by half a pixel,
  reconstructed with CGLS and DiffusionBlend++.

Per-plane PSNR and SSIM are printed. DiffusionBlend++ uses the bundled demonstration weights.

With a usable CUDA GPU (``torch.cuda`` and ``astra.use_cuda()``) ASTRA projects on the GPU;
without one, ``as_operator`` projects the same geometries on the CPU with RTK (the optional
extra ``rtk``: ``pip install 'diffblend_astra[rtk]'``), and FDK is RTK's.

Run, from the repository root::

    python examples/astra_cone.py            # 64 slices, 50 steps
    python examples/astra_cone.py --quick    # 9 slices, 10 steps
    python examples/astra_cone.py --steps 100 --seed 1
"""

import argparse
import math
import sys

import astra
import numpy as np
import torch

import diffblend_astra as dba
from diffblend_astra.baselines import cgls, fbp
from diffblend_astra.experiment import compare
from diffblend_astra.methods import load_prior
from diffblend_astra.operators.cuda import cuda_usable
from diffblend_astra.phantoms import held_out_seeds, phantom_volume

SOURCE_ORIGIN = 192.0           # source to rotation axis, in voxels of size 1
ORIGIN_DETECTOR = 64.0          # rotation axis to detector
PIXEL = (SOURCE_ORIGIN + ORIGIN_DETECTOR) / SOURCE_ORIGIN   # detector pixel: one voxel at the axis


def your_geometries(slices):
    """The geometries of an existing ASTRA script: a (Z, 64, 64) volume of voxel size 1; a
    flat detector of ceil(1.5 Z) x 96 pixels, magnified to one voxel at the axis."""
    vol_geom = astra.create_vol_geom(64, 64, slices)          # rows (Y), columns (X), slices (Z)
    rows, cols = math.ceil(1.5 * slices), 96
    sparse = astra.create_proj_geom("cone", PIXEL, PIXEL, rows, cols,
                                    np.linspace(0, 2 * np.pi, 8, endpoint=False),
                                    SOURCE_ORIGIN, ORIGIN_DETECTOR)
    limited = astra.create_proj_geom("cone", PIXEL, PIXEL, rows, cols,
                                     np.linspace(0, np.pi / 2, 90, endpoint=False),
                                     SOURCE_ORIGIN, ORIGIN_DETECTOR)
    vectors = astra.geom_2vec(limited)["Vectors"].copy()      # per view: source, d, u, v
    vectors[:, 3:6] += 0.5 * vectors[:, 6:9]                  # detector shifted by half a pixel
    limited_vec = astra.create_proj_geom("cone_vec", rows, cols, vectors)
    scans = {"cone, sparse-view: 8 views over 360 degrees": (sparse, "FDK"),
             "cone_vec, limited-angle: 90 views over 90 degrees": (limited_vec, "CGLS")}
    return scans, vol_geom



def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="9 slices and 10 steps")
    parser.add_argument("--steps", type=int, help="diffusion steps (default 50; 10 with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the diffusion sampler")
    args = parser.parse_args()
    slices = 9 if args.quick else 64
    steps = args.steps or (10 if args.quick else 50)

    device = torch.device("cuda" if cuda_usable() else "cpu")   # CPU: RTK projects the cones
    truth = torch.from_numpy(phantom_volume(held_out_seeds(1)[0], (slices, 64, 64))).to(device)
    prior = load_prior("blend", device=device)       # bundled DiffusionBlend++ weights, 64² slices
    scans, vol_geom = your_geometries(slices)
    print(f"held-out phantom {tuple(truth.shape)} (Z, Y, X) on {device}; DiffusionBlend++ with "
          f"{steps} steps")
    for name, (proj_geom, classical) in scans.items():
        A = dba.as_operator(proj_geom, vol_geom)      # (Z, 64, 64) -> (rows, views, 96)
        print(f"\n{name}: {A!r}")
        y = A(truth)                                  # or your measured projections
        solver = dba.DiffusionBlendSolver(A, prior, steps=steps)
        recons = {classical: (lambda: fbp(A, y)) if classical == "FDK"
                  else (lambda: cgls(A, y, iterations=30)),
                  "DiffusionBlend++": lambda: solver.reconstruct(y, seed=args.seed,
                                                                 progress=False)}
        print(f"projections {tuple(y.shape)} (det_rows, angles, det_cols)")
        print(compare(truth, recons))
    return 0


if __name__ == "__main__":
    sys.exit(main())
