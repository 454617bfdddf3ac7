"""Cost of one DiffusionBlend++ step (one NFE): network vs operator vs the rest, and memory.

One step runs the network on every 3-slice group of the volume (in chunks of ``max_batch``
images), then the data-consistency CG (5 iterations: 6 forward and 6 adjoint projections)
and the DDIM update. The network and the operator are wrapped in timing proxies; "rest" is
everything else (partition gather/scatter, Tweedie, CG vector algebra, noise draws). Steps
are timed from the end of the first (a warm-up) to the end of the last, over an even number
of steps so that adjacency and cross partitions are equally represented.

Slice-size table: the same at Z = 36 with slices of 128², 256², 384², 512², chunked by pixels
(``max_pixels``, the default) or in one batch: memory stays bounded as slices grow.

CPU table: the ``tiny`` network (random weights), 64² slices, 8 parallel views projected
slice by slice, Z = 64, 128, 256, with ``max_batch`` = 8 (chunked) and 10 000 (one batch).
"CPU s/NFE" is the CPU time of the whole process (all threads) per step: unlike wall time it
hardly depends on what else runs on the machine, so it is the measure of growth with Z on a
shared machine. Each configuration runs in a fresh subprocess, so its peak resident memory
(``ru_maxrss``) is its own; "solve adds" is the rise of that peak during the reconstruction.

GPU section (``--gpu``; needs ``torch.cuda.is_available()`` and ``astra.use_cuda()``): the
``paper`` network (random weights), 256² slices, 8 views, 3D parallel-beam and cone-beam
ASTRA on CUDA; seconds per NFE, the time of 200 NFE at Z = 500, and the speed-up and
largest output change of bf16 autocast and ``torch.compile`` for the network.

    python benchmarks/speed.py            # CPU tables: Z = 64, 128, 256; slices 128² … 512²
    python benchmarks/speed.py --quick    # micro network, Z = 9, 18 at 32²: a smoke test
    python benchmarks/speed.py --gpu      # the GPU section instead of the CPU table

On a machine busy with other processes, run it with ``OMP_WAIT_POLICY=PASSIVE``: torch's
spin-waiting OpenMP threads otherwise make every step orders of magnitude slower.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import astra
import numpy as np
import torch

from diffblend_astra.networks import EpsilonNetwork, NetworkConfig
from diffblend_astra.prior_kinds import named_config
from diffblend_astra.operators import as_operator, cone_beam, sparse_view
from diffblend_astra.partition import PartitionSchedule
from diffblend_astra.priors import MAX_PIXELS, BlendPrior
from diffblend_astra.solver import DiffusionBlendSolver

VIEWS = 8
STEPS = 5                     # the first step warms up; the other four are timed
UNCHUNKED = 10_000            # max_batch larger than any number of groups: one batch
MICRO = NetworkConfig(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(8, 16),
                      layers_per_block=1, attention_levels=(), norm_num_groups=4,
                      spacing_embedding=True)
PROJECTED_Z = 500             # GPU: time of 200 NFE at this Z
GPU_SLICES = (64, 128, PROJECTED_Z)
GPU_BATCH = 32
# PartitionSchedule draws its random offset with torch.randint on the CPU, which rejects the
# solver's CUDA generator; fixed offsets give the same groups per step, hence the same cost.
FIXED_PARTITIONS = PartitionSchedule(random_offsets=False)


class Stopwatch:
    """Seconds spent in the calls made through :meth:`time` (``sync`` waits for the GPU)."""

    def __init__(self, sync):
        self.sync, self.seconds = sync, 0.0

    def time(self, fn, *args):
        self.sync()
        start = time.perf_counter()
        out = fn(*args)
        self.sync()
        self.seconds += time.perf_counter() - start
        return out


class TimedNetwork:
    """``net(x, t, spacing)`` timed and its images counted; ``config`` passed through."""

    def __init__(self, net, watch):
        self.net, self.watch, self.images = net, watch, 0
        self.config = getattr(net, "config", None)

    def __call__(self, x, t, spacing):
        self.images += x.shape[0]
        return self.watch.time(self.net, x, t, spacing)


class TimedOperator:
    """``op(x)`` and ``op.T(y)`` timed; shapes and all else passed through to ``op``."""

    def __init__(self, op, watch):
        self.op, self.watch = op, watch

    def __call__(self, x):
        return self.watch.time(self.op, x)

    @property
    def T(self):
        return TimedOperator(self.op.T, self.watch)

    def __getattr__(self, name):
        return getattr(self.op, name)


def time_nfe(op, net, *, max_batch, device, partitions=PartitionSchedule(),
             max_pixels=MAX_PIXELS):
    """Wall seconds per NFE (total, network, operator), CPU seconds of the whole process per
    NFE (all threads; robust to other processes' load) and network images per NFE."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    network, operator = Stopwatch(sync), Stopwatch(sync)
    timed_net = TimedNetwork(net, network)
    prior = BlendPrior(timed_net, max_batch=max_batch, partitions=partitions,
                       max_pixels=max_pixels)
    solver = DiffusionBlendSolver(TimedOperator(op, operator), prior, steps=STEPS)
    volume = torch.rand(op.domain_shape, generator=torch.Generator().manual_seed(0))
    y = op(volume.to(device))
    marks = []

    def mark(step, x0):
        sync()
        marks.append((time.perf_counter(), time.process_time(), network.seconds,
                      operator.seconds, timed_net.images))

    solver.reconstruct(y, seed=0, progress=False, callback=mark)
    total, cpu, net_s, op_s, images = (np.array(marks[-1]) - marks[0]) / (len(marks) - 1)
    return {"seconds": total, "cpu_seconds": cpu, "network": net_s, "operator": op_s,
            "images": images}


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024     # Linux: KiB


def measure(spec):
    """One CPU configuration, in this fresh process; prints its numbers as one JSON line."""
    net = EpsilonNetwork(NetworkConfig.from_dict(spec["network"])).eval()
    op = as_operator(*sparse_view(beam="parallel", views=VIEWS, shape=spec["size"]),
                     slices=spec["slices"])
    before = peak_rss_mib()
    result = time_nfe(op, net, max_batch=spec["max_batch"], device=torch.device("cpu"),
                      max_pixels=spec.get("max_pixels", MAX_PIXELS))
    peak = peak_rss_mib()
    print(json.dumps(result | {"peak_mib": peak, "solve_mib": peak - before}))


def split(r):
    """'s/NFE | network | operator | rest' cells: seconds, then shares of the step."""
    rest = r["seconds"] - r["network"] - r["operator"]
    shares = (f"{100 * part / r['seconds']:.0f} %" for part in (r["network"], r["operator"], rest))
    return f"{r['seconds']:.3f} | " + " | ".join(shares)


def cpu_table(quick):
    size, slices, label, config, chunk = (32, (9, 18), "micro", MICRO, 2) if quick else \
        (64, (64, 128, 256), "tiny", named_config("tiny", "blend"), 8)
    print(f"{datetime.date.today()} · {platform.processor() or platform.machine()} · "
          f"{os.cpu_count()} CPU cores · torch {torch.__version__} · astra {astra.__version__} · "
          f"load average {os.getloadavg()[0]:.1f} · {torch.get_num_threads()} torch threads · "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    print(f"{size}² slices, {VIEWS} parallel views slice by slice, {label} network "
          f"(widths {config.block_out_channels}), random weights, "
          f"{STEPS - 1} timed NFE per row\n")
    print(f"| Z | max_batch | images/NFE | s/NFE | network | operator | rest | CPU s/NFE | "
          f"× Z={slices[0]} | × Z={slices[0]} (CPU) | peak RSS (MiB) | solve adds (MiB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for max_batch in (chunk, UNCHUNKED):
        base = None
        for z in slices:
            spec = {"network": config.to_dict(), "size": size, "slices": z, "max_batch": max_batch}
            out = subprocess.run([sys.executable, __file__, "--measure", json.dumps(spec)],
                                 stdout=subprocess.PIPE, text=True, check=True).stdout
            r = json.loads(out.splitlines()[-1])
            base = base or r
            print(f"| {z} | {max_batch} | {r['images']:.1f} | {split(r)} | "
                  f"{r['cpu_seconds']:.3f} | {r['seconds'] / base['seconds']:.2f} | "
                  f"{r['cpu_seconds'] / base['cpu_seconds']:.2f} | {r['peak_mib']:.0f} | "
                  f"{r['solve_mib']:.0f} |", flush=True)


def size_table(quick):
    """Slices of any size: one NFE of the ``tiny`` 3-slice network at growing slice sizes,
    chunked by pixels (the default ``max_pixels``) and in one batch."""
    sizes, slices = ((32, 48), 9) if quick else ((128, 256, 384, 512), 36)
    config = MICRO if quick else named_config("tiny", "blend")
    print(f"\nSlice sizes: Z = {slices}, {VIEWS} parallel views, max_batch 16, "
          f"max_pixels {MAX_PIXELS} (default) or unbounded\n")
    print("| slices | max_pixels | images/NFE | s/NFE | network | operator | rest | "
          "peak RSS (MiB) | solve adds (MiB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        for max_pixels in (MAX_PIXELS, UNCHUNKED * size * size):
            spec = {"network": config.to_dict(), "size": size, "slices": slices,
                    "max_batch": 16, "max_pixels": max_pixels}
            out = subprocess.run([sys.executable, __file__, "--measure", json.dumps(spec)],
                                 stdout=subprocess.PIPE, text=True, check=True).stdout
            r = json.loads(out.splitlines()[-1])
            label = "default" if max_pixels == MAX_PIXELS else "unbounded"
            print(f"| {size}² | {label} | {r['images']:.1f} | {split(r)} | {r['peak_mib']:.0f} "
                  f"| {r['solve_mib']:.0f} |", flush=True)


def parallel3d(z):
    """8 parallel-beam views over 180° of a (z, 256, 256) volume, detector 1.5× wide."""
    angles = np.linspace(0, np.pi, VIEWS, endpoint=False)
    return (astra.create_proj_geom("parallel3d", 1.0, 1.0, z, 384, angles),
            astra.create_vol_geom(256, 256, z))


def network_seconds(network, x, repeats=3):
    """Median seconds of ε̂ for the volume ``x`` (after a warm-up call), and that ε̂."""
    prior = BlendPrior(network, max_batch=GPU_BATCH, partitions=FIXED_PARTITIONS)
    eps = prior.predict_noise(x, 500, 1, None)          # step 1: a cross partition
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        eps = prior.predict_noise(x, 500, 1, None)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), eps


def bf16(net):
    def run(x, t, spacing):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return net(x, t, spacing)
    return run


def gpu_section():
    if not torch.cuda.is_available():
        print("GPU section skipped: torch.cuda.is_available() is False (no CUDA device, or a "
              "CPU-only torch build).")
        return
    if not astra.use_cuda():
        print("GPU section skipped: astra.use_cuda() is False, so ASTRA cannot run its 3D "
              "projectors on this CUDA device.")
        return
    device = torch.device("cuda")
    net = EpsilonNetwork(named_config("paper", "blend")).to(device).eval()
    print(f"{datetime.date.today()} · {torch.cuda.get_device_name()} · torch {torch.__version__}"
          f" · astra {astra.__version__} · paper network, {net.num_parameters / 1e6:.0f} M "
          f"parameters, max_batch {GPU_BATCH}, cuDNN TF32 {torch.backends.cudnn.allow_tf32}")
    print(f"256² slices, {VIEWS} views, 3D ASTRA on CUDA, {STEPS - 1} timed NFE per row\n")
    print("| geometry | Z | images/NFE | s/NFE | network | operator | rest | "
          "torch peak (MiB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    geometries = {"parallel3d": parallel3d,
                  "cone": lambda z: cone_beam(shape=(z, 256, 256), views=VIEWS)}
    projected = {}
    for name, geometry in geometries.items():
        for z in GPU_SLICES:
            torch.cuda.reset_peak_memory_stats()
            r = time_nfe(as_operator(*geometry(z)), net, max_batch=GPU_BATCH, device=device,
                         partitions=FIXED_PARTITIONS)
            print(f"| {name} | {z} | {r['images']:.1f} | {split(r)} | "
                  f"{torch.cuda.max_memory_allocated() / 2**20:.0f} |", flush=True)
            if z == PROJECTED_Z:
                projected[name] = 200 * r["seconds"]
    print(f"\n200 NFE at Z = {PROJECTED_Z}: " + ", ".join(f"{name} {s:.0f} s ({s / 60:.1f} min)"
                                              for name, s in projected.items()))
    print("(torch peak excludes ASTRA's own GPU buffers)\n")

    x = torch.randn(GPU_SLICES[0], 256, 256, generator=torch.Generator().manual_seed(0))
    x = x.to(device)
    base_s, base_eps = network_seconds(net, x)
    print(f"network only, ε̂ of a ({GPU_SLICES[0]}, 256, 256) volume, median of 3\n")
    print("| network | seconds | speed-up | max abs change of ε̂ | relative to max abs ε̂ |")
    print("|---|---:|---:|---:|---:|")
    print(f"| fp32 | {base_s:.3f} | 1.00 | 0 | 0 |")
    compiled = torch.compile(net)
    for name, network in (("bf16 autocast", bf16(net)), ("torch.compile", compiled),
                          ("torch.compile + bf16 autocast", bf16(compiled))):
        try:
            seconds, eps = network_seconds(network, x)
        except Exception as error:      # torch.compile needs a working Triton / C toolchain
            print(f"| {name} | failed: {type(error).__name__}: {error} | | | |")
            continue
        change = (eps - base_eps).abs().max().item()
        print(f"| {name} | {seconds:.3f} | {base_s / seconds:.2f} | {change:.3g} | "
              f"{change / base_eps.abs().max().item():.3g} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="micro network, Z = 9, 18 at 32²")
    parser.add_argument("--gpu", action="store_true", help="the GPU section instead")
    parser.add_argument("--measure", help=argparse.SUPPRESS)     # one configuration (child)
    args = parser.parse_args()
    if args.measure:
        measure(json.loads(args.measure))
    elif args.gpu:
        gpu_section()
    else:
        cpu_table(args.quick)
        size_table(args.quick)


if __name__ == "__main__":
    main()
