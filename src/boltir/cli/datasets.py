"""``boltir datasets``: what is bundled and what the short model names point to."""

from __future__ import annotations

from boltir.cli.common import new_parser


def parser():
    """The options of ``boltir datasets``."""
    return new_parser(
        "datasets",
        "List bundled datasets (usable wherever docs, queries, qrels or runs are "
        "asked for), their runs, and the short model names.",
    )


def main(argv: list[str]) -> int:
    """Run ``boltir datasets``: list the bundled datasets, their runs and the short model names."""
    from boltir.data.sources import DATASETS, config_root, data_root
    from boltir.models.sources import NAMED_MODEL_DESCRIPTIONS

    parser().parse_args(argv)
    print(f"example configs: {config_root()}")
    print(f"datasets (in {data_root()}):")
    for name, ds in DATASETS.items():
        print(f"  {name}: {ds.description}")
        runs = sorted(ds.runs())
        if runs:
            print(f"    runs: {', '.join(f'{name}:{r}' for r in runs)}")
    print("models:")
    for name, desc in NAMED_MODEL_DESCRIPTIONS.items():
        print(f"  {name}: {desc}")
    print("any other folder or Hub id is loaded by the same code; ir_datasets ids are given as irds:<id>")
    return 0
