"""Do the 3-slice priors use the neighbouring slices? ε̂ error of what the sampler uses.

    python benchmarks/priors.py                       # bundled priors, 4 validation phantoms
    python benchmarks/priors.py --blend runs/blend/model.safetensors   # a training run's
    python benchmarks/priors.py --quick               # 1 phantom, 9 slices, 2 levels
    python benchmarks/priors.py --ct                  # real-CT priors, validation patient

For every noise level ``t`` each held-out validation phantom (never used in training) — with
``--ct``: the central :data:`CT_SLICES` slices of the real-CT validation patient on the
working grid, scored with the bundled real-CT priors — is noised once, and every prior
predicts the noise of the **whole volume** from that same noisy volume, the way the sampler
uses it:

* ``slice``: the 2D network on every slice (DDS's prior) — the reference;
* ``blend adj`` / ``blend cross``: the 3-slice network on an adjacency partition (spacing 1)
  and on a cross partition (spacing 3), all three output channels scattered back, averaged
  over the three offsets of each kind; ``blend avg`` averages the six blended ε̂ (what
  ``PartitionSchedule(averaged=3)`` does over two steps);
* ``cond``: the conditional network of DiffusionBlend on every slice;
* ``trivial``: ``ε̂ = x_t / √(1−ᾱ_t)`` (as if x0 were 0), a floor line that a useful
  network must beat.

Columns: the mean squared ε̂ error of each; ``gain`` = ``10 log10(MSE slice / MSE blend adj)``
(positive when the neighbours help); ``label`` = ``‖ε̂(s=1) − ε̂(s=3)‖ / ‖ε̂(s=1)‖`` on the
adjacency groups, the effect of the spacing label; ``bf16`` = the same relative change of the
adjacency ε̂ under bf16 autocast. The 3-slice prior is **working** when ``blend adj`` and
``blend cross`` are below ``slice`` at every t ≤ 600 (the verdict line). Written into the
"priors" section of ``benchmarks/RESULTS.md`` (``--ct``: "priors ct"; not with ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import sys
from pathlib import Path

import torch

from diffblend_astra import datasets
from diffblend_astra.checkpoint import load_bundled, load_checkpoint
from diffblend_astra.diffusion import add_noise
from diffblend_astra.experiment import ct_slab
from diffblend_astra.partition import Partition
from diffblend_astra.phantoms import phantom_volume, validation_seeds
from results_file import update_section

TIMESTEPS = (20, 50, 100, 200, 400, 600, 700, 900)
WORKING_UP_TO = 600
COLUMNS = ("slice", "blend adj", "blend cross", "blend avg", "cond", "trivial")
CT_SLICES = 16


def blended(network, x_t: torch.Tensor, t: int, partition: Partition,
            spacing: int | None = None, bf16: bool = False) -> torch.Tensor:
    """ε̂ of the whole volume ``x_t`` ``(Z, H, W)`` from one partition (label overridable)."""
    groups = partition.gather(x_t)
    steps = torch.full((groups.shape[0],), t, dtype=torch.int64)
    label = torch.full_like(steps, spacing or partition.spacing)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        eps = network(groups, steps, label).float()
    return partition.scatter(eps)


@torch.no_grad()
def volume_errors(networks, volume: torch.Tensor, t: int, schedule, generator) -> dict:
    """The columns of the table for one volume ``(Z, H, W)`` (network units) at ``t``."""
    z = volume.shape[0]
    noise = torch.randn(volume.shape, generator=generator)
    alpha_bar = float(schedule.alphas_cumprod()[t])
    x_t = add_noise(volume, noise, alpha_bar)
    steps = torch.full((z,), t, dtype=torch.int64)

    def mse(eps):
        return float(torch.mean((eps - noise) ** 2))

    blend = networks["blend"]
    adjacency = [blended(blend, x_t, t, Partition.adjacency(z, m)) for m in range(3)]
    cross = [blended(blend, x_t, t, Partition.cross(z, 3 * m)) for m in range(3)]
    first = Partition.adjacency(z, 0)
    relabelled = blended(blend, x_t, t, first, spacing=3)
    in_bf16 = blended(blend, x_t, t, first, bf16=True)
    neighbours = torch.stack([x_t[(torch.arange(z) + d).clamp(0, z - 1)] for d in (-1, 0, 1)],
                             dim=1)
    return {
        "slice": mse(networks["slice"](x_t[:, None], steps, None)[:, 0]),
        "blend adj": sum(map(mse, adjacency)) / 3,
        "blend cross": sum(map(mse, cross)) / 3,
        "blend avg": mse(torch.stack(adjacency + cross).mean(0)),
        "cond": mse(networks["conditional"](neighbours, steps, None)[:, 0]),
        "trivial": mse(x_t / (1 - alpha_bar) ** 0.5),
        "label": float((relabelled - adjacency[0]).norm() / adjacency[0].norm()),
        "bf16": float((in_bf16 - adjacency[0]).norm() / adjacency[0].norm()),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--ct", action="store_true",
                        help="the real-CT priors on the validation patient")
    parser.add_argument("--blend", type=Path,
                        help="3-slice weights (default: the bundled prior)")
    parser.add_argument("--conditional", type=Path,
                        help="conditional weights (default: the bundled prior)")
    parser.add_argument("--volumes", type=int, default=4)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    suffix = "" if args.ct else "-phantom"
    checkpoints = {"slice": load_bundled(f"slice{suffix}"),
                   "blend": (load_checkpoint(args.blend) if args.blend
                             else load_bundled(f"blend{suffix}")),
                   "conditional": (load_checkpoint(args.conditional) if args.conditional
                                   else load_bundled(f"conditional{suffix}"))}
    networks = {name: ck.network.float().eval() for name, ck in checkpoints.items()}
    schedule, window = checkpoints["slice"].schedule, checkpoints["slice"].window
    timesteps = TIMESTEPS[:2] if args.quick else TIMESTEPS
    if args.ct:
        what, volumes = validation_ct(9 if args.quick else CT_SLICES)
    else:
        what, volumes = validation_phantoms(*((1, 9) if args.quick else (args.volumes, 64)))
    data = [window.to_network(v) for v in volumes]
    rows = []
    for t in timesteps:
        totals: dict[str, float] = {}
        for k, volume in enumerate(data):
            generator = torch.Generator().manual_seed(1000 * t + k)
            for name, value in volume_errors(networks, volume, t, schedule, generator).items():
                totals[name] = totals.get(name, 0.0) + value / len(data)
        rows.append((t, totals))
        print(row_text(t, totals), flush=True)
    text = table(rows, what, checkpoints, ct=args.ct)
    print(text)
    if not (args.quick or args.no_write):
        update_section("priors ct" if args.ct else "priors", text)
    return 0


def validation_phantoms(count: int, slices: int) -> tuple[str, list[torch.Tensor]]:
    """``count`` held-out validation phantoms of ``slices × 64²``, and their description."""
    return (f"{count} validation phantoms ({slices} slices of 64², never used in training)",
            [torch.from_numpy(phantom_volume(seed, (slices, 64, 64)))
             for seed in validation_seeds(count)])


def validation_ct(slices: int) -> tuple[str, list[torch.Tensor]]:
    """The central ``slices`` slices of the real-CT validation patient on the working grid
    (never used in training), and their description."""
    (patient,) = datasets.SPLITS["validation"]
    first, slab = ct_slab(patient, slices)
    grid = datasets.WORKING_GRID
    return (f"the real-CT validation patient `{patient}` (its central {slices} slices, "
            f"{first}–{first + slices - 1}, on the {grid.label()} working grid: "
            f"{grid.size}² slices {grid.slice_mm:g} mm apart; never used in training)", [slab])


def working(rows) -> bool:
    """Whether the 3-slice prior beats the 2D one on both partition kinds at every t ≤ 600."""
    return all(e["blend adj"] < e["slice"] and e["blend cross"] < e["slice"]
               for t, e in rows if t <= WORKING_UP_TO)


def row_text(t: int, errors: dict) -> str:
    gain = 10 * math.log10(errors["slice"] / errors["blend adj"])
    return (f"| {t} | " + " | ".join(f"{errors[c]:.4f}" for c in COLUMNS)
            + f" | {gain:+.2f} | {errors['label']:.3f} | {errors['bf16']:.4f} |")


def steps_text(training: dict) -> str:
    """A checkpoint's training steps: ``"6500 (4000 + 2500)"`` after a first stage."""
    done = training.get("steps_done", "?")
    before = training.get("initialised_from", {}).get("steps")
    return f"{done}" if not isinstance(before, int) or not isinstance(done, int) else \
        f"{before + done} ({before} + {done})"


