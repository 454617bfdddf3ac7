"""Registry entries for the comparison methods, in the shape of :mod:`.methods`.

``EXTRA_METHODS[name](operator, y, *, checkpoint, steps, seed, device, progress) → volume``
``(Z, Y, X)`` in physical units.

=========  =======================================================  ===========================
name       method                                                   weights
=========  =======================================================  ===========================
mbir       DiffusionMBIR: slice prior, VE predictor–corrector,      bundled slice prior, or
           ADMM-TV-z after every step (:mod:`.mbir`)                ``checkpoint`` (slice kind)
tpdm       TPDM: axial and coronal slice priors alternating,        bundled slice prior (axial)
           CG data consistency (:mod:`.tpdm`)                       + ``checkpoint`` (coronal)
padis      PaDIS patch prior per slice, CG (:mod:`.padis`)          ``checkpoint`` (required)
fbp-unet   supervised FBP-UNet (:mod:`.fbp_unet`)                   ``checkpoint`` (required)
=========  =======================================================  ===========================

No weights are bundled for the coronal TPDM prior, PaDIS or FBP-UNet: those methods raise
``ValueError`` without a checkpoint. ``steps`` counts predictor–corrector steps for ``mbir``
(2 network evaluations each) and DDIM steps otherwise; ``fbp-unet`` ignores ``steps`` and
``seed``. ``mbir`` uses the ancestral predictor: at CPU step counts (50–100, not the paper's
2000) the paper's reverse-diffusion predictor leaves too much noise (see :mod:`.mbir`).
"""

from __future__ import annotations

from .fbp_unet import FbpUnet
from .mbir import MbirSolver
from .methods import load_prior
from .padis import load_patch_prior
from .solver import DiffusionBlendSolver
from .tpdm import tpdm_prior


def _require(checkpoint, name: str, how: str):
    if checkpoint is None:
        raise ValueError(f"method {name!r} needs weights trained for it and none are bundled: "
                         f"pass a checkpoint written by {how}")
    return checkpoint


def run_mbir(operator, y, *, checkpoint=None, steps=100, seed=0, device="cpu", progress=False):
    prior = load_prior("slice", checkpoint, device)
    solver = MbirSolver(operator, prior, steps=steps, predictor="ancestral")
    return solver.reconstruct(y, seed=seed, progress=progress)


def run_tpdm(operator, y, *, checkpoint=None, steps=50, seed=0, device="cpu", progress=False):
    coronal = load_prior("slice", _require(
        checkpoint, "tpdm", "diffblend_astra.train.train on the coronal slices of the training "
        "volumes ([tpdm.to_axis(v, 'coronal') for v in volumes], prior kind 'slice')"), device)
    prior = tpdm_prior(load_prior("slice", None, device), coronal, axis="coronal")
    solver = DiffusionBlendSolver(operator, prior, steps=steps)
    return solver.reconstruct(y, seed=seed, progress=progress)


def run_padis(operator, y, *, checkpoint=None, steps=50, seed=0, device="cpu", progress=False):
    prior = load_patch_prior(_require(checkpoint, "padis",
                                      "diffblend_astra.padis.train_patch_prior"), device)
    solver = DiffusionBlendSolver(operator, prior, steps=steps)
    return solver.reconstruct(y, seed=seed, progress=progress)


def run_fbp_unet(operator, y, *, checkpoint=None, steps=None, seed=None, device="cpu",
                 progress=False):
    model = FbpUnet.load(_require(checkpoint, "fbp-unet",
                                  "FbpUnet.save after diffblend_astra.fbp_unet.train_fbp_unet"),
                         device)
    return model.reconstruct(operator, y)


EXTRA_METHODS = {"mbir": run_mbir, "tpdm": run_tpdm, "padis": run_padis,
                 "fbp-unet": run_fbp_unet}
