"""Start a 3-slice score network from a trained 2D one ("inflation").

A 3-slice network trained from scratch has to learn everything the 2D network already knows
before it can learn what the neighbours add; at a small training budget it never gets there
(its ε̂ is worse than the 2D network's). :func:`inflate_slice_network` builds a 3-slice
network **three times as wide** as the 2D one whose every layer holds three interleaved
copies of the 2D layer, one per slice:

* feature channel ``j`` of the 2D network becomes channels ``3j + c`` (``c`` = slice 0, 1,
  2), so the skip-connection concatenations of the UNet keep the same interleaving;
* every convolution / linear weight ``w[o, i]`` becomes ``W[3o + c, 3i + c] = w[o, i]``
  (zero across copies); the input and output convolutions map slice ``c`` to copy ``c``;
* attention projections put copy ``c`` in heads ``c·H … c·H + H − 1`` (heads never mix
  slices); the sinusoidal timestep features of the wide network contain those of the 2D one
  (same frequencies, every third), so the time embedding is copied exactly;
* the slice-spacing embedding starts at zero.

Group normalisation keeps the 2D network's group count, so each group pools its channel
group over the three copies: on three identical slices the inflated network returns the 2D
network's ε̂ in every channel (a test checks this), and on neighbouring slices, which differ
little, it starts close to three independent 2D networks. Training then grows the zero
cross-copy weights: the network learns what the neighbours add, starting no worse than 2D.
"""

from __future__ import annotations

import dataclasses

import torch

from .checkpoint import Checkpoint, load_checkpoint
from .networks import EpsilonNetwork
from .prior_kinds import KINDS

COPIES = 3
_ATTENTION_IN = (".to_q.", ".to_k.", ".to_v.")
_ATTENTION_OUT = ".to_out.0."


def inflate_slice_network(slice_network: EpsilonNetwork, prior_kind: str = "blend",
                          generator: torch.Generator | None = None) -> EpsilonNetwork:
    """A ``prior_kind`` network (``blend`` or ``conditional``) three times as wide as the
    2D ``slice_network`` (1 in, 1 out channel), initialised from it as the module docstring
    says. ``conditional`` networks output the centre copy. ``generator`` draws the
    (irrelevant at start) first layer of the spacing embedding."""
    base = slice_network.config
    if (base.in_channels, base.out_channels) != KINDS["slice"].channels:
        raise ValueError(f"inflation starts from a 2D 'slice' network (1 -> 1 channels), got "
                         f"{base.in_channels} -> {base.out_channels}")
    if prior_kind not in ("blend", "conditional"):
        raise ValueError(f"can inflate to 'blend' or 'conditional', got {prior_kind!r}")
    c_in, c_out = KINDS[prior_kind].channels
    config = dataclasses.replace(
        base, in_channels=c_in, out_channels=c_out,
        block_out_channels=tuple(COPIES * w for w in base.block_out_channels),
        spacing_embedding=prior_kind == "blend")
    with torch.random.fork_rng(devices=[]):
        if generator is not None:
            torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
        wide = EpsilonNetwork(config)
    half = base.block_out_channels[0] // 2
    state = wide.unet.state_dict()
    for name, w in slice_network.unet.state_dict().items():
        state[name] = _inflate_tensor(name, w, state[name].shape, half,
                                      centre_output=c_out == 1)
    for name, value in state.items():
        if name.startswith("class_embedding.linear_2."):
            state[name] = torch.zeros_like(value)
    wide.unet.load_state_dict(state)
    return wide


def inflate_checkpoint(path, prior_kind: str = "blend",
                       seed: int = 0) -> tuple[EpsilonNetwork, Checkpoint]:
    """The 2D prior saved at ``path``, inflated to ``prior_kind`` (spacing embedding drawn
    from ``seed``), and the loaded 2D checkpoint (its window, schedule and training summary);
    ``ValueError`` unless the file holds a ``slice`` prior."""
    base = load_checkpoint(path)
    if base.kind != "slice":
        raise ValueError(f"inflation needs a 2D 'slice' checkpoint; {path} holds a "
                         f"'{base.kind}' prior")
    generator = torch.Generator().manual_seed(seed)
    return inflate_slice_network(base.network, prior_kind, generator), base


def _inflate_tensor(name: str, w: torch.Tensor, shape, half: int, centre_output: bool):
    """The wide tensor of ``shape`` holding the copies of the 2D tensor ``w``."""
    out_index, in_index, copies = _interleaved, _interleaved, range(COPIES)
    if name.startswith("conv_out."):
        out_index = (lambda o, c: 0) if centre_output else (lambda o, c: c)
        copies = (1,) if centre_output else copies
    if any(key in name for key in _ATTENTION_IN):          # copy c -> its own block of heads
        out_index = _blocked(w.shape[0])
    if _ATTENTION_OUT in name and w.ndim == 2:
        in_index = _blocked(w.shape[1])
    if name.startswith("time_embedding.linear_1."):
        in_index = lambda i, c: _frequency_index(i, half)   # noqa: E731 (shared input)
    wide = torch.zeros(shape, dtype=w.dtype)
    for c in copies:
        rows = torch.tensor([out_index(o, c) for o in range(w.shape[0])])
        if w.ndim == 1:
            wide[rows] = w
        else:
            cols = torch.tensor([in_index(i, c) for i in range(w.shape[1])])
            wide[rows[:, None], cols[None, :]] = w
    return wide


def _interleaved(j: int, c: int) -> int:
    return COPIES * j + c


def _blocked(channels: int):
    return lambda j, c: c * channels + j


def _frequency_index(i: int, half: int) -> int:
    """Index in the wide network's sinusoidal features (``COPIES·half`` frequencies, cos
    then sin) of feature ``i`` of the 2D network's (``half`` frequencies): frequency ``k``
    of the 2D features is frequency ``COPIES·k`` of the wide ones."""
    part, k = divmod(i, half)
    return part * COPIES * half + COPIES * k
