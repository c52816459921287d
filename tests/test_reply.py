"""The fact checker and reason cleaning that guard every generated sentence."""

from __future__ import annotations

import pytest

from chat.linker import TitleIndex
from chat.reply import FactChecker, clean_reason
from storage.importers import embedded_catalog_files, load_file


@pytest.fixture(scope="module")
def catalog() -> dict:  # type: ignore[type-arg]
    return {it.id: it for f in embedded_catalog_files() for it in load_file(f)}


def test_checker_accepts_facts_and_rejects_foreign_titles_and_numbers(catalog) -> None:  # type: ignore[no-untyped-def]
    titles = TitleIndex(catalog.values())
    odyssey, alien = catalog["movie:2001-a-space-odyssey-1968"], catalog["movie:alien-1979"]
    check = FactChecker(titles, [odyssey, alien], [catalog["movie:inception-2010"]])
    assert check.check("2001: A Space Odyssey is a landmark of 1968 science fiction by Stanley Kubrick.")
    assert check.check("Like Inception, it keeps you guessing.")  # the user named Inception
    assert not check.check("It is as gripping as The Dark Knight.")  # a catalog title not shown
    assert not check.check("A 1975 classic.")  # a year no item has
    assert not check.check("Shot in 3D over 12 years.")  # numbers not in the catalog facts
    assert not check.check('A must-see, like "Space Pirates of Mars".')  # an emphasised name that is none of ours
    assert check.check("An alien creature stalks the crew.")  # lowercase words are not titles in generated text


def test_clean_reason_drops_cut_off_tails_and_echoed_labels() -> None:
    assert clean_reason("A tense ride. And then the") == "A tense ride."
    assert clean_reason("reason: Smart and funny!\n2. Next") == "Smart and funny!"
    assert clean_reason("15 words: Warm and witty.") == "Warm and witty."
    assert clean_reason("no sentence end") == ""
