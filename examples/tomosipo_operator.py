"""A tomosipo operator handed to DiffusionBlend++ (CUDA).

Shows how an existing tomosipo script plugs in: ``ts.operator(vg, pg)`` already maps a
``(Z, Y, X)`` volume to ``(det_rows, angles, det_cols)`` projections on torch tensors, and
``as_operator`` wraps it as it is (duck-typed: tomosipo is never imported by the package).
A held-out procedural phantom (64 slices of 64², values in [0, 1]) is scanned noiselessly with
a 3D parallel beam:

* sparse-view: 8 views over 180°;
* limited-angle: 90 views over 90°;

and reconstructed with CGLS and DiffusionBlend++ (bundled demonstration weights). Per-plane
PSNR and SSIM are printed.

tomosipo projects with ASTRA's CUDA kernels. Without a usable CUDA GPU (``torch.cuda`` and
``astra.use_cuda()``) this script prints a message containing "needs CUDA" and exits with
status 3 — before any ASTRA 3D call, which would kill the process. Without tomosipo installed
(``conda install tomosipo -c astra-toolbox -c aahendriksen -c pytorch -c conda-forge``) it
says "needs tomosipo" and exits with status 3 too. On CPU, use examples/astra_2d.py.

Run, from the repository root::

    python examples/tomosipo_operator.py            # 64 slices, 50 steps
    python examples/tomosipo_operator.py --quick    # 9 slices, 10 steps
"""

import argparse
import importlib.util
import sys

import numpy as np
import torch

import diffblend_astra as dba
from diffblend_astra.baselines import cgls
from diffblend_astra.experiment import compare
from diffblend_astra.methods import load_prior
from diffblend_astra.operators.cuda import cuda_usable
from diffblend_astra.phantoms import held_out_seeds, phantom_volume

NEEDS_CUDA = 3
"""Exit status when no usable CUDA GPU is found, or tomosipo is not installed."""


def your_operators(slices):
    """The operators of an existing tomosipo script: a (Z, 64, 64) volume of voxel size 1; a
    3D parallel beam onto a detector of Z x 96 pixels of size 1; angles in radians."""
    import tomosipo as ts
    import tomosipo.torch_support  # noqa: F401  (lets tomosipo operators take torch tensors)

    vg = ts.volume(shape=(slices, 64, 64))
    sparse = ts.parallel(angles=np.linspace(0, np.pi, 8, endpoint=False), shape=(slices, 96))
    limited = ts.parallel(angles=np.linspace(0, np.pi / 2, 90, endpoint=False),
                          shape=(slices, 96))
    return {"sparse-view: 8 views over 180 degrees": ts.operator(vg, sparse),
            "limited-angle: 90 views over 90 degrees": ts.operator(vg, limited)}



def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="9 slices and 10 steps")
    parser.add_argument("--steps", type=int, help="diffusion steps (default 50; 10 with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the diffusion sampler")
    args = parser.parse_args()
    if not cuda_usable():                 # ask first: ASTRA's 3D code crashes without a GPU
        print("tomosipo_operator.py needs CUDA: tomosipo projects with ASTRA's CUDA kernels, "
              "and no usable CUDA GPU was found (torch.cuda.is_available() and "
              "astra.use_cuda()). On CPU, run examples/astra_2d.py.", file=sys.stderr)
        return NEEDS_CUDA
    if importlib.util.find_spec("tomosipo") is None:
        print("tomosipo_operator.py needs tomosipo, which is not installed: "
              "conda install tomosipo -c astra-toolbox -c aahendriksen -c pytorch "
              "-c conda-forge", file=sys.stderr)
        return NEEDS_CUDA
    slices = 9 if args.quick else 64
    steps = args.steps or (10 if args.quick else 50)

    device = torch.device("cuda")
    truth = torch.from_numpy(phantom_volume(held_out_seeds(1)[0], (slices, 64, 64))).to(device)
    prior = load_prior("blend", device=device)       # bundled DiffusionBlend++ weights, 64² slices
    print(f"held-out phantom {tuple(truth.shape)} (Z, Y, X); DiffusionBlend++ with {steps} steps")
    for name, ts_operator in your_operators(slices).items():
        A = dba.as_operator(ts_operator)              # (Z, 64, 64) -> (Z, views, 96)
        y = A(truth)                                  # or your measured projections
        solver = dba.DiffusionBlendSolver(A, prior, steps=steps)
        recons = {"CGLS": lambda: cgls(A, y, iterations=30),
                  "DiffusionBlend++": lambda: solver.reconstruct(y, seed=args.seed,
                                                                 progress=False)}
        print(f"\n{name}, projections {tuple(y.shape)} (det_rows, angles, det_cols)")
        print(compare(truth, recons))
    return 0


if __name__ == "__main__":
    sys.exit(main())
