"""Replies: a prompt rendered from the state and this turn's candidates, streamed line by line,
each line checked against the catalog; a line that fails is replaced by a template line."""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from chat.checker import ENDS_AT_AN_INITIAL, MIN_CONTENT_WORDS, ExplanationChecker, first_sentence
from chat.languages import phrase
from chat.languages.names import genre_label, language_label, title_for, wish_label, wish_labels, year_range_label
from chat.lexicon import HAN
from chat.lm.base import BatchGenerator, Generator, Message, complete_many, complete_within
from chat.prompts import load
from chat.reading import direction_label
from chat.state import DialogueState
from chat.titles import TitleIndex
from common.errors import LMError
from retrieval.ranking import series_key
from storage.attributes import AttributeSpec, shown_values
from storage.records import CatalogItem

log = logging.getLogger(__name__)
# words of a message that tries to instruct the model: such a message is never echoed back in a reason
_INSTRUCTION = re.compile(r"\b(?:ignore|instructions?|system prompt|prompt|password|pretend|disregard|jailbreak)\b"
                          r"|忽略|指令|提示词|密码", re.IGNORECASE)


@dataclass(frozen=True)
class Piece:
    """A checked piece of the reply; a reason piece carries the item it explains."""

    text: str
    item_index: int | None = None
    reason: str | None = None
    path: str | None = None  # "first_pass" | "regenerated" | "template"
    claim: str | None = None  # the part after the deterministic lead: what the checker checked


def say(key: str, language: str, /, **values: object) -> str:
    """A fixed part of the reply in `language` (chat/languages/*.toml, [templates])."""
    return phrase("templates", key, language, **values)


MEDIA = ("movie", "book")  # titled works (《》 in Chinese, a year beside the title); anything else is a thing sold


def item_heading(item: CatalogItem, language: str) -> str:
    title = item.display_title(language)
    if item.domain not in MEDIA:
        return say("heading_thing", language, title=title)
    return say("heading", language, title=title, year=item.year) if item.year else say("heading_no_year", language,
                                                                                         title=title)


def wants_summary(state: DialogueState, titles: dict[str, CatalogItem], language: str,
                  specs: Mapping[str, AttributeSpec] | None = None) -> str:
    """The user's stated preferences in a few words, from the state only (`specs`: the catalog's attributes)."""
    bits: list[str] = [label for _name, label in wish_labels(state, specs or {}, language)]
    if state.languages_wanted:
        bits.append(say("languages_join", language).join(language_label(c, language)
                                                           for c in state.languages_wanted))
    if state.genres_wanted:
        bits.append(say("genres_join", language).join(genre_label(g, language) for g in state.genres_wanted))
    liked = [titles[i].display_title(language) for i in state.liked[-3:] if i in titles]
    if liked:
        bits.append(say("like", language, titles=say("genres_join", language).join(liked)))
    if state.people_wanted:
        bits.append(say("people_join", language).join(state.people_wanted[-2:]))
    bits += [direction_label(d.name, d.sign, language) for d in state.directions[-2:]]
    for avoided in ([genre_label(g, language) for g in state.genres_avoided], state.people_avoided[-2:],
                    [language_label(c, language) for c in state.languages_avoided]):
        if avoided:
            bits.append(say("avoid", language, things=say("genres_join", language).join(avoided)))
    if state.year_min or state.year_max:
        bits.append(year_range_label(state.year_min, state.year_max, language))
    if not bits and state.statements and not _INSTRUCTION.search(state.statements[-1]):
        bits.append(short_statement(state.statements[-1]))
    return say("summary_join", language).join(b for b in bits if b) or say("anything", language)


def short_statement(text: str, words: int = 8) -> str:
    """The first few words of what the user said, for echoing back ("something with time travel")."""
    if HAN.search(text):
        return text[:16]
    parts = text.split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


def lead(item: CatalogItem, state: DialogueState, known: dict[str, CatalogItem], language: str,
         specs: Mapping[str, AttributeSpec] | None = None) -> str:
    """The deterministic start of a reason: the user's own stated reason that this item answers (a wish on an
    attribute first, with the item's own value: "Under $100, as you asked: $79. ")."""
    cited = cited_wish(item, state, specs, language)
    if cited is not None:
        spec, label = cited
        return say("lead_wish", language, Wish=label[:1].upper() + label[1:],
                   value=spec.text(item.attributes[spec.name], language))
    shared = [g for g in item.genres if g in state.genres_wanted]
    liked = [known[i] for i in reversed(state.liked) if i in known and known[i].domain == item.domain]
    if state.directions:
        d = state.directions[-1]
        label = direction_label(d.name, d.sign, language)
        return say("lead_direction", language, label=label, Label=label[:1].upper() + label[1:])
    key = series_key(item.title)
    same = [x for x in liked if key and series_key(x.title) == key and x.id != item.id]
    if same:  # a catalog fact the series feature ranks by: say it
        return say("lead_series", language, title=title_for(same[0], language))
    if shared:
        return say("lead_genres", language,
                   genres=say("lead_genres_join", language).join(genre_label(g, language) for g in shared))
    if liked:
        return say("lead_liked", language, title=title_for(liked[0], language))
    if state.statements and not _INSTRUCTION.search(state.statements[-1]):
        return say("lead_said", language, said=short_statement(state.statements[-1]))
    return say("lead_start", language)


