"""The kinds of network the package reads and writes, in one table: a new kind is one row
here plus its classes.

===========  ========  ==================  ====================  ============================
kind         channels  network             prior                 bundled weights
===========  ========  ==================  ====================  ============================
blend        3 → 3     ``EpsilonNetwork``  ``BlendPrior``        ``blend``, ``blend-phantom``
slice        1 → 1     ``EpsilonNetwork``  ``SlicePrior``        ``slice``, ``slice-phantom``,
                                                                 ``slice-coronal``
conditional  3 → 1     ``EpsilonNetwork``  ``ConditionalPrior``  ``conditional``,
                                                                 ``conditional-phantom``
patch        3 → 1     ``PatchNetwork``    ``PatchPrior``        ``patch``, ``patch-phantom``
fbp-unet     1 → 1     ``ResidualUNet``    — (supervised)        ``fbp-unet-<scan>``,
                                                                 ``fbp-unet-ct-<scan>``
===========  ========  ==================  ====================  ============================

The plain names are the real-CT priors (fine-tuned on the training scans of
:mod:`.datasets`, any slice size); ``-phantom`` ones are trained on the procedural phantoms
(64² slices), as are ``slice-coronal`` and the ``fbp-unet-<scan>`` FBP-UNets;
``fbp-unet-ct-<scan>`` are trained on the real-CT training scans on the working grid (256²).

Networks are in :mod:`.networks`, priors in :mod:`.priors`. ``channels`` are the network's
``(in, out)`` image channels; ``kind`` is what a checkpoint sidecar records. The first four
are score priors (:data:`PRIOR_CLASSES`), which
:func:`~.checkpoint.load_prior` builds; ``fbp-unet`` is the supervised network of the
FBP-UNet comparison (:mod:`diffblend_astra.comparisons.fbp_unet`), which
:func:`~.checkpoint.load_checkpoint` reads like any other. :func:`named_config` gives each
score kind its network in the named sizes (``tiny``, ``paper``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .networks import EpsilonNetwork, NetworkConfig, PatchNetwork, ResidualUNet
from .priors import BlendPrior, ConditionalPrior, PatchPrior, Prior, SlicePrior

FBP_UNET_SCANS = ("parallel-4", "parallel-6", "parallel-8", "parallel-la90", "fan-8")
"""The benchmark scans (:data:`~.experiment.SCANS`) an FBP-UNet may be bundled for."""


@dataclass(frozen=True)
class Kind:
    """One row: the network's ``(in, out)`` channels and class, the prior class that turns
    it into ε̂ of a volume (``None``: not a score prior), and the weights bundled in
    ``diffblend_astra/weights/`` by name → file name (without suffix)."""

    channels: tuple[int, int]
    network: type
    prior_class: type[Prior] | None
    bundled: dict[str, str] = field(default_factory=dict)


KINDS = {
    "blend": Kind((3, 3), EpsilonNetwork, BlendPrior, {"blend": "blend_ct",
                                                       "blend-phantom": "blend_wide"}),
    "slice": Kind((1, 1), EpsilonNetwork, SlicePrior, {"slice": "slice_ct",
                                                       "slice-phantom": "slice_tiny",
                                                       "slice-coronal": "slice_coronal_tiny"}),
    "conditional": Kind((3, 1), EpsilonNetwork, ConditionalPrior,
                        {"conditional": "conditional_ct",
                         "conditional-phantom": "conditional_tiny"}),
    "patch": Kind((3, 1), PatchNetwork, PatchPrior, {"patch": "patch_ct",
                                                     "patch-phantom": "patch_tiny"}),
    "fbp-unet": Kind((1, 1), ResidualUNet, None, {
        f"fbp-unet-{ct}{scan}": f"fbp_unet_{ct.replace('-', '_')}{scan.replace('-', '_')}"
        for ct in ("", "ct-") for scan in FBP_UNET_SCANS}),
}

PRIOR_CLASSES = {kind: row.prior_class for kind, row in KINDS.items()
                 if row.prior_class is not None}
"""The score-prior kinds, with their prior classes."""

BUNDLED_WEIGHTS = {name: stem for row in KINDS.values() for name, stem in row.bundled.items()}
"""Weights shipped in ``diffblend_astra/weights/`` by name → file name (without suffix);
``benchmarks/train_weights.py`` trains them. An FBP-UNet exists only for some scans."""

BUNDLED_KIND = {name: kind for kind, row in KINDS.items() for name in row.bundled}
"""The kind of each bundled weight file by name (``slice-coronal`` → ``slice``)."""


def named_config(name: str, prior_kind: str, sample_size: int | None = None) -> NetworkConfig:
    """A named architecture for a score kind (``blend``, ``conditional``, ``slice``, ``patch``),
    recording ``sample_size`` as its training image size (default: the name's own). Every
    one is fully convolutional and runs on images of any size.

    * ``tiny``  — 64² slices, ≈1.1 M parameters; trains on 2 CPU cores (≈0.3 s per batch of
      16). The bundled demonstration weights use it.
    * ``paper`` — 256² slices, the DDPM/ADM size of the paper's networks (≈110 M parameters,
      widths 128–512, attention at 16²); for GPUs. Fine-tune it from a diffusers DDPM
      checkpoint with :func:`network_from_pretrained`.
    """
    c_in, c_out = _score_kind(prior_kind).channels
    common = dict(in_channels=c_in, out_channels=c_out, spacing_embedding=prior_kind == "blend")
    if name == "tiny":
        return NetworkConfig(sample_size=sample_size or 64, block_out_channels=(16, 32, 64, 64),
                             layers_per_block=1, attention_levels=(3,), norm_num_groups=8,
                             **common)
    if name == "paper":
        return NetworkConfig(sample_size=sample_size or 256, block_out_channels=(128, 128, 256, 256, 512, 512),
                             layers_per_block=2, attention_levels=(4,), norm_num_groups=32,
                             **common)
    raise ValueError(f"unknown network configuration {name!r}; expected 'tiny' or 'paper'")


def network_from_pretrained(directory: str, prior_kind: str) -> EpsilonNetwork:
    """Start a network from a diffusers ``UNet2DModel`` directory the user already has.

    This is how the paper's DiffusionBlend++ network began: from Ho et al.'s DDPM weights
    (for example a local copy of a ``google/ddpm-*-256`` ``unet`` folder). The input and
    output layers are kept when the channel counts match the prior kind and re-initialised
    otherwise; a spacing embedding is added for ``blend`` priors. Nothing is downloaded.
    """
    from diffusers import UNet2DModel

    base = UNet2DModel.from_pretrained(directory, local_files_only=True)
    c_in, c_out = _score_kind(prior_kind).channels
    bc = base.config
    attention = tuple(i for i, name in enumerate(bc.down_block_types) if "Attn" in name)
    config = NetworkConfig(sample_size=int(bc.sample_size), in_channels=c_in,
                           out_channels=c_out, block_out_channels=tuple(bc.block_out_channels),
                           layers_per_block=int(bc.layers_per_block),
                           attention_levels=attention, norm_num_groups=int(bc.norm_num_groups),
                           spacing_embedding=prior_kind == "blend")
    net = _score_kind(prior_kind).network(config)
    own = net.unet.state_dict()
    compatible = {k: v for k, v in base.state_dict().items()
                  if k in own and own[k].shape == v.shape}
    net.unet.load_state_dict(compatible, strict=False)
    return net


def _score_kind(kind: str) -> Kind:
    if kind not in PRIOR_CLASSES:
        raise ValueError(f"prior kind must be one of {sorted(PRIOR_CLASSES)}, got {kind!r}")
    return KINDS[kind]
