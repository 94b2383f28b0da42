"""Write the example's data and prompt set (seeded; the committed files are its output):

    python make_data.py [--out .] [--seed 0]

The task is small arithmetic over the digits 0-9 (a plus b, a minus b with a >= b), asked in two wordings and
answered in two formats: as JSON (`{"result": 7}`, the format an application would parse) or as a sentence
(`3 plus 4 is 7`, scored against a reference by ROUGE-L and chrF). Each question text appears in one place only:
the train, validation or test split, or the prompt set, so that no split leaks into another and the prompt set
asks questions training never saw (their facts it did see, in the other wording or format). A few minutes of
CPU training teach the tiny random model the formats first (the `json` and `sentence` assertions pass) and the
sums later (the `exact` ones).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

OPERATIONS = ("plus", "minus")
WORDINGS = ("what is {a} {op} {b}?", "{a} {op} {b} is what?")
FORMATS = {"json": "answer as JSON", "sentence": "answer with a sentence"}
SIZES = {"validation": 60, "test": 60}
PROMPT_ITEMS = {"json": 16, "sentence": 12, "exact": 16}


def facts() -> list[tuple[str, int, int, int]]:
    out = []
    for op in OPERATIONS:
        for a in range(10):
            for b in range(10):
                if op == "minus" and b > a:
                    continue  # no negative results: "-3" is another token kind to learn
                out.append((op, a, b, a + b if op == "plus" else a - b))
    return out


def record(fact: tuple[str, int, int, int], wording: str, fmt: str) -> dict[str, str]:
    op, a, b, result = fact
    prompt = f"{wording.format(a=a, op=op, b=b)} {FORMATS[fmt]}\n"
    completion = json.dumps({"result": result}) if fmt == "json" else f"{a} {op} {b} is {result}"
    return {"prompt": prompt, "completion": completion}


def prompt_items(records: list[tuple[dict[str, str], str, tuple[str, int, int, int]]]) -> list[dict[str, Any]]:
    """The prompt set, taken out of `records`: format assertions on JSON and sentence answers, exact answers,
    and references."""
    items: list[dict[str, Any]] = []
    used: set[int] = set()
    for kind, count in PROMPT_ITEMS.items():
        fmt = "sentence" if kind == "sentence" else "json"
        chosen = [r for r in records if r[1] == fmt and id(r) not in used][:count]
        used.update(id(r) for r in chosen)
        for n, (rec, _, fact) in enumerate(chosen, 1):
            result = fact[3]
            item: dict[str, Any] = {"id": f"{kind}-{n:02d}", "prompt": rec["prompt"]}
            if kind == "json":
                item["tags"] = ["json"]
                item["assert"] = [
                    {
                        "type": "is-json",
                        "value": {
                            "type": "object",
                            "properties": {"result": {"type": "integer"}},
                            "required": ["result"],
                            "additionalProperties": False,
                        },
                    },
                    {"type": "regex", "value": r'^\{"result": \d+\}$'},
                    {"type": "max-length", "value": 20},
                ]
            elif kind == "sentence":
                item["tags"] = ["sentence"]
                item["reference"] = rec["completion"]
                item["assert"] = [
                    {"type": "regex", "value": r"^\d (plus|minus) \d is \d+$"},
                    {"type": "not-contains", "value": "{"},
                ]
            else:
                item["tags"] = ["exact"]
                item["assert"] = [{"type": "equals", "value": json.dumps({"result": result})}]
            items.append(item)
    records[:] = [r for r in records if id(r) not in used]
    return items


def build(seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    pool = [(record(f, w, fmt), fmt, f) for f in facts() for w in WORDINGS for fmt in FORMATS]
    rng.shuffle(pool)
    out: dict[str, list[dict[str, Any]]] = {"prompts": prompt_items(pool)}
    for split, size in SIZES.items():
        out[split] = [r for r, _, _ in pool[:size]]
        del pool[:size]
    out["train"] = [r for r, _, _ in pool]
    return out


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).parent))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    made = build(args.seed)
    for split in ("train", "validation", "test"):
        write_jsonl(out / "data" / f"{split}.jsonl", made[split])
    write_jsonl(out / "eval" / "prompts.jsonl", made["prompts"])
    print({name: len(rows) for name, rows in made.items()})


if __name__ == "__main__":
    main()
