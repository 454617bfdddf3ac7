"""Checkpoints: safetensors weights plus a JSON sidecar; loading never unpickles.

A checkpoint ``NAME.safetensors`` holds only tensors; ``NAME.json`` beside it holds what is
needed to use them: the ``kind`` (a row of :data:`~.prior_kinds.KINDS`), the network's
architecture, the intensity window (physical units ↔ network units), the diffusion schedule
(score priors), the kind's own ``options`` (the patch prior's slice size and background, an
FBP-UNet's scan geometry) and a summary of the training. Both files are written atomically
(temporary file, then rename). The sidecar's ``format_version`` says which version of the
format wrote it; a checkpoint of a newer version than the code reads is refused
(:func:`check_format_version`); version 1 (``prior_kind``/``model`` instead of ``kind``, the
options at the top level) is still read.

:func:`load_checkpoint` is the one way from a weights file (:func:`load_bundled`: from the
name of a bundled one) to a network of any kind; :func:`load_prior` goes on to the score
prior of :data:`~.prior_kinds.PRIOR_CLASSES`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from .checkpoint_checks import (MAX_SIDECAR_BYTES, check_sidecar, header_shapes,
                                not_safetensors)
from .diffusion import VPSchedule
from .io_atomic import write_bytes
from .normalization import IntensityWindow
from .prior_kinds import BUNDLED_WEIGHTS, KINDS, PRIOR_CLASSES
from .priors import Prior

FORMAT_VERSION = 2
"""Version of the sidecar format that :func:`save_checkpoint` writes."""

_V1_OPTIONS = ("image_shape", "pad_value", "geometry")
"""Sidecar keys that version 1 kept at the top level and version 2 keeps in ``options``."""


@dataclass
class Checkpoint:
    """A trained network of a kind of :data:`~.prior_kinds.KINDS` and what is needed to use
    it: ``schedule`` is ``None`` for a supervised network; ``options`` go to the kind's prior
    class (or, for ``fbp-unet``, to :class:`~.comparisons.fbp_unet.FbpUnet`)."""

    network: nn.Module
    kind: str
    window: IntensityWindow
    schedule: VPSchedule | None = None
    options: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)

    @property
    def trained_on(self) -> dict:
        """What the training recorded of its slices: ``slice_shape`` ``[H, W]``, ``crop``
        (the crop size, or ``None`` for whole slices), and where the data said so
        ``pixel_mm`` and ``intensity`` (e.g. :data:`~.datasets.INTENSITY_UNITS`); empty for
        checkpoints written before it was recorded."""
        slices = self.training.get("slices")
        return dict(slices) if isinstance(slices, dict) else {}


def sidecar_path(path) -> Path:
    """``NAME.safetensors`` → ``NAME.json``."""
    return Path(path).with_suffix(".json")


def check_format_version(meta: dict, path) -> None:
    """Refuse a sidecar ``meta`` whose ``format_version`` is newer than
    :data:`FORMAT_VERSION`, the version this code reads, with a one-line ``ValueError``."""
    version = meta.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise ValueError(f"checkpoint {path} has format_version {version}, newer than this "
                         f"version of diffblend_astra reads ({FORMAT_VERSION}): upgrade "
                         "diffblend_astra to load it")


def write_tensors(path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Write ``tensors`` to ``path`` (safetensors) and ``meta`` to its JSON sidecar, atomically
    (:mod:`.io_atomic`: both files follow the umask; a full disk is one ``OSError`` line)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"checkpoint path must end in .safetensors, got {path}")
    write_bytes(path, _safetensors_bytes(tensors))
    write_bytes(sidecar_path(path), json.dumps(meta, indent=2, sort_keys=True).encode())


def _safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> bytes:
    """``tensors`` (on any device) in the safetensors format; written by :mod:`.io_atomic`
    rather than by safetensors' own file writer, so that no temporary of its own is left."""
    from safetensors.torch import save

    return save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata)


