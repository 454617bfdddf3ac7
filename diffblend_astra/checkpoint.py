"""Checkpoints: safetensors weights plus a JSON sidecar; loading never unpickles.

A checkpoint ``NAME.safetensors`` holds only tensors; ``NAME.json`` beside it holds what is
needed to use them: the network configuration, the diffusion schedule, the intensity window
(physical units ↔ network units), the prior kind and a summary of the training data. Both
files are written atomically (temporary file, then rename). The sidecar's
``format_version`` says which version of the format wrote it; a checkpoint of a newer
version than the code reads is refused (:func:`check_format_version`).

:func:`load_prior` is the one way from weights (bundled, by name, or a file) to a prior; the
kinds it serves are those of :data:`~.prior_kinds.PRIOR_CLASSES`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch

from .diffusion import VPSchedule
from .io_atomic import atomic_write
from .networks import EpsilonNetwork, NetworkConfig
from .normalization import IntensityWindow
from .prior_kinds import BUNDLED_PRIORS, PRIOR_CHANNELS, PRIOR_CLASSES
from .priors import Prior

FORMAT_VERSION = 1
"""Version of the sidecar format that :func:`save_checkpoint` writes."""

FBP_UNET_WEIGHTS = {f"fbp-unet-{scan}": f"fbp_unet_{scan.replace('-', '_')}" for scan in (
    "parallel-4", "parallel-6", "parallel-8", "parallel-la90", "fan-8")}
"""The supervised FBP-UNet weights, one per benchmark scan (:data:`~.experiment.SCANS`)."""

BUNDLED_WEIGHTS = {**BUNDLED_PRIORS, **FBP_UNET_WEIGHTS}
"""Weights shipped in ``diffblend_astra/weights/`` by name (without suffix): the priors of
:data:`~.prior_kinds.PRIOR_KINDS` (the score priors by prior kind, TPDM's coronal slice
prior, the PaDIS patch prior) and one FBP-UNet per benchmark scan.
``benchmarks/train_weights.py`` trains them."""


@dataclass
class Checkpoint:
    """A trained score network and everything needed to use it."""

    network: EpsilonNetwork
    prior_kind: str
    schedule: VPSchedule
    window: IntensityWindow
    training: dict = field(default_factory=dict)


def sidecar_path(path) -> Path:
    """``NAME.safetensors`` → ``NAME.json``."""
    return Path(path).with_suffix(".json")


def check_format_version(meta: dict, path, current: int = FORMAT_VERSION) -> None:
    """Refuse a sidecar ``meta`` whose ``format_version`` is newer than ``current``, the
    version this code reads, with a one-line ``ValueError``."""
    version = meta.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > current:
        raise ValueError(f"checkpoint {path} has format_version {version}, newer than this "
                         f"version of diffblend_astra reads ({current}): upgrade "
                         "diffblend_astra to load it")


def write_tensors(path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Write ``tensors`` to ``path`` (safetensors) and ``meta`` to its JSON sidecar, atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"checkpoint path must end in .safetensors, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    contiguous = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_write(path) as tmp:
        save_file(contiguous, str(tmp))
    with atomic_write(sidecar_path(path)) as tmp:
        Path(tmp).write_text(json.dumps(meta, indent=2, sort_keys=True))


def read_tensors(path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint written by :func:`write_tensors`; refuse anything else.

    Raises ``FileNotFoundError`` when a file is missing and ``ValueError`` when the weights
    are not a safetensors file (a pickled ``torch.save`` payload is refused, as loading it
    could run arbitrary code) or the sidecar is not valid JSON.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    meta_path = sidecar_path(path)
    for p in (path, meta_path):
        if not p.is_file():
            raise FileNotFoundError(f"checkpoint file not found: {p} (a checkpoint is "
                                    "NAME.safetensors with NAME.json beside it)")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a valid safetensors file ({err}); pickled "
                         "checkpoints (torch.save, .pt/.pth/.ckpt) are refused because "
                         "loading them can run arbitrary code") from None
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"checkpoint sidecar {meta_path} is not valid JSON: {err}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"checkpoint sidecar {meta_path} must hold a JSON object")
    return tensors, meta


def write_state(path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Write a resumable training state as **one** file, atomically: the tensors, with
    ``meta`` as JSON in the safetensors header, so weights and step can never disagree."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    contiguous = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_write(path) as tmp:
        save_file(contiguous, str(tmp), metadata={"state": json.dumps(meta)})


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


def save_checkpoint(path, network: EpsilonNetwork, *, prior_kind: str, schedule: VPSchedule,
                    window: IntensityWindow, training: dict | None = None) -> Path:
    """Save ``network`` (its weights only) with its sidecar; returns the weights path."""
    if prior_kind not in PRIOR_CHANNELS:
        raise ValueError(f"prior kind must be one of {sorted(PRIOR_CHANNELS)}, got "
                         f"{prior_kind!r}")
    meta = {
        "format_version": FORMAT_VERSION,
        "prior_kind": prior_kind,
        "network": network.config.to_dict(),
        "schedule": schedule.to_dict(),
        "intensity_window": window.to_dict(),
        "training": training or {},
    }
    write_tensors(path, network.state_dict(), meta)
    return Path(path)


def load_checkpoint(path, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint saved by :func:`save_checkpoint` (weights on ``device``, eval mode)."""
    tensors, meta = read_tensors(path)
    check_format_version(meta, path)
    try:
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version {meta.get('format_version')!r}, expected "
                             f"{FORMAT_VERSION}")
        config = NetworkConfig.from_dict(meta["network"])
        schedule = VPSchedule.from_dict(meta["schedule"])
        window = IntensityWindow.from_dict(meta["intensity_window"])
        prior_kind = meta["prior_kind"]
        if PRIOR_CHANNELS.get(prior_kind) != (config.in_channels, config.out_channels):
            raise ValueError(f"prior kind {prior_kind!r} does not match a network with "
                             f"{config.in_channels} in / {config.out_channels} out channels")
    except (KeyError, TypeError) as err:
        raise ValueError(f"checkpoint sidecar {sidecar_path(path)} is incomplete: {err}") from None
    except ValueError as err:
        raise ValueError(f"checkpoint {path} is not usable: {err}") from None
    try:
        network = EpsilonNetwork(config)
    except (ArithmeticError, RuntimeError, TypeError, ValueError) as err:
        raise ValueError(f"checkpoint sidecar {sidecar_path(path)} describes a network that "
                         f"cannot be built: {str(err).splitlines()[0]}") from None
    try:
        network.load_state_dict(tensors)
    except RuntimeError as err:
        raise ValueError(f"weights in {path} do not match the network described in "
                         f"{sidecar_path(path)}: {str(err).splitlines()[0]}") from None
    network.to(device).eval().requires_grad_(False)
    return Checkpoint(network=network, prior_kind=prior_kind, schedule=schedule,
                      window=window, training=meta.get("training", {}))


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
                                f"{name} --install, or pass a checkpoint")
    return path


