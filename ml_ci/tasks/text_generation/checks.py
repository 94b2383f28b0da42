"""text-generation's data checks: the task's own, and ml_ci.data.checks' generic ones bound to each record's prompt
text (a prompt, or a chat's user turns joined by newlines). The list, in run order, is `data.CHECKS`. Every failure
names the row's location (`data/train.jsonl:4`, its JSON Lines line), and a chat's message by its index.

Every check after `columns` reads only the splits that have a kind of record's columns (the prompt and completion
columns, or the messages column) and the slice columns: `columns` names the others. The template and truncation
checks render records with `render.render`, as training does, and the base model's tokenizer (`data_tokenizer`);
when it cannot be had they say so and pass, as token-classification's truncation check does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ml_ci.config.model import Data
from ml_ci.data import checks as generic
from ml_ci.data.checks import SHOWN, Outcome, Tables
from ml_ci.data.table import Table, count
from ml_ci.tasks.text_generation import data_tokenizer, render
from ml_ci.tasks.text_generation.config import of
from ml_ci.tasks.text_generation.data_records import Problem, Record, empty_targets, records


def texts(table: Table, data: Data) -> list[str | None]:
    """Each record's prompt text; None for a malformed one."""
    return [r.text for r in records(table, data)]


def readable(table: Table, data: Data) -> bool:
    """The split has a kind of record's columns and the slice columns: the checks after `columns` can read it."""
    spec = of(data)
    have = table.columns
    kinds = (spec.prompt_column in have and spec.completion_column in have) or spec.messages_column in have
    return kinds and all(name in have for name in data.slice_columns)


def _readable(check: Callable[[Tables, Data], list[Outcome]]) -> Callable[[Tables, Data], list[Outcome]]:
    """`check` on the splits `readable` keeps (the columns check names the others)."""
    return lambda tables, data: check({role: t for role, t in tables.items() if readable(t, data)}, data)


def check_columns(tables: Tables, data: Data) -> list[Outcome]:
    """Each split has the prompt and completion columns, or the messages column (or all three), and the slice
    columns. What their values hold is the `records` check's."""
    out: list[Outcome] = []
    spec = of(data)
    p, c, m = spec.prompt_column, spec.completion_column, spec.messages_column
    for role, t in tables.items():
        have = t.columns
        missing: list[str] = []
        settings: list[str] = []
        if not ((p in have and c in have) or m in have):
            paired = [name for name in (p, c) if name not in have]
            missing += paired if len(paired) == 1 else [*paired, m]
            settings += [
                key
                for key, name in (("data.prompt_column", p), ("data.completion_column", c), ("data.messages_column", m))
                if name in missing
            ]
        slices = [name for name in data.slice_columns if name not in have]
        missing += slices
        settings += ["data.slice_columns"] if slices else []
        if missing:
            message = (
                f"{t.source}: no column {', '.join(map(repr, missing))} (columns: {', '.join(have) or 'none'}); records "
                f"are {p!r} and {c!r}, or {m!r}: rename it in the data or set {' or '.join(settings)}"
            )
        else:
            kinds = [f"{p!r}, {c!r}"] if p in have and c in have else []
            kinds += [repr(m)] if m in have else []
            message = f"{t.source}: columns {' and '.join(kinds)}" + "".join(f", {s!r}" for s in data.slice_columns) + " present"
        out.append(Outcome(check="columns", split=role, passed=not missing, value=len(missing), limit=0, message=message))
    return out


def _problems(check: str, role: str, t: Table, problems: list[Problem], passed: str, failed: str) -> Outcome:
    """One outcome of a check that lists its problems, each at its place (the row's annotation is its line)."""
    found = [(p.place, p.what) for p in problems]
    return generic.listed(check, role, t, found, [t.locations[p.row] for p in problems[:SHOWN]], passed, failed)


