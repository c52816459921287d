"""`concierge enrich`: descriptions for items that have none, written by the generative model from the
item's own catalog facts, checked like any explanation, marked as generated, never over a human one."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from chat.checker import MIN_CONTENT_WORDS, ExplanationChecker
from chat.lm.base import Generator, Message, complete_many
from chat.prompts import load
from chat.titles import TitleIndex
from storage.records import CatalogItem
from storage.repository import CatalogRepository

log = logging.getLogger(__name__)
_SENTENCES = re.compile(r"^(.*?[.!?])(?:\s|$)(.*?[.!?])?", re.DOTALL)
BATCH = 8  # descriptions written in one batched decode (one after another by a backend without batches)


@dataclass
class EnrichReport:
    generated: int = 0  # written by the model and passed the checker
    template: int = 0  # the model's text failed the checker: a description built from the facts instead
    skipped: int = 0  # a human description appeared meanwhile


def facts_line(item: CatalogItem) -> str:
    kind = "film" if item.domain == "movie" else "book" if item.domain == "book" else item.domain
    role = "directed by" if item.domain == "movie" else "by"
    bits = [f"title: {item.title}", f"type: {kind}"]
    if item.year:
        bits.append(f"year: {item.year}")
    if item.creators:
        bits.append(f"{role}: {', '.join(item.creators)}")
    if item.genres:
        bits.append(f"genres: {', '.join(item.genres)}")
    stars = [s for s in item.extra.get("stars") or () if isinstance(s, str)]
    if stars:
        bits.append(f"starring: {', '.join(stars[:3])}")
    return "; ".join(bits)


def template_description(item: CatalogItem) -> str:
    kind = "film" if item.domain == "movie" else "book" if item.domain == "book" else "title"
    genres = "/".join(item.genres[:2])
    role = "directed by" if item.domain == "movie" else "by"
    head = " ".join(x for x in (f"{item.year}" if item.year else "", genres, kind) if x)
    article = "An" if head[:1].lower() in "aeiou8" else "A"
    return f"{article} {head}" + (f" {role} {', '.join(item.creators)}" if item.creators else "") + "."


def _two_sentences(text: str) -> str:
    m = _SENTENCES.match(text.strip().split("\n\n", 1)[0].strip())
    return " ".join(g.strip() for g in (m.groups() if m else ()) if g)


def describe_many(generator: Generator | None, items: list[CatalogItem],
                  checker: ExplanationChecker) -> list[tuple[str, bool]]:
    """(description, written by the model?) for each item, the model's texts written in one batch."""
    texts = [""] * len(items)
    if generator is not None:
        prompts: list[list[Message]] = [[{"role": "system", "content": load("enrich_system.txt").strip()},
                                         {"role": "user", "content": facts_line(item)}] for item in items]
        texts = [_two_sentences(raw) for raw in complete_many(generator, prompts, max_new_tokens=80)]
    out = []
    for item, text in zip(items, texts, strict=True):
        verdict = checker.check(text, item) if text else None
        if verdict is not None and verdict.ok and len(text) >= 20:
            out.append((text, True))
            continue
        if generator is not None:
            log.info("generated description for %s rejected: %s", item.id, verdict.problems if verdict else "empty")
        out.append((template_description(item), False))
    return out


def describe(generator: Generator | None, item: CatalogItem, checker: ExplanationChecker) -> tuple[str, bool]:
    """(description, written by the model?) for one item."""
    return describe_many(generator, [item], checker)[0]


def enrich(repo: CatalogRepository, generator: Generator | None, limit: int | None = None,
           progress: Callable[[int, int], None] | None = None) -> EnrichReport:
    """Describe up to `limit` items that have no description."""
    todo = repo.without_description()[:limit]
    items = repo.all_items()
    checker = ExplanationChecker(TitleIndex(items), {p for it in items for p in it.creators if len(p) > 3},
                                 min_words=MIN_CONTENT_WORDS)
    report = EnrichReport()
    for start in range(0, len(todo), BATCH):
        chunk = todo[start:start + BATCH]
        for n, (item, (text, by_model)) in enumerate(zip(chunk, describe_many(generator, chunk, checker),
                                                        strict=True), start + 1):
            if not repo.set_generated_description(item.id, text):
                report.skipped += 1
            elif by_model:
                report.generated += 1
            else:
                report.template += 1
            if progress:
                progress(n, len(todo))
    return report
