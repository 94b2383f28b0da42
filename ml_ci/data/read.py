"""Read a split file (CSV or TSV, JSON / JSON Lines, Parquet, CoNLL columns) into a Table, with row locations.

Parsing is ours rather than `datasets.load_dataset("csv")` so that every problem names its file
and line (a ragged row, bad quoting, a byte that is not UTF-8), nothing is written to a cache,
and a file above the size cap is refused before a byte of it is read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

from ml_ci.data.table import Table
from ml_ci.errors import DataCheckError, OperationalError

# Larger files are refused before reading: the whole split is held in memory, and a repository
# that carries more than this belongs on the hub (data.hub) or in object storage.
MAX_FILE_BYTES = 1 << 30

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".conll": "conll",
}
# The columns a CoNLL file is read into: each sentence's words and their tags (token-classification's
# default data.tokens_column and data.tags_column).
CONLL_COLUMNS = ("tokens", "tags")
# A line that starts a document in CoNLL-2003, not a word.
DOCSTART = "-DOCSTART-"
# What a delimited file is split on when data.delimiter does not say.
DELIMITERS = {"csv": ",", "tsv": "\t"}
# How a delimiter is named in messages ("quote values that contain tabs").
_DELIMITER_NAMES: dict[str, str] = {",": "commas", "\t": "tabs", ";": "semicolons", "|": "'|' characters"}
_ONE = {",": "a comma", "\t": "a tab", ";": "a semicolon", "|": "a '|'"}


def infer_format(path: str, configured: str | None) -> str | None:
    """The configured format, else the one the extension names; None when neither says."""
    return configured or FORMATS.get(Path(path).suffix.lower())


def delimiter_of(fmt: str, configured: str | None) -> str:
    """data.delimiter, else a tab for TSV and a comma for CSV. `\\t` as written unquoted in YAML is a tab."""
    if configured == "\\t":
        return "\t"
    return configured or DELIMITERS.get(fmt, ",")


def _shown_delimiter(delimiter: str) -> str:
    return '"\\t"' if delimiter == "\t" else repr(delimiter)


def _plural(delimiter: str) -> str:
    return _DELIMITER_NAMES.get(delimiter, f"{delimiter!r} characters")


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


def check_size(path: Path, source: str, limit: int = MAX_FILE_BYTES, *, key: str | None = None) -> None:
    """Refuse a file above the cap (or one that cannot be opened) before reading it. `key` is the
    ml.yaml setting that names the file (data.validation): a wrong path is fixed there."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        named = f" (named by {key} in ml.yaml: fix the path there or add the file)" if key else ""
        raise OperationalError(f"{source}: no such file{named}") from None
    except OSError as e:
        raise OperationalError(f"{source}: cannot read: {e.strerror}") from None
    if path.is_dir():
        raise OperationalError(f"{source}: is a folder, not a data file")
    if size > limit:
        raise DataCheckError(
            f"{source}: the file is {_size(size)}, above ml-ci's cap of {_size(limit)} for a data file; "
            "not read. Put large datasets on the hub (data.hub) or sample them"
        )


def read_bytes(path: Path, source: str, limit: int = MAX_FILE_BYTES, *, key: str | None = None) -> bytes:
    check_size(path, source, limit, key=key)
    try:
        return path.read_bytes()
    except OSError as e:
        raise OperationalError(f"{source}: cannot read: {e.strerror}") from None