def _check_records(tables: Tables, data: Data) -> list[Outcome]:
    """Every row is a prompt/completion record or a chat of {role, content} messages with known roles."""
    spec = of(data)
    out: list[Outcome] = []
    for role, t in tables.items():
        problems = [r.malformed for r in records(t, data) if r.malformed is not None]
        out.append(
            _problems(
                "records",
                role,
                t,
                problems,
                "every record is a prompt and a completion, or a chat",
                f"{count(len(problems), 'malformed record')} (a record is a prompt and completion, {spec.prompt_column!r} "
                f"and {spec.completion_column!r} as text, or a chat, {spec.messages_column!r} as a list of {{role, content}} "
                "messages whose role is system, user or assistant)",
            )
        )
    return out


def _check_roles(tables: Tables, data: Data) -> list[Outcome]:
    """Each chat's roles in order: an optional system message, then user and assistant in turn, ending with assistant."""
    out: list[Outcome] = []
    for role, t in tables.items():
        problems = [r.order for r in records(t, data) if r.order is not None]
        out.append(
            _problems(
                "roles",
                role,
                t,
                problems,
                "every chat's roles are in order",
                f"{count(len(problems), 'chat')} whose roles are out of order (a system message may come first, then "
                "user and assistant take turns, and the assistant's ends the chat)",
            )
        )
    return out


def _check_empty_completions(tables: Tables, data: Data) -> list[Outcome]:
    """Records with an empty completion or an empty assistant turn, per split, at most data.checks.max_empty_fraction
    (the model learns to answer nothing)."""

    def find(t: Table) -> list[int]:
        return [row for row, r in enumerate(records(t, data)) if r.kind is not None and empty_targets(r, t, data, row)]

    return generic.fraction_check(
        "empty_completions",
        "max_empty_fraction",
        data.checks.max_empty_fraction,
        "have an empty completion or assistant turn",
        find,
        tables,
        noun="records",
    )


def _renderable(t: Table, data: Data) -> list[tuple[int, Record]]:
    """The records training renders: well-formed, a chat's roles in order."""
    return [(row, r) for row, r in enumerate(records(t, data)) if r.usable]


def _tokenizer(tables: Tables, data: Data) -> data_tokenizer.Loaded:
    root = next((t.root for t in tables.values() if t.root is not None), None)
    return data_tokenizer.load(of(data).base, root)


def _not_measured(check: str, role: str, t: Table, why: str, limit: float | None = None) -> Outcome:
    return Outcome(
        check=check, split=role, passed=True, limit=limit, message=f"{t.source}: not measured: {why}", details={"measured": False}
    )


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _check_chat_template(tables: Tables, data: Data) -> list[Outcome]:
    """Chat records have a chat template (data.chat_template, else the base model's tokenizer's) that renders each."""
    out: list[Outcome] = []
    spec = of(data)
    chats = {role: [(row, r) for row, r in _renderable(t, data) if r.kind == "chat"] for role, t in tables.items()}
    loaded = _tokenizer(tables, data) if any(chats.values()) else None
    for role, t in tables.items():
        if not chats[role]:
            out.append(Outcome(check="chat_template", split=role, passed=True, message=f"{t.source}: no chat records"))
            continue
        assert loaded is not None
        if loaded.tokenizer is None:
            out.append(_not_measured("chat_template", role, t, loaded.why))
            continue
        try:
            render.template(loaded.tokenizer, spec)
        except ValueError:
            n = len(chats[role])
            first = [t.locations[row] for row, _ in chats[role][:SHOWN]]
            message = (
                f"{t.source}: {count(n, 'chat record')} but no chat template: data.chat_template is not set and "
                f"model.base {spec.base!r}'s tokenizer has none; set data.chat_template (a Jinja template), or write "
                "the records as prompt and completion" + generic.listing(first, n)
            )
            out.append(
                Outcome(
                    check="chat_template", split=role, passed=False, value=n, limit=0, message=message, rows=tuple(first[:SHOWN])
                )
            )
            continue
        problems: list[Problem] = []
        for row, r in chats[role]:
            try:
                render.render(r.as_dict(), loaded.tokenizer, spec, where=t.locations[row])
            except Exception as e:  # a template error (Jinja's, or render's own refusal) names the record it failed on
                problems.append(Problem(row, t.locations[row], _first_line(e).removeprefix(f"{t.locations[row]}: ")))
        source = "data.chat_template" if spec.chat_template else f"model.base {spec.base!r}'s tokenizer's chat template"
        out.append(
            _problems(
                "chat_template",
                role,
                t,
                problems,
                f"{source} renders every chat record",
                f"{source} cannot render {count(len(problems), 'chat record')}",
            )
        )
    return out


