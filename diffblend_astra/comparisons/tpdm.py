"""TPDM (Lee et al., ICCV 2023): two perpendicular 2D slice priors, used alternately.

One slice prior is trained on axial slices ``volume[z]``, the other on slices along a second
axis — coronal ``volume[:, y]`` here, sagittal in the DiffusionBlend paper's run. The volume
is moved into the second prior's frame by :func:`to_axis`, which swaps axis 0 with the chosen
axis; a swap is its own inverse, so the same function brings ε̂ back::

    axis 1 (coronal):  (Z, Y, X) → (Y, Z, X), slices (Z, X)
    axis 2 (sagittal): (Z, Y, X) → (X, Y, Z), slices (Y, Z)

Train the second prior with the ordinary slice training on ``[to_axis(v, axis) for v in
volumes]``, so that it learns slices in exactly the orientation :class:`AxisPrior` shows it.

A network with ``s × s`` slices needs both orientations to be ``s × s``: for coronal slices
``Z = X = s`` besides ``Y = X = s`` — a cubic volume, TPDM's known restriction.

Sampling: TPDM alternates its priors in a DPS sampler (2000 network evaluations, each prior
equally often, in the DiffusionBlend paper's comparison). Here the alternation is itself a
prior, :class:`AlternatingPrior`, so it runs in :class:`~..solver.DiffusionBlendSolver` with
its CG data consistency instead of the DPS gradient step.
"""

from __future__ import annotations

import torch

from ..conventions import PLANES

AXIS_NAMES = {axis: name for name, axis in PLANES.items()}


def to_axis(volume: torch.Tensor, axis: int) -> torch.Tensor:
    """Swap axis 0 of a ``(Z, Y, X)`` volume with ``axis`` (a view; its own inverse)."""
    if volume.ndim != 3:
        raise ValueError(f"expected a (Z, Y, X) volume, got shape {tuple(volume.shape)}")
    return volume.transpose(0, _axis(axis))


def _axis(axis) -> int:
    axis = PLANES.get(axis, axis)
    if axis not in AXIS_NAMES:
        raise ValueError(f"axis must be 0, 1, 2 or one of {sorted(PLANES)}, got {axis!r}")
    return axis


class AxisPrior:
    """A slice prior applied along ``axis`` (0/'axial', 1/'coronal', 2/'sagittal').

    Same contract as a :class:`~..priors.Prior` (``schedule``, ``window``,
    ``check_volume_shape``, ``predict_noise``) on ``(Z, Y, X)`` volumes: the volume is moved
    by :func:`to_axis`, the wrapped prior predicts ε̂, and ε̂ is moved back.
    """

    def __init__(self, prior, axis):
        self.prior = prior
        self.axis = _axis(axis)
        self.schedule = prior.schedule
        self.window = prior.window

    def check_volume_shape(self, shape) -> None:
        """Raise ``ValueError`` unless the wrapped prior fits the volume's ``axis`` slices."""
        shape = tuple(shape)
        if len(shape) != 3:
            raise ValueError(f"AxisPrior works on (Z, Y, X) volumes, got shape {shape}")
        moved = list(shape)
        moved[0], moved[self.axis] = moved[self.axis], moved[0]
        try:
            self.prior.check_volume_shape(tuple(moved))
        except ValueError as err:
            raise ValueError(f"the {AXIS_NAMES[self.axis]} prior sees a {shape} volume as "
                             f"{moved[0]} slices of {moved[1]}x{moved[2]}: {err}. Perpendicular "
                             f"priors need a volume that fits both orientations") from None

    def predict_noise(self, x_t, t, step, generator):
        eps = self.prior.predict_noise(to_axis(x_t, self.axis), t, step, generator)
        return to_axis(eps, self.axis).contiguous()


class AlternatingPrior:
    """Priors taking turns: step ``i`` uses ``priors[(i // every) % len(priors)]``.

    All priors must share the diffusion schedule and intensity window (the solver uses one).
    ``every = 1`` alternates every step, as TPDM does.
    """

    def __init__(self, priors, *, every: int = 1):
        self.priors = tuple(priors)
        if not self.priors:
            raise ValueError("AlternatingPrior needs at least one prior")
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1, got {every!r}")
        first = self.priors[0]
        for k, prior in enumerate(self.priors[1:], start=1):
            if prior.schedule != first.schedule or prior.window != first.window:
                raise ValueError(f"prior {k} has another schedule or intensity window than "
                                 f"prior 0 ({prior.schedule}, {prior.window} vs "
                                 f"{first.schedule}, {first.window})")
        self.every = every
        self.schedule = first.schedule
        self.window = first.window

    def check_volume_shape(self, shape) -> None:
        for prior in self.priors:
            prior.check_volume_shape(shape)

    def predict_noise(self, x_t, t, step, generator):
        prior = self.priors[(step // self.every) % len(self.priors)]
        return prior.predict_noise(x_t, t, step, generator)


def tpdm_prior(axial, second, *, axis=1, every: int = 1) -> AlternatingPrior:
    """TPDM's prior: the axial slice prior and a slice prior along ``axis`` (coronal by
    default), alternating every ``every`` steps."""
    return AlternatingPrior([axial, AxisPrior(second, axis)], every=every)
