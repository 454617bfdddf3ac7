"""Do the 3-slice priors use the neighbouring slices? Denoising error of the centre slice.

    python benchmarks/priors.py            # 4 validation phantoms, 6 noise levels
    python benchmarks/priors.py --quick    # 1 phantom, 9 slices, 2 levels: a smoke test

For every noise level ``t`` and every slice ``i`` of held-out validation phantoms (never used
in training), the slices ``i−1, i, i+1`` are noised with the same noise draw for every prior,
and each bundled prior predicts the noise of the centre slice ``i``:

* ``slice`` sees slice ``i`` alone (the 2D prior of DDS);
* ``blend`` sees the noisy triple at spacing 1 and predicts the noise of all three slices
  (DiffusionBlend++), scored on the centre one;
* ``conditional`` sees the same triple and predicts the centre's noise (DiffusionBlend).

A network that has learnt the joint distribution of neighbouring slices denoises the centre
better than the one that sees it alone: the table gives the mean squared error of ε̂ and,
per prior, the gain over ``slice`` in dB (``10 log10(MSE_slice / MSE_prior)``; the x̂0 error
scales the same way). Written into the "priors" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import sys

import torch

from diffblend_astra.checkpoint import load_bundled
from diffblend_astra.diffusion import add_noise
from diffblend_astra.phantoms import phantom_volume, validation_seeds
from results_file import update_section

PRIORS = ("slice", "blend", "conditional")
TIMESTEPS = (20, 50, 100, 200, 400, 700)


@torch.no_grad()
def centre_errors(networks, volume: torch.Tensor, t: int, schedule, generator) -> dict:
    """Per prior, the mean squared ε̂ error of the centre slices of ``volume`` ``(Z, H, W)``
    (network units) at timestep ``t``, every prior seeing the same noisy slices."""
    z = volume.shape[0]
    noise = torch.randn(volume.shape, generator=generator)
    alpha_bar = schedule.alphas_cumprod().to(torch.float32)[t]
    noisy = add_noise(volume, noise, alpha_bar)
    centres = torch.arange(1, z - 1)
    triples = torch.stack([noisy[centres - 1], noisy[centres], noisy[centres + 1]], dim=1)
    target = noise[centres][:, None]
    steps = torch.full((len(centres),), t, dtype=torch.int64)
    errors = {}
    for name, net in networks.items():
        if name == "slice":
            eps = net(triples[:, 1:2], steps, None)
        elif name == "blend":
            eps = net(triples, steps, torch.ones_like(steps))[:, 1:2]
        else:
            eps = net(triples, steps, None)
        errors[name] = float(torch.mean((eps - target) ** 2))
    return errors


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    volumes, slices, timesteps = (1, 9, TIMESTEPS[:2]) if args.quick else (4, 64, TIMESTEPS)
    checkpoints = {name: load_bundled(name) for name in PRIORS}
    networks = {name: ck.network.eval() for name, ck in checkpoints.items()}
    schedule = checkpoints["slice"].schedule
    window = checkpoints["slice"].window
    data = [window.to_network(torch.from_numpy(phantom_volume(seed, (slices, 64, 64))))
            for seed in validation_seeds(volumes)]
    rows = []
    for t in timesteps:
        totals = dict.fromkeys(PRIORS, 0.0)
        for k, volume in enumerate(data):
            generator = torch.Generator().manual_seed(1000 * t + k)
            for name, error in centre_errors(networks, volume, t, schedule, generator).items():
                totals[name] += error / len(data)
        rows.append((t, totals))
    text = table(rows, volumes, slices)
    print(text)
    if not args.quick:
        update_section("priors", text)
    return 0


def table(rows, volumes: int, slices: int) -> str:
    lines = [f"## Priors: does a 3-slice network use the neighbours? ({datetime.date.today()}, "
             f"{os.cpu_count()} CPU cores)", "",
             f"Command: `python benchmarks/priors.py`. Centre-slice ε̂ error of the bundled "
             f"priors on {volumes} validation phantoms ({slices} slices of 64², never used in "
             f"training), identical noise for every prior; gain = 10 log10(MSE slice / MSE "
             f"prior), positive when the neighbours help.", "",
             "| t | " + " | ".join(f"MSE {p}" for p in PRIORS)
             + " | " + " | ".join(f"gain {p} (dB)" for p in PRIORS[1:]) + " |",
             "|---" * (1 + 2 * len(PRIORS) - 1) + "|"]
    for t, errors in rows:
        gains = [10 * math.log10(errors["slice"] / errors[p]) for p in PRIORS[1:]]
        lines.append(f"| {t} | " + " | ".join(f"{errors[p]:.4f}" for p in PRIORS) + " | "
                     + " | ".join(f"{g:+.2f}" for g in gains) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
