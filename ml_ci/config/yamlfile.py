"""Read ml.yaml safely, keeping where every value came from.

PyYAML's own loaders drop positions, silently keep the last of duplicate keys and expand
aliases without bound. We compose nodes with PyYAML, counting nesting and aliases as it goes
(so that deep nesting cannot blow the stack), and build plain data ourselves with those guards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import yaml

from ml_ci.errors import ConfigError, Problem

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 100
MAX_NODES = 100_000

Path_ = tuple[Any, ...]  # dotted path as a tuple of keys and indexes

_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:timestamp",
}
# Plain scalars that YAML 1.1 (PyYAML) reads as booleans and YAML 1.2 reads as text.
YAML11_BOOLS = frozenset({"yes", "no", "on", "off"})


@dataclass(frozen=True)
class Mark:
    line: int
    col: int


@dataclass
class Document:
    """Plain data plus, for each path, the position of its value and of its key."""

    file: str
    data: Any
    value_marks: dict[Path_, Mark] = field(default_factory=dict)
    key_marks: dict[Path_, Mark] = field(default_factory=dict)
    raw: dict[Path_, tuple[str, str | None]] = field(default_factory=dict)  # (text, style)

    def mark(self, path: Path_, *, key: bool = False) -> Mark:
        """Position of path, or of the nearest ancestor that has one."""
        p = tuple(path)
        while True:
            table = self.key_marks if key and p in self.key_marks else self.value_marks
            if p in table:
                return table[p]
            if not p:
                return Mark(1, 1)
            p = p[:-1]

    def problem(self, path: Path_, message: str, *, key: bool = False, severity: str = "error") -> Problem:
        m = self.mark(path, key=key)
        return Problem(self.file, m.line, m.col, dotted(path), message, severity)


def visible(text: str) -> str:
    """text with control, format (bidi, zero-width) and other invisible characters written as escapes,
    so that printing a key never reorders or hides what the terminal shows."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" if ord(c) > 0xFF else f"\\x{ord(c):02x}" for c in text)


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + visible(str(part))
    return out


def _fail(file: str, line: int, col: int, message: str) -> ConfigError:
    return ConfigError([Problem(file, line, col, "", message)])


