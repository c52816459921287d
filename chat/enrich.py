"""`concierge enrich`: descriptions for items that have none, written by the generative model from the
item's own catalog facts, checked like any explanation, marked as generated, never over a human one."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from chat.checker import MIN_CONTENT_WORDS, ExplanationChecker
from chat.linker import TitleIndex
from chat.lm.base import Generator, Message, complete
from chat.prompts import load
from storage.records import CatalogItem
from storage.repository import CatalogRepository

log = logging.getLogger(__name__)
_SENTENCES = re.compile(r"^(.*?[.!?])(?:\s|$)(.*?[.!?])?", re.DOTALL)


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


def describe(generator: Generator | None, item: CatalogItem, checker: ExplanationChecker) -> tuple[str, bool]:
    """(description, written by the model?) for one item."""
    if generator is not None:
        messages: list[Message] = [{"role": "system", "content": load("enrich_system.txt").strip()},
                                   {"role": "user", "content": facts_line(item)}]
        text = _two_sentences(complete(generator, messages, max_new_tokens=80))
        verdict = checker.check(text, item) if text else None
        if verdict is not None and verdict.ok and len(text) >= 20:
            return text, True
        log.info("generated description for %s rejected: %s", item.id, verdict.problems if verdict else "empty")
    return template_description(item), False


def enrich(repo: CatalogRepository, generator: Generator | None, limit: int | None = None,
           progress: Callable[[int, int], None] | None = None) -> EnrichReport:
    """Describe up to `limit` items that have no description."""
    todo = repo.without_description()[:limit]
    items = repo.all_items()
    checker = ExplanationChecker(TitleIndex(items), {p for it in items for p in it.creators if len(p) > 3},
                                 min_words=MIN_CONTENT_WORDS)
    report = EnrichReport()
    for n, item in enumerate(todo, 1):
        text, by_model = describe(generator, item, checker)
        if not repo.set_generated_description(item.id, text):
            report.skipped += 1
        elif by_model:
            report.generated += 1
        else:
            report.template += 1
        if progress:
            progress(n, len(todo))
    return report