def load_bundled(name: str = "blend", device: str | torch.device = "cpu") -> Checkpoint:
    """Load the bundled tiny score prior ``name`` (a prior kind or ``"slice-coronal"``; 64²
    slices; see the README)."""
    return load_checkpoint(bundled_path(name, must_exist=True), device)


def prior_from_checkpoint(checkpoint: Checkpoint, **kwargs) -> Prior:
    """The prior class that matches ``checkpoint.prior_kind``, built from it."""
    return PRIOR_CLASSES[checkpoint.prior_kind].from_checkpoint(checkpoint, **kwargs)


def load_prior(name_or_kind: str, checkpoint=None, device="cpu", **kwargs) -> Prior:
    """A prior from bundled weights or a checkpoint file.

    ``load_prior("blend")`` loads the bundled weights of that prior kind;
    ``load_prior("runs/mine/model.safetensors")`` a checkpoint file (its kind from its
    sidecar); ``load_prior("blend", checkpoint)`` a checkpoint that must be of that kind.
    ``kwargs`` go to the prior class (e.g. ``partitions=`` of :class:`~.priors.BlendPrior`).
    """
    if checkpoint is None and name_or_kind not in PRIOR_CLASSES:
        ck = load_checkpoint(name_or_kind, device)
    else:
        ck = (load_bundled(name_or_kind, device) if checkpoint is None
              else load_checkpoint(checkpoint, device))
        if ck.prior_kind != name_or_kind:
            raise ValueError(f"checkpoint {checkpoint} holds a '{ck.prior_kind}' prior; a "
                             f"'{name_or_kind}' one is needed here")
    return prior_from_checkpoint(ck, **kwargs)
