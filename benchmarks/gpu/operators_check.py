"""The package's 3D ASTRA operators against ASTRA's own calls, on CUDA.

For ``parallel3d``, ``parallel3d_vec``, ``cone`` and ``cone_vec`` geometries of a volume
whose three sides differ (Z, Y, X) = (20, 32, 40), so that a swapped axis cannot pass, and
a detector whose rows and columns differ:

* shapes: ``domain_shape == (Z, Y, X)``, ``range_shape == (det_rows, angles, det_cols)``;
* forward: ``as_operator(...)(x)`` on CUDA against ``astra.create_sino3d_gpu``;
* adjoint: ``.T(y)`` against ``astra.create_backprojection3d_gpu``;
* CPU tensors give what CUDA tensors give; a non-contiguous view gives what its copy gives;
* autograd: the gradient of ``⟨A x, y⟩`` is ``Aᵀ y``;
* adjointness: ``⟨x, Aᵀ y⟩ / ⟨A x, y⟩`` within 5 % of 1 (ASTRA's CUDA back-projector is
  only approximately the transpose of its forward projector).

Prints one line per geometry, then "all N checks passed" (exit 0) or what failed (exit 1);
exits 3 without a usable CUDA GPU.
"""

import sys

import astra
import numpy as np
import torch

import diffblend_astra as dba
from diffblend_astra.operators import cone_beam
from diffblend_astra.operators.cuda import cuda_usable

SHAPE = (20, 32, 40)               # (Z, Y, X)
VIEWS = 7
SAME = 1e-4                        # relative difference allowed between identical computations
ADJOINT = 0.05                     # allowed |⟨x, Aᵀy⟩ / ⟨Ax, y⟩ − 1|


def geometries():
    """``{kind: (proj_geom, vol_geom)}``."""
    cone, vol_geom = cone_beam(shape=SHAPE, views=VIEWS)
    angles = np.linspace(0, np.pi, VIEWS, endpoint=False)
    parallel = astra.create_proj_geom("parallel3d", 1.0, 1.0, 26, 58, angles)
    return {"parallel3d": (parallel, vol_geom),
            "parallel3d_vec": (astra.geom_2vec(parallel), vol_geom),
            "cone": (cone, vol_geom), "cone_vec": (astra.geom_2vec(cone), vol_geom)}


def relative(a, b) -> float:
    a, b = (torch.as_tensor(t).detach().double().cpu() for t in (a, b))
    return float((a - b).norm() / b.norm())


def astra_reference(proj_geom, vol_geom, x, y):
    """ASTRA's own forward projection of ``x`` and back-projection of ``y`` (numpy)."""
    sino_id, sino = astra.create_sino3d_gpu(x, proj_geom, vol_geom)
    vol_id, vol = astra.create_backprojection3d_gpu(y, proj_geom, vol_geom)
    astra.data3d.delete([sino_id, vol_id])
    return sino, vol


def check(kind, proj_geom, vol_geom, rng):
    """``[(name, value, passed)]`` for one geometry."""
    A = dba.as_operator(proj_geom, vol_geom)
    rows, cols = proj_geom.get("DetectorRowCount"), proj_geom.get("DetectorColCount")
    x = rng.random(SHAPE, dtype=np.float32)
    y = rng.random(A.range_shape, dtype=np.float32)
    sino, vol = astra_reference(proj_geom, vol_geom, x, y)
    xc = torch.from_numpy(x).cuda().requires_grad_(True)
    yc = torch.from_numpy(y).cuda()
    ax, aty = A(xc), A.T(yc)
    (grad,) = torch.autograd.grad(torch.sum(ax * yc), xc)
    strided = torch.from_numpy(x).cuda().transpose(1, 2).contiguous().transpose(1, 2)
    ratio = float(torch.dot(xc.detach().double().flatten(), aty.double().flatten())
                  / torch.dot(ax.detach().double().flatten(), yc.double().flatten()))
    checks = [
        ("shapes", f"{A.domain_shape} -> {A.range_shape}",
         A.domain_shape == SHAPE and A.range_shape == (rows, VIEWS, cols) and
         sino.shape == A.range_shape),
        ("forward vs ASTRA", relative(ax, sino), relative(ax, sino) < SAME),
        ("adjoint vs ASTRA", relative(aty, vol), relative(aty, vol) < SAME),
        ("CPU vs CUDA", relative(A(torch.from_numpy(x)), ax),
         relative(A(torch.from_numpy(x)), ax) < SAME),
        ("strided vs contiguous", relative(A(strided), ax), relative(A(strided), ax) < SAME),
        ("autograd vs adjoint", relative(grad, aty), relative(grad, aty) < SAME),
        ("<x,A^T y>/<Ax,y>", ratio, abs(ratio - 1) < ADJOINT),
    ]
    return checks


def main():
    if not cuda_usable():            # ask first: ASTRA's 3D code crashes without a GPU
        print("operators_check.py needs CUDA: no usable CUDA GPU (torch.cuda.is_available() "
              "and astra.use_cuda())", file=sys.stderr)
        sys.exit(3)
    rng = np.random.default_rng(0)
    failed, total = [], 0
    for kind, (proj_geom, vol_geom) in geometries().items():
        try:
            checks = check(kind, proj_geom, vol_geom, rng)
        except Exception as error:
            print(f"{kind}: {type(error).__name__}: {error}", flush=True)
            failed.append(f"{kind}: raised")
            total += 1
            continue
        total += len(checks)
        cells = [f"{name} {value:.2e}" if isinstance(value, float) else f"{name} {value}"
                 for name, value, _ in checks]
        print(f"{kind}: " + " | ".join(cells), flush=True)
        failed += [f"{kind}: {name} = {value}" for name, value, passed in checks if not passed]
    if failed:
        print(f"{len(failed)} of {total} checks failed:\n  " + "\n  ".join(map(str, failed)))
        sys.exit(1)
    print(f"all {total} checks passed")


if __name__ == "__main__":
    main()
