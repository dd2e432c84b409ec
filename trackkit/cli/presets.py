"""trackkit presets: the named model presets as a table."""
from __future__ import annotations

HELP = "list the named model presets"


def add_arguments(p) -> None:
    p.add_argument("--json", action="store_true", help="print every preset's full settings as JSON")
    p.add_argument("--params", action="store_true",
                   help="also count parameters (builds each model on the meta device)")


def presets_table(params: bool = False):
    """pandas DataFrame, one row per registered preset."""
    import pandas as pd

    from trackkit.families import get_preset, list_presets

    rows = []
    for name in list_presets():
        p = get_preset(name)
        m = p.model
        ce_loc = getattr(m, "ce_loc", ())  # the backbone's fields; the rest is the family's
        row = {"preset": name, "family": p.family, "dim/depth/heads": f"{m.embed_dim}/{m.depth}/{m.num_heads}",
               "template/search": f"{m.template_size}/{m.search_size}",
               "CE": "-" if not ce_loc else
               f"{','.join(map(str, ce_loc))}@{'/'.join(f'{r:g}' for r in sorted(set(m.keep_ratios)))}",
               "head": getattr(m, "head", "-"), "epochs": p.train.epochs, "description": p.description}
        if params:
            row["params (M)"] = round(count_params(p) / 1e6, 2)
        rows.append(row)
    return pd.DataFrame(rows)


def count_params(preset) -> int:
    import torch

    from trackkit.families import build_model

    with torch.device("meta"):
        model = build_model(preset, load_pretrained_weights=False)
    return sum(t.numel() for t in model.parameters())


def run(args) -> int:
    if args.json:
        import json

        from trackkit.families import get_preset, list_presets

        print(json.dumps({n: get_preset(n).to_dict() for n in list_presets()}, indent=2))
        return 0
    df = presets_table(params=args.params)
    print(df.to_string(index=False))
    return 0
