"""Speed of the ASTRA 2D stack operator against a serial loop of raw ASTRA calls.

For a ``(Z, Y, X)`` stack and parallel/fan geometries with 8 and 60 views, prints the median
wall time of the wrapped forward ``A(x)`` and adjoint ``A.T(y)`` (input checks, autograd
wrapper) along its two CPU paths — direct calls with the slices split over worker threads
(``use_matrix=False``) and ASTRA's sparse system matrix (the default where it fits) — and of
a plain Python loop of ``astra.experimental.direct_FP2D`` / ``direct_BP2D`` over the same
slices with the same projector type, with the speed-up of each path over that loop.

    python benchmarks/operators.py            # (64, 256, 256), 5 repeats
    python benchmarks/operators.py --quick    # (8, 64, 64), a few seconds
"""

import argparse
import datetime
import os
import platform
import statistics
import time

import astra
import torch
from astra.experimental import direct_BP2D, direct_FP2D

from diffblend_astra.operators import as_operator, fan_beam, parallel_beam


def median_time(fn, repeats):
    fn()                                            # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def raw_loop(call, projector_id, volumes, projections):
    for volume, projection in zip(volumes, projections):
        call(projector_id, volume, projection)


def bench(name, proj_geom, vol_geom, slices, workers, repeats, generator):
    threads = as_operator(proj_geom, vol_geom, slices=slices, workers=workers, use_matrix=False)
    matrix = as_operator(proj_geom, vol_geom, slices=slices, use_matrix=None)
    x = torch.rand(threads.domain_shape, generator=generator)
    y = torch.rand(threads.range_shape, generator=generator)
    out_y, out_x = torch.empty_like(y), torch.empty_like(x)
    projector_id = astra.create_projector(threads.projector, proj_geom, vol_geom)
    try:
        rows = []
        for direction, apply, raw in (
                ("forward", lambda op: op(x),
                 lambda: raw_loop(direct_FP2D, projector_id, x, out_y)),
                ("adjoint", lambda op: op.T(y),
                 lambda: raw_loop(direct_BP2D, projector_id, out_x, y))):
            t_raw = median_time(raw, repeats)
            t_threads = median_time(lambda: apply(threads), repeats)
            cells = [f"{t_threads * 1e3:.1f}", f"{t_raw / t_threads:.2f}x"]
            if matrix.use_matrix:
                t_matrix = median_time(lambda: apply(matrix), repeats)
                cells += [f"{t_matrix * 1e3:.1f}", f"{t_raw / t_matrix:.2f}x"]
            else:
                cells += ["—", "—"]
            rows.append(f"| {name} | {threads.projector} | {direction} | {t_raw * 1e3:.1f} | "
                        + " | ".join(cells) + " |")
        return rows
    finally:
        astra.projector.delete(projector_id)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small stack, few repeats")
    parser.add_argument("--workers", type=int, default=2, help="threads of the wrapped operator")
    args = parser.parse_args()
    slices, size, repeats = (8, 64, 3) if args.quick else (64, 256, 5)
    generator = torch.Generator().manual_seed(0)
    print(f"{datetime.date.today()} · {platform.processor() or platform.machine()} · "
          f"{os.cpu_count()} CPU cores · torch {torch.__version__} · astra {astra.__version__} · "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"stack ({slices}, {size}, {size}), workers={args.workers}, median of {repeats} runs\n")
    print("| geometry | projector | direction | raw serial loop (ms) | threads (ms) | speed-up "
          "| system matrix (ms) | speed-up |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for views in (8, 60):
        for beam, make in (("parallel", parallel_beam), ("fan", fan_beam)):
            proj_geom, vol_geom = make(shape=size, views=views)
            for row in bench(f"{beam}, {views} views", proj_geom, vol_geom, slices, args.workers,
                             repeats, generator):
                print(row, flush=True)


if __name__ == "__main__":
    main()