def cited_wish(item: CatalogItem, state: DialogueState, specs: Mapping[str, AttributeSpec] | None,
               language: str) -> tuple[AttributeSpec, str] | None:
    """The numeric wish a reason's lead cites with the item's own value ("Under $100, as you asked: $79."): the first
    one the item meets; its spec and the wish as said back."""
    for name, wish in state.attributes.items():
        spec, value = (specs or {}).get(name), item.attributes.get(name)
        if spec is not None and spec.type == "number" and value is not None \
                and (wish.low is not None or wish.high is not None) and wish.constraint(name).satisfied_by(value):
            return spec, wish_label(spec, wish, language)
    return None


def template_reason(item: CatalogItem, language: str, wanted: Sequence[str] = (),
                    specs: Mapping[str, AttributeSpec] | None = None, state: DialogueState | None = None) -> str:
    """Deterministic facts about the item, from catalog fields only (follows the lead): for an item with declared
    attributes, the ones the catalog shows ("$79, rated 4.4, in stock") less the one the lead cites, and its
    description in the reply's language."""
    cited = cited_wish(item, state, specs, language) if state is not None else None
    shown = [text for name, text in shown_values(specs or {}, item.attributes, language)
             if cited is None or cited[0].name != name]
    if shown or item.attributes:
        plot = item.extra.get(f"description_{language}") if language != "en" else None
        plot = first_sentence(plot if isinstance(plot, str) and plot else item.description)
        if not shown:
            return plot
        facts = say("product_facts_join", language).join(shown)
        return say("reason_product", language, facts=facts[:1].upper() + facts[1:], plot=plot).strip()
    creator = ", ".join(item.creators[:2])
    genres = sorted(item.genres, key=lambda g: g not in wanted)[:2]  # the genres the user asked for first
    kinds = "/".join(genre_label(g, language) for g in genres) or say("unknown_kind", language)
    what = "film" if item.domain == "movie" else "book"
    by = say(f"by_{what}", language, creators=creator) if creator else ""
    return say("reason", language, article=_article(kinds), kinds=kinds, what=say(what, language), by=by,
               plot=first_sentence(item.description)).strip()


def _article(word: str) -> str:
    """English "a" or "an" before `word` (for the templates' {article})."""
    return "an" if word[:1] in tuple("aeiou") else "a"


def reply_messages(candidates: Sequence[CatalogItem], language: str) -> list[Message]:
    """Render the reply prompt from the candidates' catalog facts (package-data templates).

    Neither the user's message nor the state is in it: the deterministic lead already says which wish an
    item answers, and with them in view Qwen continued "You wanted thriller: " with the wish ("no horror.",
    "up to 1949.") instead of the item. Each row starts with the plot, so a model that copies copies a fact.
    """
    lang = "zh" if language == "zh" else "en"
    rows = []
    for item in candidates:
        kind = "/".join(genre_label(g, lang) for g in item.genres[:3])
        creators = ", ".join(item.creators[:2])
        domain = "film" if item.domain == "movie" else "book"
        by = say(f"row_by_{domain}", lang, creators=creators) if creators else ""
        what = say("row", lang, kinds=kind, what=say(domain, lang), by=by)
        plot = first_sentence(item.description, 200)
        rows.append(f"* {item.display_title(lang)}: " + (f"{plot} ({what})" if plot else f"{what}."))
    user = load(f"reply_user_{lang}.txt").format(items="\n".join(rows))
    return [{"role": "system", "content": load(f"reply_system_{lang}.txt").strip()},
            {"role": "user", "content": user.strip()}]


def intro(state: DialogueState, known: dict[str, CatalogItem], n: int, language: str,
          specs: Mapping[str, AttributeSpec] | None = None, things: bool = False) -> str:
    """The deterministic opening line: how many picks, for what (`things`: products, not titled works)."""
    wants = wants_summary(state, known, language, specs)
    picks = say("picks_one", language) if n == 1 else say("picks", language, n=n)
    kind = "_things" if things else ""
    if wants == say("anything", language):
        return say("intro_start" + kind, language, picks=picks, n=n)
    return say("intro" + kind, language, picks=picks, wants=wants, n=n)