def table(rows, what: str, checkpoints: dict, *, ct: bool = False) -> str:
    blend_checkpoint = checkpoints["blend"]
    budget = "training steps " + ", ".join(f"{name} {steps_text(ck.training)}"
                                           for name, ck in checkpoints.items())
    verdict = "working" if working(rows) else "NOT working"
    lines = [f"## Priors{' on real CT' if ct else ''}: does a 3-slice network use the "
             f"neighbours? ({datetime.date.today()}, {os.cpu_count()} CPU cores)", "",
             f"Command: `python benchmarks/priors.py{' --ct' if ct else ''}`. Whole-volume ε̂ "
             f"error of the {'real-CT' if ct else 'phantom'} priors on {what}, one noise draw "
             f"shared by every prior (columns: module docstring of `benchmarks/priors.py`). "
             f"3-slice network: {blend_checkpoint.network.num_parameters / 1e6:.1f} M "
             f"parameters, inflated from the 2D prior's first stage; {budget}.",
             "",
             "| t | " + " | ".join(f"MSE {c}" for c in COLUMNS)
             + " | gain adj (dB) | label effect | bf16 change |",
             "|---" * (len(COLUMNS) + 4) + "|"]
    lines += [row_text(t, errors) for t, errors in rows]
    lines += ["", f"Verdict: the 3-slice prior is **{verdict}** (below the 2D prior on both "
                  f"partition kinds at every t ≤ {WORKING_UP_TO})."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
