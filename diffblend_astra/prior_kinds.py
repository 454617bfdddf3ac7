"""The prior kinds, in one table: a new kind is one row here plus its class.

=============  ==========  =======================================  ==========================
kind           channels    class                                    bundled weights
=============  ==========  =======================================  ==========================
blend          3 → 3       :class:`~.priors.BlendPrior`             ``blend``
slice          1 → 1       :class:`~.priors.SlicePrior`             ``slice``, ``slice-coronal``
conditional    3 → 1       :class:`~.priors.ConditionalPrior`       ``conditional``
patch          3 → 1       PaDIS's ``PatchPrior``                   ``patch``
=============  ==========  =======================================  ==========================

``channels`` are the network's ``(in, out)`` image channels, the ``prior_kind`` a checkpoint
sidecar records. The ``patch`` kind belongs to a comparison system
(:mod:`diffblend_astra.comparisons.padis`, which has its own class, network and loader);
the core does not import it, so its row has no class here and the core's training, checkpoints
and :func:`~.checkpoint.load_prior` serve the other kinds (:data:`PRIOR_CLASSES`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .priors import BlendPrior, ConditionalPrior, Prior, SlicePrior


@dataclass(frozen=True)
class PriorKind:
    """One row: the network's ``(in, out)`` channels, the prior class that the core builds from
    a checkpoint of this kind (``None``: a comparison system's own), and the weights bundled
    in ``diffblend_astra/weights/`` by name → file name (without suffix)."""

    channels: tuple[int, int]
    prior_class: type[Prior] | None
    bundled: dict[str, str] = field(default_factory=dict)


PRIOR_KINDS = {
    "blend": PriorKind((3, 3), BlendPrior, {"blend": "blend_wide"}),
    "slice": PriorKind((1, 1), SlicePrior, {"slice": "slice_tiny",
                                            "slice-coronal": "slice_coronal_tiny"}),
    "conditional": PriorKind((3, 1), ConditionalPrior, {"conditional": "conditional_tiny"}),
    "patch": PriorKind((3, 1), None, {"patch": "patch_tiny"}),
}

PRIOR_CLASSES = {kind: row.prior_class for kind, row in PRIOR_KINDS.items()
                 if row.prior_class is not None}
"""The kinds the core trains, saves and loads, with their prior classes."""

PRIOR_CHANNELS = {kind: PRIOR_KINDS[kind].channels for kind in PRIOR_CLASSES}
"""Channel layout ``(in, out)`` of each kind of :data:`PRIOR_CLASSES`."""

BUNDLED_PRIORS = {name: stem for row in PRIOR_KINDS.values() for name, stem in row.bundled.items()}
"""Bundled prior weights by name → file name (without suffix)."""

BUNDLED_KIND = {name: kind for kind, row in PRIOR_KINDS.items() for name in row.bundled}
"""The kind of each bundled prior by name (``slice-coronal`` → ``slice``)."""