def file_fingerprint(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def decode(data: bytes, source: str) -> str:
    """UTF-8 (a byte-order mark is allowed); otherwise name the line and the byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataCheckError(
            f"{source}:{line}: not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}); save the file as UTF-8"
        ) from None


def _other_delimiter(header: list[str], delimiter: str) -> str | None:
    """The delimiter a one-field header was really split on (a TSV read as CSV), if it holds one."""
    if len(header) != 1:
        return None
    return next((d for d in ("\t", ";", "|", ",") if d != delimiter and d in header[0]), None)


def parse_csv(text: str, source: str, delimiter: str = ",") -> tuple[dict[str, list[object]], list[str]]:
    """Columns and row locations; an empty field is a missing value (as pandas reads it). Quoting
    is CSV's (a field may be quoted to hold the delimiter), for TSV too, as pandas reads it."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    locations: list[str] = []
    end = 0  # the last line of the previous record: a record starts on the line after it
    try:
        for record in reader:
            start, end = end + 1, reader.line_num
            if not record:  # a blank line
                continue
            if header is None:
                header = [name.strip() for name in record]
                seen = [n for i, n in enumerate(header) if n in header[:i]]
                if seen:
                    raise DataCheckError(f"{source}:{start}: the header names column {seen[0]!r} twice")
                if (other := _other_delimiter(header, delimiter)) is not None:
                    # One column whose name holds a tab: the file is split on tabs, not on commas.
                    raise DataCheckError(
                        f"{source}:{start}: the header {header[0]!r} holds {_ONE[other]} but is read as "
                        f"one column, split on {_plural(delimiter)}; set data.delimiter: "
                        f"{_shown_delimiter(other)}" + (" (or name the file .tsv)" if other == "\t" else "")
                    )
                continue
            if len(record) != len(header):
                raise DataCheckError(
                    f"{source}:{start}: {len(record)} fields, but the header has {len(header)} "
                    f"({', '.join(header)}); quote values that contain "
                    f"{_plural(delimiter)}"
                )
            rows.append(record)
            locations.append(f"{source}:{start}")
    except csv.Error as e:
        raise DataCheckError(f"{source}:{reader.line_num}: malformed CSV: {e}") from None
    if header is None:
        raise DataCheckError(f"{source}: the file is empty; a CSV split needs a header row and data rows")
    columns: dict[str, list[object]] = {name: [r[i] if r[i] != "" else None for r in rows] for i, name in enumerate(header)}
    return columns, locations


def _columns_of(records: list[dict[str, object]]) -> dict[str, list[object]]:
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    return {name: [r.get(name) for r in records] for name in names}


def parse_json(text: str, source: str) -> tuple[dict[str, list[object]], list[str]]:
    """A JSON array of objects, or JSON Lines (one object a line), told apart by the first character."""
    if text.lstrip().startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataCheckError(f"{source}:{e.lineno}: invalid JSON: {e.msg}") from None
        for i, record in enumerate(value, 1):
            if not isinstance(record, dict):
                raise DataCheckError(
                    f"{source}: row {i}: expected an object with the columns as keys, got {type(record).__name__}"
                )
        return _columns_of(value), [f"{source}: row {i}" for i in range(1, len(value) + 1)]
    records: list[dict[str, object]] = []
    locations: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataCheckError(f"{source}:{n}: invalid JSON: {e.msg} (column {e.colno})") from None
        if not isinstance(record, dict):
            raise DataCheckError(f"{source}:{n}: expected an object with the columns as keys, got {type(record).__name__}")
        records.append(record)
        locations.append(f"{source}:{n}")
    return _columns_of(records), locations


def parse_conll(text: str, source: str) -> tuple[dict[str, list[object]], list[str]]:
    """CoNLL column format: one word a line, `word ... TAG` (the first whitespace-separated field is the
    word, the last its tag, so CoNLL-2003's `EU NNP B-NP B-ORG` reads as `EU` tagged `B-ORG`), a blank
    line between sentences, `-DOCSTART-` lines skipped. A sentence's location is its first word's line;
    its word i is on the line after that + i (no blank line falls inside a sentence)."""
    tokens: list[object] = []
    tags: list[object] = []
    locations: list[str] = []
    words: list[str] = []
    labels: list[str] = []
    start = 0

    def close() -> None:
        if words:
            tokens.append(list(words))
            tags.append(list(labels))
            locations.append(f"{source}:{start}")
            words.clear()
            labels.clear()

    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0] == DOCSTART:
            close()
            continue
        if len(fields) < 2:
            raise DataCheckError(
                f"{source}:{n}: one field ({fields[0]!r}); a CoNLL line is a word and its tag separated by "
                "whitespace (`EU B-ORG`), and a blank line ends a sentence"
            )
        if not words:
            start = n
        words.append(fields[0])
        labels.append(fields[-1])
    close()
    return dict(zip(CONLL_COLUMNS, (tokens, tags), strict=True)), locations


def parse_parquet(data: bytes, source: str) -> tuple[dict[str, list[object]], list[str]]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise OperationalError(f"{source}: reading Parquet needs pyarrow: pip install 'ml-ci[train]'") from None

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as e:
        raise DataCheckError(f"{source}: not a readable Parquet file: {e}") from None
    columns: dict[str, list[object]] = table.to_pydict()
    return columns, [f"{source}: row {i}" for i in range(1, table.num_rows + 1)]


def read_table(
    path: Path,
    *,
    role: str,
    source: str,
    fmt: str,
    delimiter: str | None = None,
    limit: int = MAX_FILE_BYTES,
    key: str | None = None,
) -> Table:
    """Read one split file. DataCheckError for bad content (exit 3), OperationalError when unreadable (exit 1).
    `key` names the ml.yaml setting that points at the file, for a missing one."""
    data = read_bytes(path, source, limit, key=key)
    if fmt == "parquet":
        columns, locations = parse_parquet(data, source)
    elif fmt == "json":
        columns, locations = parse_json(decode(data, source), source)
    elif fmt == "conll":
        columns, locations = parse_conll(decode(data, source), source)
    else:
        columns, locations = parse_csv(decode(data, source), source, delimiter_of(fmt, delimiter))
    return Table(role=role, source=source, columns=columns, locations=locations, fingerprint=file_fingerprint(data))
