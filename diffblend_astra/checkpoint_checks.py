"""A checkpoint's sidecar checked before anything is built from it.

:func:`check_sidecar` bounds every size field of the sidecar (the network's widths, depth,
channels and slice size, the schedule's ``num_timesteps``, the patch prior's
``image_shape``) and then compares the network fields that the weights determine with the
tensor shapes in the safetensors header (read without loading a tensor). Only a sidecar
that passes both is turned into a network, so that a sidecar whose fields are huge or
disagree with the weights is a one-line ``ValueError`` naming the file and the field, never
an allocation without bound.
"""

from __future__ import annotations

import re

from .networks import EpsilonNetwork, ResidualUNet

MAX_SIDECAR_BYTES = 2**20
"""Largest sidecar read, in bytes (the bundled ones hold a few KiB)."""

NETWORK_BOUNDS = {
    "sample_size": (1, 8192),
    "in_channels": (1, 64),
    "out_channels": (1, 64),
    "block_out_channels": (1, 8192),
    "layers_per_block": (1, 16),
    "norm_num_groups": (1, 8192),
    "attention_levels": (0, 15),
    "width": (1, 8192),
    "depth": (0, 15),
}
"""Inclusive ``(low, high)`` of every integer network field (of each entry, for lists)."""

LIST_LENGTHS = {"block_out_channels": (1, 16), "attention_levels": (0, 16)}
"""Inclusive ``(fewest, most)`` entries of the network fields that are lists."""

MAX_TIMESTEPS = 100_000
"""Largest diffusion schedule a sidecar may describe (``schedule.num_timesteps``)."""


def header_shapes(path) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape in the safetensors header of ``path``; no tensor is read.

    Raises ``ValueError`` when ``path`` is not a safetensors file.
    """
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as file:
            return {key: tuple(file.get_slice(key).get_shape()) for key in file.keys()}
    except Exception as err:      # safetensors raises its own error types
        raise not_safetensors(path, err) from None


def not_safetensors(path, err) -> ValueError:
    """The error for weights at ``path`` that safetensors cannot read (``err``)."""
    return ValueError(f"{path} is not a valid safetensors file ({_first_line(err)}); pickled "
                      "checkpoints (torch.save, .pt/.pth/.ckpt) are refused because loading "
                      "them can run arbitrary code")


def check_sidecar(path, sidecar, meta: dict, network_class: type,
                  shapes: dict[str, tuple[int, ...]]) -> None:
    """Refuse a (version-2) sidecar ``meta`` of the weights ``path`` whose size fields are
    out of :data:`NETWORK_BOUNDS` / :data:`MAX_TIMESTEPS`, or whose network fields disagree
    with ``shapes`` (:func:`header_shapes`) for a network of ``network_class``."""
    network = meta.get("network")
    if not isinstance(network, dict):
        raise ValueError(f"checkpoint sidecar {sidecar} is incomplete: 'network' must be an "
                         "object")
    for name, value in network.items():
        if name in NETWORK_BOUNDS:
            _check_integers(sidecar, f"network.{name}", value, NETWORK_BOUNDS[name],
                            LIST_LENGTHS.get(name))
    schedule = meta.get("schedule")
    if isinstance(schedule, dict) and "num_timesteps" in schedule:
        _check_integers(sidecar, "schedule.num_timesteps", schedule["num_timesteps"],
                        (2, MAX_TIMESTEPS))
    options = meta.get("options")
    if isinstance(options, dict) and "image_shape" in options:
        _check_integers(sidecar, "options.image_shape", options["image_shape"],
                        NETWORK_BOUNDS["sample_size"], (2, 2))
    for name, held in _fields_from_shapes(network_class, shapes).items():
        if name in network and network[name] != held:
            raise ValueError(f"checkpoint sidecar {sidecar}: network.{name} is "
                             f"{network[name]!r} but the weights in {path} hold {held!r}")


def _check_integers(sidecar, field, value, bounds, lengths=None):
    """``value`` must be an integer in ``bounds`` or, with ``lengths`` (``(fewest, most)``),
    a list of that many such integers."""
    if lengths is not None:
        if not isinstance(value, list) or not lengths[0] <= len(value) <= lengths[1]:
            raise ValueError(f"checkpoint sidecar {sidecar}: {field} = {_short(value)}; "
                             f"expected a list of {lengths[0]} to {lengths[1]} integers")
    low, high = bounds
    for item in value if lengths is not None else [value]:
        if not isinstance(item, int) or isinstance(item, bool) or not low <= item <= high:
            raise ValueError(f"checkpoint sidecar {sidecar}: {field} = {_short(value)} is out "
                             f"of range; expected integers in [{low}, {high}]")


def _fields_from_shapes(network_class: type, shapes: dict) -> dict:
    """The network fields that the tensor shapes of a ``network_class`` determine."""
    if issubclass(network_class, ResidualUNet):
        depth = _indices(shapes, r"down\.(\d+)\.")
        first = shapes.get("down.0.0.weight")
        return {"depth": len(depth) - 1, **({"width": first[0]} if first else {})}
    if not issubclass(network_class, EpsilonNetwork):
        return {}
    fields = {}
    conv_in, conv_out = shapes.get("unet.conv_in.weight"), shapes.get("unet.conv_out.weight")
    if conv_in and len(conv_in) == 4:
        fields["in_channels"] = conv_in[1]
    if conv_out and len(conv_out) == 4:
        fields["out_channels"] = conv_out[0]
    levels = _indices(shapes, r"unet\.down_blocks\.(\d+)\.")
    widths = [shapes.get(f"unet.down_blocks.{i}.resnets.0.conv1.weight", (None,))[0]
              for i in levels]
    if levels == list(range(len(levels))) and None not in widths:
        fields["block_out_channels"] = widths
    fields["layers_per_block"] = len(_indices(shapes, r"unet\.down_blocks\.0\.resnets\.(\d+)\."))
    fields["attention_levels"] = _indices(shapes, r"unet\.down_blocks\.(\d+)\.attentions\.")
    fields["spacing_embedding"] = any(k.startswith("unet.class_embedding.") for k in shapes)
    return fields


def _indices(shapes, pattern) -> list[int]:
    found = {int(m.group(1)) for key in shapes if (m := re.match(pattern, key))}
    return sorted(found)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _first_line(err) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
