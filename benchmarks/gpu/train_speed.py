"""Training throughput on CUDA: steps per second of the ``tiny`` and ``paper`` networks.

Each network trains twice with :func:`diffblend_astra.train.train` (``blend`` prior, batches
of 16, bf16 autocast as ``train`` uses on CUDA, random volumes of its slice size): a short run
and a longer one. Steps per second = extra steps / extra seconds, so network construction,
CUDA warm-up and the checkpoint written at the end of both runs cancel out. One line per
network: ``NAME: S steps/s (batch 16 of H², ...)``.

    python benchmarks/gpu/train_speed.py
"""

import sys
import tempfile
import time

import torch

from diffblend_astra.prior_kinds import named_config
from diffblend_astra.train import TrainConfig, train

RUNS = {"tiny": (5, 45), "paper": (3, 13)}
"""Network: (steps of the short run, steps of the long run)."""
BATCH = 16


def seconds(network, steps, volumes, folder):
    config = TrainConfig(network=network, steps=steps, batch_size=BATCH,
                         checkpoint_every=10 * steps)
    torch.cuda.synchronize()
    start = time.perf_counter()
    train(volumes, folder, config, device="cuda", progress=False)
    torch.cuda.synchronize()
    return time.perf_counter() - start


def main():
    if not torch.cuda.is_available():
        print("train_speed.py needs CUDA: torch.cuda.is_available() is False", file=sys.stderr)
        return 3
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    for network, (short, long) in RUNS.items():
        size = named_config(network, "blend").sample_size
        generator = torch.Generator().manual_seed(0)
        volumes = [torch.rand(16, size, size, generator=generator) for _ in range(2)]
        with tempfile.TemporaryDirectory() as folder:
            first = seconds(network, short, volumes, f"{folder}/short")
            second = seconds(network, long, volumes, f"{folder}/long")
        if second <= first:
            print(f"{network}: not measurable ({short} steps took {first:.1f} s, {long} steps "
                  f"{second:.1f} s)", flush=True)
            continue
        rate = (long - short) / (second - first)
        print(f"{network}: {rate:.2f} steps/s (batch {BATCH} of {size}², blend prior, "
              f"{long - short} steps in {second - first:.1f} s; runs of {short} and {long} "
              f"steps took {first:.1f} s and {second:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
