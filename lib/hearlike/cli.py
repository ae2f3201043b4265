"""Command line: ``python -m hearlike <command>`` (or the ``hearlike`` script).

Commands
--------
models         print the model registry (--group default | paper | all)
metrics        print the metric registry
demo           write the embedded demo dataset (or its null twin)
extract        extract per-word layer states of one model for one dataset (cached, resumable)
align          compute the metric grid for a parameter file (cached)
fetch          download a public EEG dataset (or explain where to put it)
check-data     check a dataset folder put in place by hand (one line per problem)
run-notebooks  execute the finding notebooks with papermill into book/
"""

from __future__ import annotations

import argparse
import logging
import sys


#: failures a user can cause or fix (bad input, missing files or weights, permissions, no network):
#: reported as one line ``hearlike <command>: error: ...`` with exit status 2
EXPECTED_ERRORS = (ValueError, KeyError, RuntimeError, OSError, ImportError)


def _table(frame) -> str:
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                           "display.max_colwidth", 48):
        return frame.to_string(index=False)


def _cmd_models(args) -> int:
    from .models import registry_table
    from .models.bundled import offline_weights

    table = registry_table(args.group).reset_index()
    table["offline"] = [offline_weights(key) or "-" for key in table["key"]]  # real weights usable without network
    columns = ["key", "display_name", "family", "hf_id", "n_params_billion", "n_encoder_layers",
               "n_decoder_layers", "trust_remote_code", "offline"]
    if args.group != "default":  # how each entry is read and whether it ever ran here
        columns += ["groups", "verified", "reads"]
    print(_table(table[columns]))
    return 0


def _cmd_metrics(args) -> int:
    from .metrics import metrics_table

    print(_table(metrics_table()))
    return 0


def _cmd_demo(args) -> int:
    from .demo import write_demo

    root = write_demo(args.out, null=args.null, seed=args.seed)
    print(f"demo data written to {root}")
    return 0


def _overrides(args) -> dict:
    """Parameter overrides from ``--dataset``/``--data-root``/``--cache-dir``."""
    overrides = {}
    if getattr(args, "dataset", None):
        overrides["dataset"] = args.dataset
        if args.dataset in ("demo", "demo-null") and not args.data_root:
            overrides["data_root"] = f"data/{args.dataset}"
            overrides["cache_dir"] = f"cache/{args.dataset}"
    if getattr(args, "data_root", None):
        overrides["data_root"] = args.data_root
    if getattr(args, "cache_dir", None):
        overrides["cache_dir"] = args.cache_dir
    return overrides


def _cmd_extract(args) -> int:
    from .config import load_params
    from .pipeline import model_states

    params = load_params(args.params, _overrides(args))
    states = model_states(params, args.model, model_path=args.model_path, trust_remote_code=args.trust_remote_code)
    print(f"{args.model}: {dict(states.sizes)} cached under {params.cache_dir}")
    return 0


def _cmd_align(args) -> int:
    from .config import load_params
    from .pipeline import metric_grid

    params = load_params(args.params, _overrides(args))
    grid = metric_grid(params)
    print(grid)
    return 0


def _cmd_fetch(args) -> int:
    from .eeg import fetch

    path = fetch(args.name, dest=args.dest)
    print(f"{args.name}: {path}")
    return 0


def _cmd_check_data(args) -> int:
    from .eeg import check_data

    found, problems = check_data(args.name, args.folder)
    for line in found:
        print(f"{args.name}: {line}")
    for line in problems:
        print(f"{args.name}: problem: {line}")
    print(f"{args.name}: {len(problems)} problem(s) in {args.folder}" if problems else f"{args.name}: {args.folder} is complete")
    return 1 if problems else 0


def _cmd_run_notebooks(args) -> int:
    from .notebooks import run_notebooks

    paths = run_notebooks(args.params, source_dir=args.source, output_dir=args.output, names=args.names or None,
                          jobs=args.jobs)
    for path in paths:
        print(f"executed {path}")
    return 0


def _dataset_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default=None, help="dataset name overriding the parameter file (demo, demo-null, bids, ...)")
    p.add_argument("--data-root", default=None, help="dataset folder overriding the parameter file")
    p.add_argument("--cache-dir", default=None, help="cache folder overriding the parameter file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hearlike", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="print the model registry")
    p.add_argument("--group", default="default", choices=["default", "paper", "all"],
                   help="registry group: default (the book's comparison), paper (the reference study's 12 models; "
                        "remote-code entries are marked 'unverified offline'), all")
    p.set_defaults(func=_cmd_models)
    sub.add_parser("metrics", help="print the metric registry").set_defaults(func=_cmd_metrics)

    p = sub.add_parser("demo", help="write the embedded demo dataset")
    p.add_argument("--out", default="data/demo", help="output folder (default data/demo)")
    p.add_argument("--null", action="store_true", help="write the null twin (nothing planted)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("extract", help="extract per-word layer states of one model")
    p.add_argument("--model", required=True, help="model key from `hearlike models`")
    p.add_argument("--params", default="params.yml", help="study parameter file (dataset, cache)")
    p.add_argument("--model-path", default=None, help="local folder with the weights (else the HF id)")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="allow a model's own Python code from its folder/Hub repo to run (needed by some models; "
                        "never switched on from a parameter file)")
    _dataset_options(p)
    p.set_defaults(func=_cmd_extract)

    p = sub.add_parser("align", help="compute the metric grid for a parameter file")
    p.add_argument("--params", default="params.yml")
    _dataset_options(p)
    p.set_defaults(func=_cmd_align)

    p = sub.add_parser("fetch", help="download a public EEG dataset (needs a network)")
    p.add_argument("name", help="dataset name from data/datasets.yml")
    p.add_argument("--dest", default=None, help="target folder (default $HEARLIKE_DATA)")
    p.set_defaults(func=_cmd_fetch)

    p = sub.add_parser("check-data", help="check a dataset folder put in place by hand")
    p.add_argument("name", help="dataset name (alice2019, broderick2018, bids)")
    p.add_argument("folder", help="the dataset folder")
    p.set_defaults(func=_cmd_check_data)

    p = sub.add_parser("run-notebooks", help="execute notebooks/*.md with papermill into book/")
    p.add_argument("--params", default="params.yml")
    p.add_argument("--source", default="notebooks")
    p.add_argument("--output", default="book")
    p.add_argument("--jobs", type=int, default=1, help="notebooks executed at once, each in its own kernel (default 1)")
    p.add_argument("names", nargs="*", help="notebook names to run (default: all)")
    p.set_defaults(func=_cmd_run_notebooks)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except EXPECTED_ERRORS as err:
        if args.debug:
            raise
        message = " ".join(str(err.args[0] if isinstance(err, KeyError) and err.args else err).split())
        print(f"hearlike {args.command}: error: {message or type(err).__name__} "
              f"({type(err).__name__}; --debug shows the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
