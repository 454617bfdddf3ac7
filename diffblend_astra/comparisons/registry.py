"""Registry entries for the comparison methods, in the shape of :mod:`..methods`.

``EXTRA_METHODS[name](operator, y, *, checkpoint, steps, seed, device, progress) → volume``
``(Z, Y, X)`` in physical units.

=========  =======================================================  ===========================
name       method                                                   weights (or ``checkpoint``)
=========  =======================================================  ===========================
mbir       DiffusionMBIR: slice prior, VE predictor–corrector,      bundled ``slice``
           ADMM-TV-z after every step (:mod:`.mbir`)
tpdm       TPDM: axial and coronal slice priors alternating,        bundled ``slice-phantom``
           CG data consistency (:mod:`.tpdm`)                       (axial) + ``slice-coronal``
padis      PaDIS patch prior per slice, CG (:mod:`.padis`)          bundled ``patch``
fbp-unet   supervised FBP-UNet (:mod:`.fbp_unet`)                   the bundled ``fbp-unet-*``
                                                                    trained for this geometry
=========  =======================================================  ===========================

The bundled ``slice`` and ``patch`` priors are the real-CT ones (``-phantom``: the phantom
ones, e.g. ``checkpoint="slice-phantom"``); TPDM's coronal prior and the FBP-UNets exist for
64³ phantoms only, so TPDM pairs ``slice-coronal`` with ``slice-phantom``, and an FBP-UNet
exists only for the phantom benchmark scans. ``checkpoint`` replaces them (for ``tpdm``:
the coronal prior, and the axial one is then the bundled ``slice``).
``steps`` counts predictor–corrector steps for ``mbir`` (2 network evaluations each) and DDIM
steps otherwise; ``fbp-unet`` ignores ``steps`` and ``seed``. ``mbir`` uses the ancestral predictor: at CPU step counts (50–100, not the paper's
2000) the paper's reverse-diffusion predictor leaves too much noise (see :mod:`.mbir`).
"""

from __future__ import annotations

from ..checkpoint import bundled_path, load_bundled, load_prior
from ..prior_kinds import KINDS
from ..solver import DiffusionBlendSolver
from .fbp_unet import FbpUnet
from .mbir import MbirSolver
from .tpdm import tpdm_prior


def bundled_fbp_unet(operator, device="cpu") -> FbpUnet:
    """The bundled FBP-UNet trained for ``operator``'s geometry; ``ValueError`` if none is."""
    for name in KINDS["fbp-unet"].bundled:
        if bundled_path(name).is_file():
            model = FbpUnet.from_checkpoint(load_bundled(name, device))
            if model.fits(operator):
                return model
    raise ValueError("no bundled FBP-UNet was trained for this geometry (they exist for the "
                     "benchmark scans of diffblend_astra.experiment.SCANS, on 64² and 256² "
                     "slices): train "
                     "one with diffblend_astra.comparisons.fbp_unet.train_fbp_unet and pass its "
                     "checkpoint")


def run_mbir(operator, y, *, checkpoint=None, steps=100, seed=0, device="cpu", progress=False):
    prior = load_prior("slice", checkpoint, device)
    solver = MbirSolver(operator, prior, steps=steps, predictor="ancestral")
    return solver.reconstruct(y, seed=seed, progress=progress)


def run_tpdm(operator, y, *, checkpoint=None, steps=50, seed=0, device="cpu", progress=False):
    coronal = (load_prior("slice-coronal", device=device) if checkpoint is None
               else load_prior("slice", checkpoint, device))
    axial = load_prior("slice-phantom" if checkpoint is None else "slice", None, device)
    prior = tpdm_prior(axial, coronal, axis="coronal")
    solver = DiffusionBlendSolver(operator, prior, steps=steps)
    return solver.reconstruct(y, seed=seed, progress=progress)


def run_padis(operator, y, *, checkpoint=None, steps=50, seed=0, device="cpu", progress=False):
    prior = load_prior("patch", checkpoint, device)
    solver = DiffusionBlendSolver(operator, prior, steps=steps)
    return solver.reconstruct(y, seed=seed, progress=progress)


def run_fbp_unet(operator, y, *, checkpoint=None, steps=None, seed=None, device="cpu",
                 progress=False):
    model = (bundled_fbp_unet(operator, device) if checkpoint is None
             else FbpUnet.load(checkpoint, device))
    return model.reconstruct(operator, y)


EXTRA_METHODS = {"mbir": run_mbir, "tpdm": run_tpdm, "padis": run_padis,
                 "fbp-unet": run_fbp_unet}
