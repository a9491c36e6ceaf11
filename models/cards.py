"""The README's table of the tiny models, made from their cards: `python -m models.cards`."""

from __future__ import annotations

import json

from models.registry import TINY_ORDER, WEIGHTS_DIR


def table() -> str:
    rows = ["| model | positional | parameters | training time | val bits/char | val nats/token | val top-1 |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in TINY_ORDER:
        path = WEIGHTS_DIR / name / "card.json"
        if not path.is_file():
            continue
        card = json.loads(path.read_text(encoding="utf-8"))
        m, t = card["metrics"], card["training"]
        rows.append(f"| `{name}` | {card['config']['positional']} | {card['params']:,} | "
                    f"{t['wall_seconds'] / 60:.1f} min | {m['val_bits_per_char']:.3f} | "
                    f"{m['val_nats_per_token']:.3f} | {m['val_top1_accuracy']:.1%} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