def _check_truncation(tables: Tables, data: Data) -> list[Outcome]:
    """Records longer than model.max_length tokens once templated (their end is cut: the completion tokens there are
    not learned), per split, at most data.checks.max_truncated_fraction."""
    out: list[Outcome] = []
    spec = of(data)
    limit, max_length = spec.max_truncated_fraction, spec.max_length
    loaded = _tokenizer(tables, data) if tables else None
    for role, t in tables.items():
        assert loaded is not None
        if loaded.tokenizer is None:
            out.append(_not_measured("truncation", role, t, loaded.why, limit))
            continue
        measured = _measure(t, data, loaded.tokenizer)
        long = [(row, tokens, cut) for row, tokens, cut in measured if tokens > max_length]
        cut_tokens = sum(tokens - max_length for _, tokens, _ in long)
        cut_targets = sum(cut for *_, cut in long)
        frac = generic.fraction(len(long), len(t))
        passed = frac <= limit
        longest = max((tokens for _, tokens, _ in measured), default=0)
        message = (
            f"{t.source}: {len(long)} of {count(len(t), 'record')} ({frac:.1%}) longer than model.max_length {max_length} "
            f"tokens once templated (longest {longest}); {count(cut_tokens, 'token')} would be cut, {cut_targets} of them "
            "completion tokens"
        )
        if not passed:
            first = [f"{t.locations[row]} ({tokens} tokens, {cut} completion tokens cut)" for row, tokens, cut in long[:SHOWN]]
            message += f", above max_truncated_fraction {limit}: raise model.max_length or shorten them; first" + generic.listing(
                first, len(long)
            )
        out.append(
            Outcome(
                check="truncation",
                split=role,
                passed=passed,
                value=frac,
                limit=limit,
                message=message,
                rows=tuple(t.locations[row] for row, *_ in long[:SHOWN]),
                details={
                    "measured": True,
                    "records": len(long),
                    "tokens_cut": cut_tokens,
                    "completion_tokens_cut": cut_targets,
                    "longest": longest,
                },
            )
        )
    return out


def _measure(t: Table, data: Data, tokenizer: Any) -> list[tuple[int, int, int]]:
    """(row, tokens, completion tokens beyond model.max_length) of each record that renders (a chat whose template
    fails is the chat_template check's)."""
    spec = of(data)
    rows: list[int] = []
    rendered: list[render.Rendered] = []
    for row, r in _renderable(t, data):
        try:
            rendered.append(render.render(r.as_dict(), tokenizer, spec))
        except Exception:  # the chat_template check names it
            continue
        rows.append(row)
    encoded = render.encode_many(rendered, tokenizer, None)
    return [
        (row, len(ids), sum(1 for label in labels[spec.max_length :] if label != render.IGNORED))
        for row, ids, labels in zip(rows, encoded["input_ids"], encoded["labels"], strict=True)
    ]


def _bound(check: Callable[[Tables, Data, generic.Texts], list[Outcome]]) -> Callable[[Tables, Data], list[Outcome]]:
    """A generic text check bound to the records' prompt texts."""
    return _readable(lambda tables, data: check(tables, data, lambda t: texts(t, data)))


check_min_rows = _readable(generic.check_min_rows)
check_records = _readable(_check_records)
check_roles = _readable(_check_roles)
check_empty_completions = _readable(_check_empty_completions)
check_empty_prompts = _bound(generic.check_empty_texts)
check_chat_template = _readable(_check_chat_template)
check_truncation = _readable(_check_truncation)
check_duplicates = _bound(generic.check_duplicates)
check_leakage = _bound(generic.check_leakage)
check_drift = _readable(lambda tables, data: generic.check_drift(tables, data, lambda t: texts(t, data), {}))