def decode(raw: bytes, file: str, size: int | None = None) -> str:
    size = len(raw) if size is None else size
    if size > MAX_BYTES:
        # Located where the limit is crossed, so that an editor or a workflow annotation can point at it.
        line = raw.count(b"\n", 0, MAX_BYTES) + 1
        col = MAX_BYTES - (raw.rfind(b"\n", 0, MAX_BYTES) + 1) + 1
        raise _fail(
            file,
            line,
            col,
            f"file is {size:,} bytes; an ml.yaml is at most {MAX_BYTES:,} bytes (1 MiB), "
            "which ends here: is this the right file?",
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        raise _fail(file, 1, 1, "file starts with a byte-order mark (BOM); save it as UTF-8 without a BOM")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise _fail(file, line, col, f"not valid UTF-8 (byte 0x{raw[e.start]:02x} here); save the file as UTF-8") from None


# What is usually missing when PyYAML gives up inside one of these.
_UNCLOSED = {
    "flow mapping": "is a '}' missing?",
    "flow sequence": "is a ']' missing?",
    "quoted scalar": "is a closing quote missing?",
    "block mapping": "is the indentation of this line right?",
}


def _yaml_error(file: str, e: yaml.MarkedYAMLError) -> ConfigError:
    mark = e.problem_mark or e.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    problem = (e.problem or "invalid YAML").strip()
    if "'\\t'" in problem:
        return _fail(file, line, col, "a tab character here; YAML indents with spaces only: replace the tab with spaces")
    message = f"invalid YAML: {problem}"
    if e.context and e.context_mark:
        started = f"line {e.context_mark.line + 1}, column {e.context_mark.column + 1}"
        hint = next((h for what, h in _UNCLOSED.items() if what in e.context), "")
        message += f", {e.context} that starts at {started}" + (f"; {hint}" if hint else "")
    return _fail(file, line, col, message)


class _GuardedLoader(yaml.SafeLoader):
    """PyYAML's composer, refusing deep nesting and alias bombs as it goes (one pass over the text).

    Nesting is refused before the recursive composer could exhaust the stack.
    """

    def __init__(self, text: str, file: str) -> None:
        super().__init__(text)
        self.file, self.depth, self.aliases = file, 0, 0

    def _refuse(self, message: str) -> ConfigError:
        m = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        return _fail(self.file, m.line + 1, m.column + 1, message)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise self._refuse(f"more than {MAX_ALIASES} aliases (an alias bomb?); write the values out")
        elif self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self._refuse(
                    f"nesting deeper than {MAX_DEPTH} levels; ml.yaml never needs that many: is a bracket unbalanced?"
                )
            try:
                return super().compose_node(parent, index)  # type: ignore[no-any-return]
            finally:
                self.depth -= 1
        return super().compose_node(parent, index)  # type: ignore[no-any-return]

    def single_node(self) -> yaml.Node | None:
        """The one document's node (None for an empty stream); a second document is refused."""
        self.get_event()  # type: ignore[no-untyped-call]  # the stream's start
        node = None if self.check_event(yaml.StreamEndEvent) else self.compose_document()
        if not self.check_event(yaml.StreamEndEvent):
            raise self._refuse("a second YAML document ('---'); ml.yaml holds exactly one: remove the '---' and merge the two")
        return node


def load(raw: bytes, file: str = "ml.yaml", *, size: int | None = None) -> Document:
    """Parse ml.yaml's bytes (size: the file's real size when raw was cut short)."""
    text = decode(raw, file, size)
    loader = _GuardedLoader(text, file)
    try:
        node = loader.single_node()
    except yaml.MarkedYAMLError as e:
        raise _yaml_error(file, e) from None
    finally:
        loader.dispose()
    doc = Document(file, None)
    if node is None:
        raise _fail(file, 1, 1, "file is empty; `ml-ci init` writes a starter ml.yaml")
    budget = [MAX_NODES]
    problems: list[Problem] = []
    doc.data = _build(node, (), doc, problems, budget, set())
    if problems:
        raise ConfigError(problems)
    return doc


_constructor = yaml.constructor.SafeConstructor()


def _build(node: yaml.Node, path: Path_, doc: Document, problems: list[Problem], budget: list[int], active: set[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        m = node.start_mark
        raise _fail(
            doc.file,
            m.line + 1,
            m.column + 1,
            f"aliases expand to more than {MAX_NODES:,} values (an alias bomb?); write the values out",
        )
    mark = Mark(node.start_mark.line + 1, node.start_mark.column + 1)
    doc.value_marks.setdefault(path, mark)
    if node.tag not in _TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        problems.append(
            Problem(
                doc.file,
                mark.line,
                mark.col,
                dotted(path),
                f"the tag {tag!r} is not allowed; ml.yaml holds plain data only: remove the tag",
            )
        )
        return None
    if id(node) in active:
        raise ConfigError(
            [
                Problem(
                    doc.file,
                    mark.line,
                    mark.col,
                    dotted(path),
                    "this alias refers to the value that contains it (a recursive anchor); write the values out",
                )
            ]
        )
    if isinstance(node, yaml.ScalarNode):
        doc.raw[path] = (node.value, node.style)
        if node.tag == "tag:yaml.org,2002:timestamp":
            return node.value  # dates stay text: nothing in ml.yaml is a date
        value = _constructor.construct_object(node, deep=True)
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(
                Problem(
                    doc.file,
                    mark.line,
                    mark.col,
                    dotted(path),
                    f"{node.value} is not a finite number; write a "
                    "number (NaN and infinity would make every comparison meaningless)",
                )
            )
        return value
    active.add(id(node))
    try:
        if isinstance(node, yaml.SequenceNode):
            return [_build(child, (*path, i), doc, problems, budget, active) for i, child in enumerate(node.value)]
        out: dict[str, Any] = {}
        for knode, vnode in node.value:
            kmark = Mark(knode.start_mark.line + 1, knode.start_mark.column + 1)
            if knode.tag == "tag:yaml.org,2002:merge":
                problems.append(
                    Problem(
                        doc.file, kmark.line, kmark.col, dotted(path), "merge keys ('<<') are not supported: write the keys out"
                    )
                )
                continue
            if not isinstance(knode, yaml.ScalarNode):
                problems.append(
                    Problem(doc.file, kmark.line, kmark.col, dotted(path), "a key must be plain text, not a list or mapping")
                )
                continue
            key = knode.value
            # Keys are always read as text here, so `on:` stays "on" (PyYAML would make it True).
            if key in out:
                first = doc.key_marks[(*path, key)]
                problems.append(
                    Problem(
                        doc.file,
                        kmark.line,
                        kmark.col,
                        dotted((*path, key)),
                        f"duplicate key (first defined at line {first.line}); YAML would silently keep only the last: remove one",
                    )
                )
                continue
            doc.key_marks[(*path, key)] = kmark
            out[key] = _build(vnode, (*path, key), doc, problems, budget, active)
        return out
    finally:
        active.discard(id(node))
