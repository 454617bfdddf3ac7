"""A training run is one identity: what it trains on and what it trains, checked on resume.

A run folder holds ``run.json``, written when the run starts: the training volumes by
content (a SHA-256 of each volume's float32 values and shape, in order), the intensity
window, the prior kind, the network's architecture and the diffusion schedule.
:func:`begin_run` refuses to resume a run with anything else (naming what differs), refuses
to start a new run over an existing one unless asked to overwrite it, and removes what a
killed checkpoint write left behind (:func:`~.io_atomic.remove_stale_temporaries`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from .io_atomic import remove_stale_temporaries, write_bytes

RUN_FILE = "run.json"
"""The identity of the run in a run folder."""

RUN_FILES = ("state.safetensors", "model.safetensors", "model.json", RUN_FILE)
"""What a run folder holds; any of them there means the folder holds a run."""


def volume_digest(volume) -> str:
    """SHA-256 (hex) of a volume's shape and float32 values (NumPy array or tensor, physical
    units): equal volumes give equal digests, whatever their dtype or strides."""
    if isinstance(volume, torch.Tensor):
        volume = volume.detach().cpu().numpy()
    array = np.ascontiguousarray(volume, dtype=np.float32)
    digest = hashlib.sha256(repr(array.shape).encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def run_identity(volumes, window, prior_kind: str, network_config, schedule) -> dict:
    """The identity of a run (see the module), as it reads back from JSON (lists, not
    tuples)."""
    identity = {"volumes": [volume_digest(v) for v in volumes], "window": window.to_dict(),
                "prior_kind": prior_kind, "network": network_config.to_dict(),
                "schedule": schedule.to_dict()}
    return json.loads(json.dumps(identity))


def holds_run(out_dir) -> list[str]:
    """The run files (:data:`RUN_FILES`) present in ``out_dir``."""
    return [name for name in RUN_FILES if (Path(out_dir) / name).exists()]


def check_run_folder(out_dir, *, resume: bool, overwrite: bool,
                     names: tuple[str, str] = ("resume=True", "overwrite=True")) -> None:
    """Refuse a folder that holds a run when neither ``resume`` nor ``overwrite`` is asked,
    and asking for both; ``names`` are how the message calls the two (the command line's
    ``--resume``, ``--overwrite``)."""
    if resume and overwrite:
        raise ValueError(f"{names[0]} continues a run and {names[1]} replaces it; give one")
    present = holds_run(out_dir)
    if present and not (resume or overwrite):
        raise ValueError(f"{out_dir} already holds a training run ({', '.join(present)}); "
                         f"pass {names[0]} to continue it or {names[1]} to start again")


def begin_run(out_dir, identity: dict, *, resume: bool, overwrite: bool) -> None:
    """Start or continue the run in ``out_dir`` with ``identity`` (:func:`run_identity`).

    Stale temporaries of the run files are removed first. ``resume``: the recorded identity
    must equal ``identity`` (a run recorded before identities were kept is taken as it is);
    ``overwrite``: the old run files are removed; otherwise the folder must hold no run.
    The identity is then recorded. Raises ``ValueError`` naming what differs.
    """
    out_dir = Path(out_dir)
    check_run_folder(out_dir, resume=resume, overwrite=overwrite)
    for name in RUN_FILES:
        remove_stale_temporaries(out_dir / name)
    record = out_dir / RUN_FILE
    if resume and record.is_file():
        differences = identity_differences(_read_identity(record), identity)
        if differences:
            raise ValueError(f"cannot resume the run in {out_dir}: "
                             f"{'; '.join(differences)}; resume with the run's own inputs, "
                             "or start a new run in another folder")
        return
    if overwrite:
        for name in holds_run(out_dir):
            path = out_dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    write_bytes(record, json.dumps(identity, indent=2, sort_keys=True).encode())


def identity_differences(saved: dict, now: dict) -> list[str]:
    """What differs between two identities, one phrase each (empty when they agree)."""
    differences = []
    old, new = saved.get("volumes", []), now["volumes"]
    if len(old) != len(new):
        differences.append(f"it trains on {_volumes(len(old))}, now on {_volumes(len(new))}")
    else:
        changed = [str(i) for i, (a, b) in enumerate(zip(old, new)) if a != b]
        if changed:
            differences.append(f"the content of volume {', '.join(changed[:5])} differs")
    for key in ("window", "prior_kind", "network", "schedule"):
        if saved.get(key) != now[key]:
            differences.append(f"its {key.replace('_', ' ')} is {_compact(saved.get(key))}, "
                               f"now {_compact(now[key])}")
    return differences


def _read_identity(record: Path) -> dict:
    try:
        identity = json.loads(record.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{record} is not valid JSON ({err}); restore it, or start the run "
                         "again with overwrite") from None
    if not isinstance(identity, dict):
        raise ValueError(f"{record} must hold a JSON object")
    return identity


def _volumes(n: int) -> str:
    return f"{n} volume" + ("" if n == 1 else "s")


def _compact(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
