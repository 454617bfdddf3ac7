"""Your ASTRA 2D geometry (parallel or fan beam), slice by slice, with a learned 3D prior.

Shows how an existing ASTRA script plugs in: the geometry is written the way an ASTRA user
writes it (``astra.create_proj_geom("parallel" | "fanflat", ...)`` /
``astra.create_vol_geom``), and ``as_operator(proj_geom, vol_geom, slices=Z)`` applies that 2D
geometry to every axial slice of a ``(Z, Y, X)`` volume (with ``--beam fan``, a stack of fan
beams, not a cone beam: see examples/astra_cone.py for that). A held-out procedural phantom
(64 slices of 64², values in [0, 1]) is scanned twice, noiselessly:

* sparse-view: 8 views over 180° (parallel) or 360° (fan);
* limited-angle: 90 views (one per degree) over 90°;

and reconstructed with filtered back-projection (FBP; fan-beam FBP for fan beams) and
DiffusionBlend++ with the bundled demonstration weights. Per-plane PSNR and SSIM (axial,
coronal, sagittal) are printed.

Run, from the repository root::

    python examples/astra_2d.py                 # parallel beams, 64 slices, 30 steps: < 1 min
    python examples/astra_2d.py --quick         # 9 slices, 10 steps: about 10 s on 2 cores
    python examples/astra_2d.py --beam fan --quick
    python examples/astra_2d.py --beam fan --steps 50 --seed 1

The bundled weights know only procedural phantoms (see README.md); train on your own volumes
for real data (examples/train_on_your_volumes.py).
"""

import argparse

import astra
import numpy as np
import torch

import diffblend_astra as dba
from diffblend_astra.baselines import fbp
from diffblend_astra.experiment import compare
from diffblend_astra.methods import load_prior
from diffblend_astra.phantoms import held_out_seeds, phantom_volume


SOURCE_ORIGIN = 192.0           # fan beam: source to rotation axis, in pixels of size 1
ORIGIN_DETECTOR = 64.0          # rotation axis to detector
DETECTOR_WIDTH = (SOURCE_ORIGIN + ORIGIN_DETECTOR) / SOURCE_ORIGIN   # one image pixel at the axis


def your_geometries(beam="parallel"):
    """The geometries of an existing ASTRA script: 64 x 64 pixels of size 1, a detector of
    96 pixels (parallel: of width 1, wide enough for the whole field of view; fan: a flat
    detector magnified to one pixel at the axis), angles in radians."""
    vol_geom = astra.create_vol_geom(64, 64)
    if beam == "parallel":
        arc, degrees = np.pi, 180

        def proj_geom(angles):
            return astra.create_proj_geom("parallel", 1.0, 96, angles)
    else:
        arc, degrees = 2 * np.pi, 360

        def proj_geom(angles):
            return astra.create_proj_geom("fanflat", DETECTOR_WIDTH, 96, angles,
                                          SOURCE_ORIGIN, ORIGIN_DETECTOR)
    scans = {f"sparse-view: 8 views over {degrees} degrees":
             proj_geom(np.linspace(0, arc, 8, endpoint=False)),
             "limited-angle: 90 views over 90 degrees":
             proj_geom(np.linspace(0, np.pi / 2, 90, endpoint=False))}
    return scans, vol_geom


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beam", choices=("parallel", "fan"), default="parallel",
                        help="parallel beams (default) or fan beams with a flat detector")
    parser.add_argument("--quick", action="store_true", help="9 slices and 10 steps")
    parser.add_argument("--steps", type=int, help="diffusion steps (default 30; 10 with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the diffusion sampler")
    args = parser.parse_args()
    slices = 9 if args.quick else 64
    steps = args.steps or (10 if args.quick else 30)

    truth = torch.from_numpy(phantom_volume(held_out_seeds(1)[0], (slices, 64, 64)))
    prior = load_prior("blend")                     # bundled DiffusionBlend++ weights, 64² slices
    scans, vol_geom = your_geometries(args.beam)
    print(f"held-out phantom {tuple(truth.shape)} (Z, Y, X); DiffusionBlend++ with {steps} steps")
    for name, proj_geom in scans.items():
        A = dba.as_operator(proj_geom, vol_geom, slices=slices)   # (Z, 64, 64) -> (Z, views, 96)
        y = A(truth)                                             # or your measured sinograms
        solver = dba.DiffusionBlendSolver(A, prior, steps=steps)
        recons = {"FBP": lambda: fbp(A, y),
                  "DiffusionBlend++": lambda: solver.reconstruct(y, seed=args.seed,
                                                                 progress=False)}
        print(f"\n{name}, sinograms {tuple(y.shape)} (Z, angles, det)")
        print(compare(truth, recons))


if __name__ == "__main__":
    main()
