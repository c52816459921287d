"""Languages as data: chat/languages/*.toml hold the words the reader looks for and the fixed replies."""

from __future__ import annotations

import pytest

from chat import languages
from chat.languages.names import genre_label, language_label
from chat.lexicon import GENRES, HAN, LANGUAGES
from chat.reading import read
from chat.state import DialogueState
from chat.titles import TitleIndex


def test_every_language_file_speaks_of_the_same_things_as_english() -> None:
    files = languages.load()
    assert list(files)[0] == languages.FIRST and {"en", "zh"} <= set(files)
    english = files["en"]
    for code, data in files.items():
        # a key English lacks would be a new genre, language or critique made by a typo
        for section in ("genres", "languages", "domains", "critique", "compound_labels"):
            assert set(data.get(section, {})) <= set(english[section]), (code, section)
        # every fixed reply, reply template and answer exists in every language, with no placeholder the code
        # does not fill (the code fills what English asks for)
        for section in ("replies", "templates", "answers"):
            assert set(data[section]) == set(english[section]), (code, section)
            for key, text in data[section].items():
                assert set(_placeholders(text)) <= set(_placeholders(english[section][key])) | _EXTRA.get(key, set()), (
                    code, section, key)


# placeholders the code fills for every language although English does not use them
_EXTRA = {"lead_direction": {"label", "Label"}, "intro": {"n"}, "intro_start": {"n"}, "picks_one": {"n"},
          "intro_things": {"n"}, "intro_start_things": {"n"},
          "why_person": {"title"}, "reason": {"article", "plot"}, "row": {"article"}, "is_genre": {"asked"}}


def _placeholders(text: str) -> list[str]:
    import string

    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def test_merged_lists_keep_english_first_then_each_language() -> None:
    assert GENRES["sci-fi"][0] == "sci-fi" and "科幻" in GENRES["sci-fi"]
    for forms in (*GENRES.values(), *LANGUAGES.values()):
        chinese = [bool(HAN.search(f)) for f in forms]
        assert chinese == sorted(chinese)  # English forms, then Chinese ones
    assert genre_label("sci-fi", "zh") == "科幻" and genre_label("comedy+romance", "en") == "romcoms"
    assert language_label("ko", "en") == "Korean" and language_label("ko", "zh") == "韩国"


def test_a_new_language_is_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    files = dict(languages.load())
    files["fr"] = {"genres": {"comedy": ["comédie", "comédies"]}, "cues": {"negation_before": ["pas de"]},
                   "replies": {"closing": "Avec plaisir !"}}
    monkeypatch.setattr(languages, "load", lambda: files)
    languages.per_language.cache_clear()
    monkeypatch.setattr(languages, "per_language", languages.per_language.__wrapped__)  # uncached, for this test
    assert languages.merged("genres")["comedy"][-2:] == ("comédie", "comédies")
    assert languages.merged("cues")["negation_before"][-1] == "pas de"
    assert languages.per_language("replies")["closing"]["fr"] == "Avec plaisir !"


def test_the_reader_reads_what_the_files_say() -> None:
    titles = TitleIndex([])
    for text, genre in (("any good zombie flicks?", "horror"), ("我想看点搞笑的", "comedy")):
        u = read(text, DialogueState(), titles)
        assert genre in u.parse.genres_wanted, text
    assert read("no horror please", DialogueState(), titles).parse.genres_avoided == ["horror"]