def read_tensors(path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint written by :func:`write_tensors`; refuse anything else.

    Raises ``FileNotFoundError`` when a file is missing and ``ValueError`` when the weights
    are not a safetensors file (a pickled ``torch.save`` payload is refused, as loading it
    could run arbitrary code) or the sidecar is not a JSON object of at most
    :data:`~.checkpoint_checks.MAX_SIDECAR_BYTES`.
    """
    meta = read_sidecar(path)
    return _load_tensors(path), meta


def read_sidecar(path) -> dict:
    """The JSON object beside the weights ``path``, once both files are known to exist (see
    :func:`read_tensors` for the errors)."""
    path = Path(path)
    meta_path = sidecar_path(path)
    for p in (path, meta_path):
        if not p.is_file():
            raise FileNotFoundError(f"checkpoint file not found: {p} (a checkpoint is "
                                    "NAME.safetensors with NAME.json beside it)")
    if meta_path.stat().st_size > MAX_SIDECAR_BYTES:
        raise ValueError(f"checkpoint sidecar {meta_path} holds {meta_path.stat().st_size} "
                         f"bytes, more than a sidecar may ({MAX_SIDECAR_BYTES})")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"checkpoint sidecar {meta_path} is not valid JSON: {err}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"checkpoint sidecar {meta_path} must hold a JSON object")
    return meta


def _load_tensors(path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise not_safetensors(path, err) from None


def write_state(path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Write a resumable training state as **one** file, atomically: the tensors, with
    ``meta`` as JSON in the safetensors header, so weights and step can never disagree."""
    write_bytes(path, _safetensors_bytes(tensors, {"state": json.dumps(meta)}))


def read_state(path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a state written by :func:`write_state` (or by older versions, with a JSON
    sidecar); ``ValueError`` unless it holds ``step``, ``config`` and ``param_groups``."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            embedded = (f.metadata() or {}).get("state")
    except Exception as err:      # safetensors raises its own error types
        raise ValueError(f"cannot resume from {path}: not a valid safetensors file "
                         f"({err})") from None
    if embedded is None:
        tensors, meta = read_tensors(path)
    else:
        from safetensors.torch import load_file

        tensors, meta = load_file(str(path)), json.loads(embedded)
    for key, kind in (("step", int), ("config", dict), ("param_groups", list)):
        if not isinstance(meta.get(key), kind) or (key == "step" and meta[key] < 0):
            raise ValueError(f"cannot resume from {path}: it has no valid {key!r} "
                             f"({kind.__name__} expected); restore the run's state or start "
                             "a new run in another folder")
    return tensors, meta


def save_checkpoint(path, network: nn.Module, *, kind: str, window: IntensityWindow,
                    schedule: VPSchedule | None = None, options: dict | None = None,
                    training: dict | None = None) -> Path:
    """Save ``network`` (its weights only; ``network.config`` its architecture) as a
    checkpoint of ``kind`` with its sidecar; returns the weights path."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    if (schedule is None) != (KINDS[kind].prior_class is None):
        raise ValueError(f"a '{kind}' checkpoint "
                         f"{'needs' if schedule is None else 'takes no'} diffusion schedule")
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "network": network.config.to_dict(),
        "intensity_window": window.to_dict(),
        "options": options or {},
        "training": training or {},
    }
    if schedule is not None:
        meta["schedule"] = schedule.to_dict()
    write_tensors(path, network.state_dict(), meta)
    return Path(path)


def load_checkpoint(path, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint of any kind saved by :func:`save_checkpoint` (weights on
    ``device``, eval mode, frozen).

    The sidecar is checked against bounds and against the tensor shapes of the weights'
    safetensors header before the network is built or a tensor is read
    (:func:`~.checkpoint_checks.check_sidecar`).
    """
    meta = read_sidecar(path)
    shapes = header_shapes(path)
    check_format_version(meta, path)
    try:
        if meta.get("format_version") == 1:
            meta = _from_version_1(meta)
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version {meta.get('format_version')!r}, expected "
                             f"{FORMAT_VERSION}")
        kind = meta["kind"]
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
        row = KINDS[kind]
        architecture = meta["network"]
        window = IntensityWindow.from_dict(meta["intensity_window"])
        schedule = (None if row.prior_class is None
                    else VPSchedule.from_dict(meta["schedule"]))
        options = dict(meta.get("options", {}))
    except (KeyError, TypeError) as err:
        raise ValueError(f"checkpoint sidecar {sidecar_path(path)} is incomplete: {err}") from None
    except ValueError as err:
        raise ValueError(f"checkpoint {path} is not usable: {err}") from None
    check_sidecar(path, sidecar_path(path), meta, row.network, shapes)
    try:
        network = row.network.from_config(architecture)
    except (ArithmeticError, KeyError, RuntimeError, TypeError, ValueError) as err:
        raise ValueError(f"checkpoint sidecar {sidecar_path(path)} describes a network that "
                         f"cannot be built: {str(err).splitlines()[0]}") from None
    if tuple(network.channels) != row.channels:
        raise ValueError(f"checkpoint {path} is not usable: kind {kind!r} does not match a "
                         f"network with {network.channels[0]} in / {network.channels[1]} out "
                         "channels")
    try:
        network.load_state_dict(_load_tensors(path))
    except RuntimeError as err:
        raise ValueError(f"weights in {path} do not match the network described in "
                         f"{sidecar_path(path)}: {str(err).splitlines()[0]}") from None
    network.to(device).eval().requires_grad_(False)
    return Checkpoint(network=network, kind=kind, window=window, schedule=schedule,
                      options=options, training=meta.get("training", {}))


def _from_version_1(meta: dict) -> dict:
    """A version-1 sidecar in the version-2 layout: ``kind`` from ``prior_kind`` (or
    ``model``), the kind's options gathered from the top level."""
    upgraded = {k: v for k, v in meta.items() if k not in ("prior_kind", "model", *_V1_OPTIONS)}
    upgraded.update(format_version=2, kind=meta.get("prior_kind", meta.get("model")),
                    options={k: meta[k] for k in _V1_OPTIONS if k in meta})
    return upgraded


def bundled_path(name: str, *, must_exist: bool = False) -> Path:
    """Path of the weights shipped with the package as ``name`` (:data:`BUNDLED_WEIGHTS`)."""
    if name not in BUNDLED_WEIGHTS:
        raise ValueError(f"no bundled weights named {name!r} (bundled: "
                         f"{', '.join(BUNDLED_WEIGHTS)}); train your own and pass the checkpoint")
    path = Path(str(resources.files("diffblend_astra") / "weights")) / (
        BUNDLED_WEIGHTS[name] + ".safetensors")
    if must_exist and not path.is_file():
        raise FileNotFoundError(f"the bundled weights {name!r} ({path}) are missing from this "
                                f"installation; train them with benchmarks/train_weights.py "
                                f"(phantom priors) or benchmarks/train_ct_weights.py (real-CT "
                                f"priors), or pass a checkpoint")
    return path


def load_bundled(name: str = "blend", device: str | torch.device = "cpu") -> Checkpoint:
    """Load the bundled weights ``name`` (:data:`~.prior_kinds.BUNDLED_WEIGHTS`: a prior
    kind for the real-CT prior, ``"<kind>-phantom"``, ``"slice-coronal"`` or
    ``"fbp-unet-<scan>"``; see the README)."""
    return load_checkpoint(bundled_path(name, must_exist=True), device)


def prior_from_checkpoint(checkpoint: Checkpoint, **kwargs) -> Prior:
    """The prior class that matches ``checkpoint.kind``, built from it."""
    if checkpoint.kind not in PRIOR_CLASSES:
        raise ValueError(f"a '{checkpoint.kind}' checkpoint is not a score prior (priors: "
                         f"{', '.join(PRIOR_CLASSES)})")
    return PRIOR_CLASSES[checkpoint.kind].from_checkpoint(checkpoint, **kwargs)


def load_prior(name_or_kind: str, checkpoint=None, device="cpu", **kwargs) -> Prior:
    """A score prior from bundled weights or a checkpoint file.

    ``load_prior("blend")`` loads bundled weights by name (any score prior of
    :data:`~.prior_kinds.BUNDLED_WEIGHTS`, e.g. ``"slice-coronal"``);
    ``load_prior("runs/mine/model.safetensors")`` a checkpoint file (its kind from its
    sidecar); ``load_prior("blend", checkpoint)`` a checkpoint (a file, or the name of
    bundled weights such as ``"blend-phantom"``) that must be of that kind.
    ``kwargs`` go to the prior class (e.g. ``partitions=`` of :class:`~.priors.BlendPrior`).
    """
    if checkpoint is None:
        ck = _load_named_or_file(name_or_kind, device)
    else:
        ck = _load_named_or_file(checkpoint, device)
        if ck.kind != name_or_kind:
            raise ValueError(f"checkpoint {checkpoint} holds a '{ck.kind}' prior; a "
                             f"'{name_or_kind}' one is needed here")
    return prior_from_checkpoint(ck, **kwargs)


def _load_named_or_file(source, device) -> Checkpoint:
    """Bundled weights by name (:data:`BUNDLED_WEIGHTS`), else a checkpoint file."""
    if isinstance(source, str) and source in BUNDLED_WEIGHTS:
        return load_bundled(source, device)
    return load_checkpoint(source, device)
