"""``diffblend-astra demo``: a held-out real CT scan (or phantom), a sparse-view scan, five
methods compared."""

from __future__ import annotations

import json
from pathlib import Path

from .common import add_common, positive_int, subparser

EXAMPLES = """\
  diffblend-astra demo                          # real CT, 16 slices of 256^2, 8 parallel views
  diffblend-astra demo --quick                  # 9 slices, fewer steps, about a minute
  diffblend-astra demo --geometry fan --views 6 --out demo_fan
  diffblend-astra demo --phantom                # a procedural 64^3 phantom, phantom priors
  diffblend-astra demo --geometry cone          # RTK on the CPU, ASTRA on a GPU
"""

DEMO_METHODS = ("fbp", "cgls", "admm-tv", "dds", "dbpp")
CT_SLICES, QUICK_SLICES = 16, 9
PHANTOM_SLICES, QUICK_PHANTOM_SLICES = 64, 18


def register(sub) -> None:
    p = subparser(sub, "demo", "reconstruct the held-out test patient's CT (fetched on first "
                  "use) with FBP, CGLS, 3D TV, DDS and DiffusionBlend++ (bundled real-CT "
                  "priors) and compare them", EXAMPLES)
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder")
    p.add_argument("--views", type=positive_int, default=8)
    p.add_argument("--geometry", choices=("parallel", "fan", "cone"), default="parallel")
    p.add_argument("--steps", type=positive_int, default=None,
                   help="diffusion steps (default 50, or 10 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_SLICES} slices (phantom: {QUICK_PHANTOM_SLICES}) and 10 steps")
    p.add_argument("--phantom", action="store_true",
                   help="a held-out procedural phantom (64^3) with the phantom priors "
                        "instead of real CT (no download)")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> None:
    from ..experiment import (DATA_RANGE, PHANTOM_WEIGHTS, evaluate_method, make_case,
                              make_ct_case, results_table)
    from ..figures import save_orthogonal_views
    from ..io import write_volume
    from ..io_atomic import atomic_write
    from ..methods import DIFFUSION
    from .checks import check_device, check_output_folder

    device = check_device(args.device)
    out = check_output_folder(args.out)
    steps = args.steps or (10 if args.quick else 50)
    if args.phantom:
        slices = QUICK_PHANTOM_SLICES if args.quick else PHANTOM_SLICES
        case = make_case(geometry=args.geometry, views=args.views, slices=slices)
        z_aspect = 1.0
    else:
        from ..datasets import WORKING_GRID

        slices = QUICK_SLICES if args.quick else CT_SLICES
        case = make_ct_case(geometry=args.geometry, views=args.views, slices=slices)
        z_aspect = WORKING_GRID.slice_mm / WORKING_GRID.pixel_mm
    print(f"demo: {case.description}; diffusion methods with {steps} steps")
    results = {}
    for method in DEMO_METHODS:
        options = {}
        if method in DIFFUSION:
            options = dict(steps=steps, seed=args.seed, device=device)
            if args.phantom:
                options["checkpoint"] = PHANTOM_WEIGHTS[DIFFUSION[method].prior_kind]
        results[method] = evaluate_method(case, method, progress=True, **options)
        print(f"  {method:<7} {results[method]['seconds']:6.1f} s")
    print(results_table(results))

    out.mkdir(parents=True, exist_ok=True)
    write_volume(out / "ground_truth.npy", case.truth)
    for method, r in results.items():
        write_volume(out / f"{method}.npy", r["volume"])
    summary = {"case": case.description, "steps": steps, "seed": args.seed,
               "data_range": DATA_RANGE,
               "methods": {m: {**r["metrics"], "seconds": r["seconds"], "tv_z": r["tv_z"]}
                           for m, r in results.items()}}
    with atomic_write(out / "metrics.json") as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=2))
    views = {"ground truth": case.truth, **{m: r["volume"] for m, r in results.items()}}
    save_orthogonal_views(out / "views.png", views, vmin=0.0, vmax=DATA_RANGE,
                          z_aspect=z_aspect)
    print(f"written: {out}/metrics.json, {out}/views.png and one .npy volume per method")
