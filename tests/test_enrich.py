"""Generated descriptions: checked, marked, never over a human one."""

from __future__ import annotations

from chat.checker import ExplanationChecker
from chat.engine import Engine
from chat.enrich import describe, enrich
from chat.lm.base import ScriptedGenerator
from chat.titles import TitleIndex
from storage.records import CatalogItem

ITEM = CatalogItem(id="movie:q", domain="movie", title="Quiet Harbour", year=1987, creators=("Ann Lee",),
                   genres=("drama",))


def test_a_checked_model_description_is_kept() -> None:
    checker = ExplanationChecker(TitleIndex([ITEM]), {"Ann Lee"})
    gen = ScriptedGenerator(["A quiet 1987 drama from Ann Lee. It is a film of small moments. Extra."])
    text, by_model = describe(gen, ITEM, checker)
    assert by_model and text == "A quiet 1987 drama from Ann Lee. It is a film of small moments."


def test_an_invented_fact_falls_back_to_the_facts() -> None:
    checker = ExplanationChecker(TitleIndex([ITEM]), {"Ann Lee"})
    gen = ScriptedGenerator(["A 1992 comedy that won 3 awards."])
    text, by_model = describe(gen, ITEM, checker)
    assert not by_model and text == "A 1987 drama film directed by Ann Lee."


def test_enrich_never_overwrites_a_human_description(engine: Engine) -> None:
    repo = engine.catalog_repo
    assert repo is not None
    repo.upsert([ITEM, CatalogItem(id="movie:r", domain="movie", title="R", description="Human words.")])
    report = enrich(repo, ScriptedGenerator(default="A drama from Ann Lee set in 1987. It is calm."))
    assert report.generated == 1 and report.skipped == 0
    assert repo.get("movie:r").description == "Human words."  # type: ignore[union-attr]
    stored = repo.get("movie:q")
    assert stored is not None and stored.extra["description_source"] == "generated"
    assert not repo.set_generated_description("movie:r", "overwrite?")


def test_enrich_writes_the_descriptions_in_batches(engine: Engine) -> None:
    from chat import enrich as enrich_module

    repo = engine.catalog_repo
    assert repo is not None
    todo = [CatalogItem(id=f"movie:q{i}", domain="movie", title=f"Quiet Harbour {i}", year=1987, creators=("Ann Lee",),
                        genres=("drama",)) for i in range(enrich_module.BATCH + 2)]
    repo.upsert(todo)
    gen = ScriptedGenerator(["A 1992 comedy that won 3 awards."],
                            default="A drama from Ann Lee set in 1987. It is calm.")
    seen: list[int] = []
    report = enrich(repo, gen, progress=lambda n, total: seen.append(n))
    assert gen.batches[:2] == [enrich_module.BATCH, 2] and seen[-1] == len(todo) and seen == sorted(seen)
    assert report.template == 1 and report.generated == len(todo) - 1  # the invented facts fell back alone
    first = repo.get("movie:q0")
    assert first is not None and first.description == "A 1987 drama film directed by Ann Lee."