_SENTENCE_STOPS = ("\n", ". ", "! ", "? ", "。", "！", "？")  # one sentence per reason: stop at its end
_SENTENCE_END = re.compile(r"^(.*[.!?。！？…])")


def clean_reason(raw: str, title: str = "") -> str:
    """The generated reason up to its last complete sentence (a cut-off tail is dropped), without a quote mark
    that is never closed or the item's `title` restated before a colon (Qwen: '"Home Alone: An eight-year-old')."""
    text = raw.strip().split("\n", 1)[0].strip()
    text = re.sub(r"^(reason|理由|\d+ words?)\s*[:：]\s*|^\d[.)]\s+", "", text, flags=re.IGNORECASE)
    if text[:1] in "\"“" and not re.search("[\"”]", text[1:]):
        text = text[1:]
    if title and text.lower().startswith(title.lower()) and text[len(title):len(title) + 1] in (":", "："):
        text = text[len(title) + 1:].lstrip()
    m = _SENTENCE_END.match(text)
    if m and ENDS_AT_AN_INITIAL.search(m.group(1)):
        return ""  # stopped at "Philip K.": the name, and the sentence, were cut off
    return m.group(1).strip() if m else ""


def reply_attempt_messages(item: CatalogItem, language: str, attempt: int) -> list[Message]:
    """The prompt for one item; the second attempt adds a stricter rule."""
    prompt = reply_messages([item], language)
    if attempt == 1:
        strict = say("strict", language)
        prompt[-1] = {"role": "user", "content": prompt[-1]["content"] + "\n" + strict}
    return prompt


def headings_and_leads(state: DialogueState, items: Sequence[CatalogItem], known: dict[str, CatalogItem],
                       language: str, specs: Mapping[str, AttributeSpec] | None = None) -> tuple[list[str], list[str]]:
    """Each item's numbered catalog heading ("1. Title (Year) — ") and the lead its reason starts with; together they
    are the prefill the model continues."""
    return ([f"{i + 1}. {item_heading(item, language)} — " for i, item in enumerate(items)],
            [lead(item, state, known, language, specs) for item in items])


def draft_reasons(generator: Generator, items: Sequence[CatalogItem], prefills: Sequence[str], language: str,
                  attempt: int = 0, max_reason_tokens: int = 64, within_s: float | None = None) -> list[str]:
    """The model's reason for each item, unchecked, in one batch: each prompt ends in the item's `prefills` (its
    heading and lead), which the model continues; "" where the sentence was cut off. One prompt alone is streamed
    and cut off after `within_s` seconds."""
    prompts: list[list[Message]] = [[*reply_attempt_messages(item, language, attempt),
                                     {"role": "assistant", "content": prefill}]
                                    for item, prefill in zip(items, prefills, strict=True)]
    if len(prompts) == 1 and within_s is not None:
        raws = [complete_within(generator, prompts[0], max_reason_tokens, _SENTENCE_STOPS, within_s)]
    else:
        raws = complete_many(generator, prompts, max_new_tokens=max_reason_tokens, stop=_SENTENCE_STOPS)
    return [clean_reason(raw, item.title) for item, raw in zip(items, raws, strict=True)]


# Under grounding "copied", 85% of a model reason's words must be the record's, in runs of four or more: on the
# judged set (evaluation/judged) 32 of the 0.5B default's 37 faithful English drafts reached it, 10 of its 77 bad ones
# did (the other checks refuse most of those); a reason in another language than the record's (English) cannot.
MIN_COPIED = 0.85


def reply_checker(titles: TitleIndex, people: set[str], user_items: Sequence[CatalogItem], language: str,
                  grounding: str = "copied") -> ExplanationChecker:
    """The gate a model-written reason must pass to be shown (`grounding`: the `reason_grounding` setting)."""
    system = [load(f"reply_system_{lang}.txt") for lang in ("en", "zh")]
    return ExplanationChecker(titles, people, user_items, prompt_texts=system, min_words=MIN_CONTENT_WORDS,
                              language=language, min_copied=MIN_COPIED if grounding == "copied" else 0.0)


def model_may_write(language: str, grounding: str) -> bool:
    """Whether a reason the model writes in `language` can pass the gate: under "copied" only in the records'
    language (the catalog schema's descriptions are English), so no time is spent on one that cannot."""
    return grounding != "copied" or language == "en"


