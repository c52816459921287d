"""Catalog import: JSONL, CSV (with a field mapping) and ReDial's movies.json.

Every row is validated before anything is written; a bad row raises CatalogImportError
naming the file, line and field, and the caller commits nothing of that file.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import unicodedata
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from common.errors import CatalogImportError
from storage.attributes import AttributeSpec, load_schema, schema_path
from storage.records import CatalogItem

log = logging.getLogger(__name__)

FIELDS = ("id", "domain", "title", "original_title", "year", "creators", "genres", "description", "language")
LIST_FIELDS = ("creators", "genres")
FORMATS = ("jsonl", "csv", "redial")
_YEAR_IN_NAME = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)\s*$")


def embedded_catalog_files() -> list[Path]:
    """The JSONL files of the default catalog shipped inside this package."""
    folder = resources.files("storage") / "catalog_data"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".jsonl"))


def demo_catalog_file(name: str) -> Path | None:
    """The file of a demo catalog shipped inside this package by name ("shop"), or None."""
    path = Path(str(resources.files("storage") / "catalog_data" / name / "products.jsonl"))
    return path if name.isidentifier() and path.is_file() else None


def detect_format(path: Path) -> str:
    """Guess the format from the name and the first character."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".jsonl":
        return "jsonl"
    if suffix == ".json":
        return "redial"
    raise CatalogImportError(str(path), None, None,
                             f"unknown file type '{suffix}'; use .jsonl, .csv or ReDial movies.json, "
                             "or pass --format")


def load_file(path: Path, fmt: str | None = None, mapping: Mapping[str, str] | None = None,
              domain: str = "movie", schema: Mapping[str, AttributeSpec] | None = None) -> list[CatalogItem]:
    """Read and validate a whole catalog file (`iter_file` for one that need not fit in memory).

    Raises:
        CatalogImportError: for the first invalid row (file, line and field named).
    """
    return list(iter_file(path, fmt, mapping, domain, schema))


