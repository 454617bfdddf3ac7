"""``diffblend-astra train``: train a score prior on volumes or on procedural phantoms."""

from __future__ import annotations

from pathlib import Path

from .common import add_common, positive_int, subparser

EXAMPLES = """\
  diffblend-astra train --phantoms 64 --prior blend --steps 6000 --out runs/blend
  diffblend-astra train --volumes scans/ --window -1000 2000 --prior blend --out runs/mine
  diffblend-astra train --volumes ct/*.npy --window 0 1 --crop 64 --prior slice --out runs/ct
  diffblend-astra train --phantoms 64 --prior blend --steps 6000 --out runs/blend --resume
  diffblend-astra train --volumes scans/ --window -1000 2000 --prior slice --out runs/slice
  diffblend-astra train --volumes scans/ --window -1000 2000 --prior blend --lr 1e-4 \
      --from-slice runs/slice/model.safetensors --out runs/blend
"""


def register(sub) -> None:
    p = subparser(sub, "train", "train a 3-slice (blend), conditional or 2D-slice score prior",
                  EXAMPLES)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--volumes", type=Path, nargs="+",
                        help="volume files or folders (.npy, .nii/.nii.gz, .tif, DICOM folder)")
    source.add_argument("--phantoms", type=positive_int, metavar="N",
                        help="train on N procedural phantoms (training seeds 0…N−1)")
    p.add_argument("--size", type=positive_int, default=64,
                   help="phantom size Z = Y = X (default 64)")
    p.add_argument("--window", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="physical intensity range mapped to [-1, 1] (default: 0.5/99.5 "
                        "percentiles of the data; phantoms use 0 1)")
    p.add_argument("--prior", choices=("blend", "conditional", "slice"), default="blend")
    p.add_argument("--network", choices=("tiny", "paper"), default="tiny")
    p.add_argument("--crop", type=positive_int, metavar="N",
                   help="train on random NxN crops of the slices: volumes of any slice size "
                        ">= N, and a prior that reconstructs slices of any size (default: "
                        "whole slices, all of one size)")
    p.add_argument("--steps", type=positive_int, default=6000)
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--checkpoint-every", type=positive_int, default=250)
    p.add_argument("--no-ema-warmup", action="store_true",
                   help="constant EMA decay from the first step (how the bundled 2D weights "
                        "were trained)")
    p.add_argument("--from-slice", type=Path, metavar="CHECKPOINT",
                   help="start a blend or conditional prior from this trained 2D (slice) "
                        "prior, inflated to three interleaved copies (how the bundled blend "
                        "prior was trained; diffblend_astra.inflate)")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                   help="bf16 autocast where the hardware has native bf16 (auto), or not")
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoints)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint (refused unless "
                        "the volumes, window, prior and network are the run's own)")
    p.add_argument("--overwrite", action="store_true",
                   help="start again in an --out that already holds a run, replacing it")
    add_common(p)
    p.set_defaults(run=run)


def _inflated(path: Path, config):
    """The 2D prior at ``path`` inflated to ``config.prior_kind`` (one-line errors)."""
    from ..inflate import inflate_checkpoint

    if config.prior_kind == "slice":
        raise ValueError("--from-slice starts a blend or conditional prior; --prior slice "
                         "trains the 2D prior itself")
    return inflate_checkpoint(path, config.prior_kind, config.seed)[0]


def check_resume_state(run_folder: Path) -> None:
    """Refuse a saved training state that lacks what resuming needs (one line)."""
    from ..checkpoint import read_state

    state = run_folder / "state.safetensors"
    if state.is_file():
        read_state(state)


def run(args) -> None:
    import math

    from ..normalization import IntensityWindow
    from ..run_identity import check_run_folder
    from ..train import TrainConfig, train
    from .checks import check_device, check_finite, check_output_folder

    device = check_device(args.device)
    check_output_folder(args.out, inputs=args.volumes or ())
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise ValueError(f"--lr must be a finite number > 0, got {args.lr}")
    check_run_folder(args.out, resume=args.resume, overwrite=args.overwrite,
                     names=("--resume", "--overwrite"))
    if args.resume:
        check_resume_state(args.out)
    if args.phantoms is not None:
        from ..phantoms import phantom_volumes, training_seeds

        volumes = list(phantom_volumes(training_seeds(args.phantoms), (args.size,) * 3))
        window = IntensityWindow(*(args.window or (0.0, 1.0)))
        summary = {"data": f"{args.phantoms} procedural phantoms "
                           f"(diffblend_astra.phantoms, seeds 0..{args.phantoms - 1}), "
                           f"{args.size}^3"}
    else:
        from ..io import read_volume

        volumes = [read_volume(path) for path in args.volumes]
        for path, volume in zip(args.volumes, volumes):
            check_finite(volume, f"the volume {path}")
        window = (IntensityWindow(*args.window) if args.window
                  else IntensityWindow.from_percentiles(volumes))
        summary = {"data": [str(p) for p in args.volumes]}
    config = TrainConfig(prior_kind=args.prior, network=args.network, steps=args.steps,
                         batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed,
                         checkpoint_every=args.checkpoint_every,
                         ema_warmup=not args.no_ema_warmup, precision=args.precision,
                         crop=args.crop)
    network = None
    if args.from_slice is not None:
        network = _inflated(args.from_slice, config)
        summary["initialised_from"] = {"weights": str(args.from_slice)}
    path = train(volumes, args.out, config, window=window, resume=args.resume,
                 overwrite=args.overwrite, device=device, data_summary=summary,
                 network=network)
    print(f"checkpoint written: {path}")