def batches(generator: Generator) -> bool:
    """Whether `generator` writes several prompts at once for about the cost of one (a GPU, an AVX-512 CPU with bf16,
    a server taking requests in parallel); otherwise a list's reasons are written, checked and shown one by one."""
    return isinstance(generator, BatchGenerator) and bool(getattr(generator, "batched", True))


def write_reply(generator: Generator | None, state: DialogueState, items: Sequence[CatalogItem],
                known: dict[str, CatalogItem], titles: TitleIndex, language: str,
                max_reason_tokens: int = 64, people: set[str] | None = None,
                grounding: str = "copied", budget_s: float | None = None,
                events: Counter[str] | None = None, attempts: int = 2,
                specs: Mapping[str, AttributeSpec] | None = None) -> Iterator[Piece]:
    """Stream the reply: a fixed intro, then for each item its catalog heading and a reason.

    The heading ("1. Title (Year) — ") and the reason's lead (the user's own stated reason) come
    from the catalog and the state and are forced into the model's output as a prefill, so the
    model only finishes the sentence. A sentence that fails the gate (`reply_checker`), is cut off or
    repeats another is written once more with a stricter prompt (`attempts` 2), then replaced by the
    catalog's template. A backend that batches writes the list's reasons together (the failed ones
    batched again); any other writes, checks and shows them one by one, so the first is on screen while
    the next is written. Reasons are shown in order as soon as they
    are settled. After `budget_s` seconds no reason is asked of the model (one being written is cut off there): the
    rest are templates. `events` counts what happened to each reason the model was asked for ("refused", "cut off",
    "repeated", "lm error", "over budget"). `specs`: the catalog's declared attributes (price, rating), which the
    intro, the leads and the templates cite from the record.
    """
    started = time.perf_counter()
    events = events if events is not None else Counter()
    checker = reply_checker(titles, people or set(), [known[i] for i in state.mentioned if i in known], language,
                            grounding)
    if not model_may_write(language, grounding):
        generator = None
    headings, starts = headings_and_leads(state, items, known, language, specs)
    yield Piece(intro(state, known, len(items), language, specs, any(it.domain not in MEDIA for it in items)) + "\n")
    if items:
        yield Piece(headings[0] + starts[0])  # shown while the reasons are written
    bodies: dict[int, tuple[str, str]] = {}  # item index -> (reason body, path)
    shown = 0  # items whose reason is out

    def settled(final: bool) -> Iterator[Piece]:
        """The reasons of the next items in order, as far as they are settled (all of them when `final`)."""
        nonlocal shown
        while shown < len(items) and (final or shown in bodies):
            i, item = shown, items[shown]
            body, path = bodies.get(i) or (template_reason(item, language, state.genres_wanted, specs, state),
                                           "template")
            if i:
                yield Piece(headings[i] + starts[i])
            yield Piece(body + ("\n" if i < len(items) - 1 else ""), i, starts[i] + body, path, body)
            shown += 1

    def left_s() -> float | None:
        return None if budget_s is None else budget_s - (time.perf_counter() - started)

    groups = [list(range(len(items)))] if generator is not None and batches(generator) else \
        [[i] for i in range(len(items))]
    for group in groups if generator is not None else ():
        pending = group
        for attempt in range(attempts):
            remaining = left_s()
            if generator is None or (remaining is not None and remaining <= 0):
                events["over budget" if generator is not None else "lm error"] += len(pending)
                break
            try:
                drafts = draft_reasons(generator, [items[i] for i in pending],
                                       [headings[i] + starts[i] for i in pending], language, attempt,
                                       max_reason_tokens, remaining)
            except LMError as exc:  # the LM is down or slow: every reason not yet written is the catalog's template
                log.warning("reasons not written by the LM (%s); templates instead", exc)
                events["lm error"] += len(pending)
                generator = None
                break
            failed = []
            for i, body in zip(pending, drafts, strict=True):
                verdict = checker.check(body, items[i]) if body else None
                if verdict is not None and verdict.ok and body not in {b for b, _ in bodies.values()}:
                    bodies[i] = (body, "first_pass" if attempt == 0 else "regenerated")
                    continue
                why = "cut off" if verdict is None else "refused" if not verdict.ok else "repeated"
                events[why] += 1
                log.info("reason for %s (attempt %d) %s: %s; %r", items[i].id, attempt + 1, why,
                         verdict.problems if verdict is not None else "", body[:120])
                failed.append(i)
            pending = failed
            if not pending:
                break
            yield from settled(final=False)  # the reasons before the first one asked for again
        for i in pending:  # asked twice, or out of time: the catalog's template
            bodies.setdefault(i, (template_reason(items[i], language, state.genres_wanted, specs, state), "template"))
        yield from settled(final=False)
    yield from settled(final=True)