def iter_file(path: Path, fmt: str | None = None, mapping: Mapping[str, str] | None = None,
              domain: str = "movie", schema: Mapping[str, AttributeSpec] | None = None) -> Iterator[CatalogItem]:
    """The validated items of a catalog file, one at a time (memory bounded by the ids seen, for duplicates).

    Args:
        path: the file.
        fmt: "jsonl", "csv" or "redial"; guessed from the name when None.
        mapping: catalog field or declared attribute -> column name in the file, e.g. {"title": "name",
            "price": "cost"}.
        domain: the domain of rows that do not name one.
        schema: the attributes the catalog declares; None: the schema file beside `path` (`catalog_schema`).

    Raises:
        CatalogImportError: for the first invalid row (file, line and field named), when it is reached.
    """
    schema = catalog_schema(path) if schema is None else schema
    if not path.is_file():
        raise CatalogImportError(str(path), None, None, "no such file")
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise CatalogImportError(str(path), None, None, f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
    mapping = dict(mapping or {})
    for key in mapping:
        if key not in FIELDS and key != "extra" and key not in schema:
            raise CatalogImportError(str(path), None, None,
                                     f"unknown catalog field '{key}' in the mapping; valid: "
                                     f"{', '.join([*FIELDS, *schema])}")
    rows = _redial_rows(path) if fmt == "redial" else _jsonl_rows(path) if fmt == "jsonl" else _csv_rows(path)
    seen: dict[str, int] = {}
    for line, raw in rows:
        item = _validate(str(path), line, _apply_mapping(raw, mapping), domain, schema)
        if item.id in seen:
            raise CatalogImportError(str(path), line, "id", f"duplicate id '{item.id}' (first on line {seen[item.id]})")
        seen[item.id] = line
        yield item
    if not seen:
        raise CatalogImportError(str(path), None, None, "the file has no rows")


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CatalogImportError(str(path), line_no, None, f"not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise CatalogImportError(str(path), line_no, None, "each line must be a JSON object")
            yield line_no, obj


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            if None in row:
                raise CatalogImportError(str(path), reader.line_num, None, "more cells than header columns")
            yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}


def _redial_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CatalogImportError(str(path), exc.lineno, None, f"not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise CatalogImportError(str(path), None, None, "expected ReDial movies.json: an object keyed by movie id")
    for n, (movie_id, entry) in enumerate(data.items(), 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise CatalogImportError(str(path), None, "name", f"entry #{n} (movie id {movie_id}) has no name")
        m = _YEAR_IN_NAME.match(entry["name"])
        title, year = (m["title"], int(m["year"])) if m else (entry["name"].strip(), None)
        if not title.strip():
            # ReDial itself has a couple of entries whose name is only "(2015)": unusable, not malformed.
            log.warning("%s: skipping ReDial movie %s, its name %r has no title", path, movie_id, entry["name"])
            continue
        yield n, {
            "id": f"redial:{movie_id}", "domain": "movie", "title": " ".join(title.split()), "year": year,
            "creators": entry.get("director") or [], "genres": entry.get("genre") or [],
            "description": entry.get("plot") or "", "language": None,
            "extra": {"redial_id": str(movie_id), "stars": entry.get("star") or [],
                      "writers": entry.get("writer") or [], "imdb_id": entry.get("imdb_id")},
        }


def catalog_schema(path: Path) -> dict[str, AttributeSpec]:
    """The attributes declared beside a catalog file (`storage/attributes.py`), none when it has no schema file."""
    found = schema_path(path)
    return load_schema(found) if found else {}


def _attributes(raw: dict[str, Any], schema: Mapping[str, AttributeSpec],
                fail: Any) -> dict[str, Any]:
    """A row's typed attribute values: its `attributes` object, and columns named as declared attributes."""
    given = raw.get("attributes", {})
    if isinstance(given, str):  # a CSV cell holding JSON
        try:
            given = json.loads(given)
        except json.JSONDecodeError:
            raise fail("attributes", "must be a JSON object") from None
    if not isinstance(given, dict):
        raise fail("attributes", "must be an object of declared attributes")
    values = {**{k: v for k, v in raw.items() if k in schema}, **given}
    out: dict[str, Any] = {}
    for name, value in values.items():
        spec = schema.get(name)
        if spec is None:
            declared = ", ".join(schema) or "none: add a schema file beside the catalog (storage/attributes.py)"
            raise fail(f"attributes.{name}", f"'{name}' is not a declared attribute; declared: {declared}")
        if value is None or value == "":
            continue
        try:
            out[name] = spec.check(value)
        except ValueError as exc:
            raise fail(f"attributes.{name}", str(exc)) from None
    return out


def _apply_mapping(raw: dict[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    if not mapping:
        return raw
    out = dict(raw)
    for source in set(mapping.values()) - set(mapping):  # a mapped column is its field, not also an extra
        out.pop(source, None)
    for target, source in mapping.items():
        if source in raw:
            out[target] = raw[source]
    return out


def _validate(path: str, line: int, raw: dict[str, Any], default_domain: str,
              schema: Mapping[str, AttributeSpec] | None = None) -> CatalogItem:
    def fail(field: str, problem: str) -> CatalogImportError:
        return CatalogImportError(path, line, field, problem)

    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        raise fail("title", "missing or empty title")
    domain = raw.get("domain", default_domain)
    if not isinstance(domain, str) or not re.fullmatch(r"[a-z][a-z0-9_-]{0,39}", domain):
        raise fail("domain", f"'{domain}' is not a domain name (lowercase letters, e.g. movie, book)")
    year = raw.get("year")
    if year is not None and year != "":
        try:
            year = int(str(year).strip())
        except ValueError:
            raise fail("year", f"'{year}' is not a year") from None
        if not -3000 <= year <= 2100:
            raise fail("year", f"{year} is out of range")
    else:
        year = None
    lists: dict[str, tuple[str, ...]] = {}
    for key in LIST_FIELDS:
        value = raw.get(key, [])
        if isinstance(value, str):
            value = [v for v in re.split(r"[|;,]", value)]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(key, "must be a list of strings or a '|'-separated string")
        lists[key] = tuple(v.strip() for v in value if v.strip())
    genres = tuple(g.lower() for g in lists["genres"])
    for key in ("original_title", "description", "language"):
        if raw.get(key) is not None and not isinstance(raw.get(key), str):
            raise fail(key, "must be a string")
    extra = raw.get("extra", {})
    if not isinstance(extra, dict):
        raise fail("extra", "must be an object")
    extra = dict(extra)
    attributes = _attributes(raw, schema or {}, fail) if schema or "attributes" in raw else {}
    for key, value in raw.items():
        if key not in FIELDS and key not in ("extra", "attributes") and key not in (schema or {}):
            extra[key] = value
    item_id = raw.get("id")
    if item_id is None or item_id == "":
        item_id = f"{domain}:{slugify(title)}" + (f"-{year}" if year is not None else "")
    if not isinstance(item_id, str | int) or len(str(item_id)) > 200:
        raise fail("id", "must be a string of at most 200 characters")
    return CatalogItem(
        id=str(item_id), domain=domain, title=title.strip(), original_title=(raw.get("original_title") or None),
        year=year, creators=lists["creators"], genres=genres, description=(raw.get("description") or "").strip(),
        language=raw.get("language") or None, extra=extra, attributes=attributes,
    )


def slugify(text: str) -> str:
    """ASCII slug of a title; CJK titles keep their characters (ids only need to be stable)."""
    norm = unicodedata.normalize("NFKD", text)
    ascii_ = "".join(c for c in norm if not unicodedata.combining(c)).lower()
    slug = re.sub(r"[^\w]+", "-", ascii_, flags=re.UNICODE).strip("-")
    return slug or "item"
