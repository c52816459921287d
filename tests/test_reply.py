"""The fact checker and reason cleaning that guard every generated sentence."""

from __future__ import annotations

import pytest

from chat.checker import MIN_CONTENT_WORDS, ExplanationChecker, first_sentence, genres_named
from chat.reply import clean_reason, intro, lead, reply_attempt_messages, wants_summary
from chat.state import DialogueState
from chat.titles import TitleIndex
from storage.importers import embedded_catalog_files, load_file
from storage.records import CatalogItem


@pytest.fixture(scope="module")
def catalog() -> dict:  # type: ignore[type-arg]
    return {it.id: it for f in embedded_catalog_files() for it in load_file(f)}


def test_checker_rejects_what_the_record_does_not_hold(catalog) -> None:  # type: ignore[no-untyped-def]
    titles = TitleIndex(catalog.values())
    check = ExplanationChecker(titles, set(), language="en")
    lantern = catalog["movie:raise-the-red-lantern-1991"]
    mo_yan = catalog["book:life-and-death-are-wearing-me-out-2006"]
    # Qwen's reasons that passed every other rule: an invented plot, and commentary the record does not make
    invented = "The film explores the history of the Red Lantern, a mysterious and ancient artifact used for centuries."
    assert check.check(invented, lantern).problems == [
        "says what the record does not: ['explores', 'mysterious', 'artifact', 'centuries']"]
    home = catalog["movie:home-alone-1990"]
    assert not check.check("The film explores the absurdity of Kevin's mishap and the dangers of leaving home.",
                           home).ok
    # a retelling in the record's words passes, in other forms too ("pigs" for "a pig", "flew" is common)
    assert check.check("Ximen Nao is reborn as donkeys, oxen and pigs, and surveys rural Chinese history.", mo_yan).ok
    assert check.check("Kevin's family flew to Paris and left him to defend the house from burglars.", home).ok
    assert check.check("A wife drawn into a silent rivalry, where each lit lantern signals the master's favor.",
                       lantern).ok
    assert check.check("A wealthy master and his wives, with one mysterious detail.", lantern).ok  # one is allowed
    # Chinese text is not held to English words
    assert ExplanationChecker(titles, set(), language="zh").check("一个关于红灯笼的神秘古老传说。", lantern).ok


def test_checker_accepts_facts_and_rejects_foreign_titles_and_numbers(catalog) -> None:  # type: ignore[no-untyped-def]
    titles = TitleIndex(catalog.values())
    people = {p for it in catalog.values() for p in it.creators}
    odyssey = catalog["movie:2001-a-space-odyssey-1968"]
    check = ExplanationChecker(titles, people, [catalog["movie:inception-2010"]])
    assert check.check("2001: A Space Odyssey is a landmark of 1968 science fiction by Stanley Kubrick.", odyssey).ok
    assert check.check("Like Inception, it keeps you guessing.", odyssey).ok  # the user named Inception
    assert not check.check("It is as gripping as The Dark Knight.", odyssey).ok  # a catalog title not shown
    assert not check.check("A 1975 classic.", odyssey).ok  # a year this item does not have
    assert not check.check("Shot in 3D over 12 years.", odyssey).ok  # numbers not in the catalog facts
    assert not check.check('A must-see, like "Space Pirates of Mars".', odyssey).ok  # an emphasised unknown name
    assert check.check("An alien monolith guides a mission through space.", odyssey).ok  # lowercase: no titles
    # the user's film's year only beside its name (Qwen wrote "You wanted sci-fi: 2008 — It's a sci-fi film")
    assert check.check("Like Inception (2010), it keeps you guessing.", odyssey).ok
    assert not check.check("2010 — It's a sci-fi film by Stanley Kubrick.", odyssey).ok
    # model text must say something beyond titles, numbers, genres and filler; templates are not held to it
    strict = ExplanationChecker(titles, people, [catalog["movie:inception-2010"]], min_words=MIN_CONTENT_WORDS)
    for empty in ("1968, I recommend this movie.", "Like Inception, a sci-fi film.", "2001: A Space Odyssey.",
                  "1968, Stanley Kubrick, a sci-fi film by Stanley Kubrick.",  # names say nothing either
                  "1968, it's a good fit for your request.", "A perfect choice for your taste.",  # nor praise (Qwen's)
                  "1968, it's a fitting choice for the user.",
                  "A great watch for anyone who loves this kind of movie.",
                  "A Space Odyssey, I recommend this sci-fi film by Stanley Kubrick."):  # a part of the title
        assert strict.check(empty, odyssey).problems == ["says nothing about the item"], empty
        assert check.check(empty, odyssey).ok, empty
    assert strict.check("Like Inception, it keeps you guessing.", odyssey).ok
    assert strict.check("A mission to Jupiter that fits your taste for puzzles.", odyssey).ok  # praise beside content
    # Qwen wrote "2017 is a family/comedy/adventure film by Paul King.": the year is not the film
    assert "makes the year the subject" in check.check("1968 is a sci-fi film about an alien crew.", odyssey).problems
    assert check.check("In 1968 a mission to Jupiter drifts through space.", odyssey).ok
    assert strict.check("一部冷峻而宏大的太空史诗。", odyssey).ok
    assert strict.check("轻松一点，适合他的需求。", odyssey).problems == ["says nothing about the item"]  # Qwen's


# what Qwen's architecture wrote with random weights on a GPU (bench/bench_gpu.py --random-weights): a broken or
# wrongly loaded model; each passed the checker before it read scripts, code and words
BROKEN_MODEL_TEXT = [
    "Kỳ Kỳ Büyük(generator entrev Büyük(generator Farm.",
    "\ufffd lbl Büyük Każdy_altern Newark.Type Büyük entrev Büyük ==(.",
    "achupins Pra syst Gambling produk=r=r=r=r名列前茅.filePathjav_FMT聊城عتم名列前茅.",
    "gars']}</STATiosityfonts.visitInsn 🛩 לשВы注入沱служден męż.",
    "']gentpanels茚 vase仝忌🛩 marshAGape🛩 marshAGape🛩 marsh Digit委组织.",
    "Convenient BüyükParallel BüyükParallel BüyükParallel Büyük.",
]


def test_checker_rejects_what_a_broken_model_writes(catalog) -> None:  # type: ignore[no-untyped-def]
    titles = TitleIndex(catalog.values())
    odyssey = catalog["movie:2001-a-space-odyssey-1968"]
    english = ExplanationChecker(titles, set(), min_words=MIN_CONTENT_WORDS, language="en")
    for text in [*BROKEN_MODEL_TEXT, "achupins Pra syst Gambling produk entrev.",  # letters only, no dictionary
                 "a tense voyage, 一部冷峻的太空史诗.",  # Qwen slipping into Chinese in an English reply
                 "it stars the crew of the Discovery One <br> in space."]:  # markup
        problems = english.check(text, odyssey).problems
        assert any(p.startswith("unreadable") for p in problems), (text, problems)
    chinese = ExplanationChecker(titles, set(), min_words=MIN_CONTENT_WORDS, language="zh")
    assert chinese.check("一部冷峻而宏大的太空史诗，画面令人难忘。", odyssey).ok
    assert chinese.check("sci-fi 迷会喜欢这部冷峻的太空史诗。", odyssey).ok  # Latin words in a Chinese reply
    assert not chinese.check("一部 Büyük(generator 太空史诗。", odyssey).ok
    # the record's English copied into a Chinese reply (Qwen: "一个家族的 superheroes被迫进入 suburban anonymity")
    incredibles = catalog["movie:the-incredibles-2004"]
    copied = chinese.check("一个家族的 superheroes被迫进入 suburban anonymity。", incredibles).problems
    assert any(p.startswith("unreadable: English left untranslated") for p in copied), copied
    mononoke = next(it for it in catalog.values() if it.title == "Princess Mononoke")
    quoted = chinese.check(f"Princess Mononoke：{first_sentence(mononoke.description, 200)}", mononoke).problems
    assert any(p.startswith("unreadable: English left") for p in quoted), quoted  # the record's, but not Chinese
    # half-translated: part of a name, one English word glued to Chinese (the "杨 Guo", "高 school男孩")
    for text in ("一个高 school男孩在东京遇见了一个女孩。", "深度-charge攻击让船员们陷入危机。",
                 "Hal的故事让人难忘，HAL 9000 失控。"):
        assert any(p.startswith("unreadable: English left") for p in chinese.check(text, odyssey).problems), text
    assert chinese.check("由 Stanley Kubrick 执导的 NASA 太空史诗，令人难忘。", odyssey).ok  # names, initials
    cyrillic = chinese.check("一部太空史诗 служден。", odyssey).problems
    assert "unreadable: letters of another script: ['CYRILLIC']" in cyrillic
    # real sentences pass: rare words a dictionary knows, the item's own names in any script and spelling
    for text in ("a swashbuckling odyssey with a cyberpunk edge.", "a mind-bending, slow-burn voyage into the unknown.",
                 "A cold, vast voyage that fits your taste for puzzles.", "Kubrick's vision of evolution still awes.",
                 "a naïve crew's odyssey, cold as a café at dawn."):  # accents are Latin letters
        problems = english.check(text, odyssey).problems  # (most say what the record does not: another rule)
        assert not [p for p in problems if p.startswith("unreadable")], (text, problems)
    spirited = CatalogItem("m1", "movie", "Spirited Away", year=2001, original_title="千と千尋の神隠し",
                           creators=("Hayao Miyazaki",), genres=("animation",),
                           description="Chihiro wanders into a world ruled by gods, witches and spirits.")
    local = ExplanationChecker(TitleIndex([spirited]), {"Hayao Miyazaki"}, min_words=MIN_CONTENT_WORDS, language="en")
    assert local.check("千と千尋の神隠し is a dreamlike tale where Chihiro meets gods and witches.", spirited).ok
    assert not local.check("a dreamlike tale, とても美しい.", spirited).ok  # Japanese that is not its title


def test_checker_reads_a_common_word_title_that_starts_a_generated_sentence_as_its_subject() -> None:
    # user text needs a capital past the sentence start for "Saw" or "Hope"; generated text names a film
    # when the title is the subject of its sentence
    shown = CatalogItem("m0", "movie", "Heat", year=1995, genres=("crime",))
    others = [CatalogItem(f"m{i}", "movie", n, year=2000 + i) for i, n in enumerate(["Saw", "Hope", "Up"], 1)]
    check = ExplanationChecker(TitleIndex([shown, *others]), set())
    for text in ("Saw is just as tense.", "A tight crime story. Up follows a similar path.", "Hope has the same pull."):
        assert not check.check(text, shown).ok, text
    for text in ("Hope you enjoy this crime story.", "Up next: a tight crime story.", "A crime story, saw it twice."):
        assert check.check(text, shown).ok, text


def test_checker_rejects_claims_about_what_the_user_did(catalog) -> None:  # type: ignore[no-untyped-def]
    titles = TitleIndex(catalog.values())
    foundation = next(it for it in catalog.values() if it.title == "Foundation")
    check = ExplanationChecker(titles, set(foundation.creators), min_words=MIN_CONTENT_WORDS, language="en")
    assert "claims what the user did" in check.check("A book by Isaac Asimov, but you found it too dark.",
                                                     foundation).problems  # Qwen's, passed before
    assert "claims what the user did" in check.check("An empire falls, as you said.", foundation).problems
    assert check.check("An empire crumbles while a mathematician plans for the dark age ahead.", foundation).ok
    assert "claims what the user did" in check.check("A book by Isaac Asimov, but you didn't know what to do with it.",
                                                     foundation).problems
    for text in ("A book by Isaac Asimov, but you couldn't find the right author.",  # Qwen's, on 8½
                 "A book by Isaac Asimov that you've enjoyed before.", "An empire falls, as you have noticed."):
        assert "claims what the user did" in check.check(text, foundation).problems, text
    assert check.check("If you like big ideas, an empire falls over thirty thousand years.", foundation).ok
    assert check.check("An empire falls, and you could follow its crises across generations.", foundation).ok
    assert check.check("If you liked big ideas, an empire falls over thirty thousand years.", foundation).ok


def test_checker_rejects_a_part_the_record_does_not_name(catalog) -> None:  # type: ignore[no-untyped-def]
    titles = TitleIndex(catalog.values())
    by_title = {it.title: it for it in catalog.values()}
    apocalypse, part_two = by_title["Apocalypse Now"], by_title["The Godfather Part II"]
    check = ExplanationChecker(titles, set(), min_words=MIN_CONTENT_WORDS, language="en")
    for text, item in (("Part II, Captain Willard is sent upriver into Cambodia on a secret mission.", apocalypse),
                       ("Part I, Michael Corleone expands and defends the family empire.", part_two)):  # Qwen's
        assert any(p.startswith("names a part") for p in check.check(text, item).problems), text
    assert check.check("Part II follows Michael Corleone as he defends the family empire.", part_two).ok


def test_checker_rejects_wrong_people_genres_and_prompt_echoes(catalog) -> None:  # type: ignore[no-untyped-def]
    titles = TitleIndex(catalog.values())
    people = {p for it in catalog.values() for p in it.creators}
    odyssey = catalog["movie:2001-a-space-odyssey-1968"]
    check = ExplanationChecker(titles, people, prompt_texts=["Talk only about the numbered items you are given"])
    wrong_director = check.check("A cold, precise vision from Steven Spielberg.", odyssey)
    assert not wrong_director.ok and "Steven Spielberg" in wrong_director.problems[0]
    assert not check.check("A quiet epic, as Margaret Thornbury once wrote.", odyssey).ok  # an invented person
    wrong_genre = check.check("A hilarious romantic comedy.", odyssey)
    assert not wrong_genre.ok and "comedy" in wrong_genre.problems[0]
    assert check.check("A sci-fi mission to Jupiter, guided by a computer.", odyssey).ok  # its own genre
    assert not check.check("I must talk only about the numbered items you are given.", odyssey).ok


def test_genres_named_reads_english_and_chinese_forms() -> None:
    assert genres_named("a funny, scary ride") == {"comedy", "horror"}
    assert genres_named("一部科幻电影") == {"sci-fi"}
    assert genres_named("a quiet evening") == set()


def test_clean_reason_drops_cut_off_tails_and_echoed_labels() -> None:
    assert clean_reason("A tense ride. And then the") == "A tense ride."
    assert clean_reason("reason: Smart and funny!\n2. Next") == "Smart and funny!"
    assert clean_reason("15 words: Warm and witty.") == "Warm and witty."
    # the ". " stop fired inside "Philip K. Dick": Qwen's reason read "科幻/反乌托邦书，作者Philip K."
    assert clean_reason("科幻/反乌托邦书，作者Philip K.") == "" and clean_reason("A cult hit by Dr.") == ""
    assert clean_reason("A sci-fi book by Philip K. Dick.") == "A sci-fi book by Philip K. Dick."
    sentence = "A novel by Philip K. Dick about androids."
    assert first_sentence(sentence + " More.") == sentence
    assert clean_reason("no sentence end") == ""
    # Qwen opened a quote it never closed and restated the title: '"Home Alone: An eight-year-old ...'
    assert clean_reason('"Home Alone: An eight-year-old defends his house.', "Home Alone") == \
        "An eight-year-old defends his house."
    quoted = '"When two kids play a game, "Jumanji" begins.'  # quotes that close stay
    assert clean_reason(quoted) == quoted
    assert clean_reason("Home Alone 2 is the sequel.", "Home Alone") == "Home Alone 2 is the sequel."


def test_the_summary_of_wants_writes_an_open_year_range_in_words() -> None:
    def summary(year_min: int | None, year_max: int | None, language: str = "en") -> str:
        return wants_summary(DialogueState(genres_wanted=["sci-fi"], year_min=year_min, year_max=year_max), {},
                             language)

    assert summary(None, 2008) == "sci-fi; up to 2008"  # was "sci-fi; -2008"
    assert summary(2010, None) == "sci-fi; from 2010"
    assert summary(1990, 1999) == "sci-fi; 1990-1999"
    assert summary(None, 2008, "zh").endswith("2008年及以前")


def test_the_summary_names_people_and_languages_and_counts_one_pick_as_one() -> None:
    state = DialogueState(people_wanted=["Christopher Nolan"], languages_wanted=["ko"], genres_wanted=["thriller"],
                          people_avoided=["Adam Sandler"], languages_avoided=["zh"], statements=["films by Nolan"])
    assert wants_summary(state, {}, "en") == "Korean; thriller; Christopher Nolan; no Adam Sandler; no Chinese"
    assert wants_summary(state, {}, "zh") == "韩国; 惊悚; Christopher Nolan; 不要Adam Sandler; 不要华语"
    assert intro(state, {}, 1, "en").startswith("Here is 1 pick for you (Korean")
    assert intro(DialogueState(), {}, 3, "en") == "Here are 3 picks to start:"


def test_a_sequel_of_a_liked_film_is_introduced_by_its_series() -> None:
    die_hard = CatalogItem("m1", "movie", "Die Hard", year=1988, genres=("action",))
    sequel = CatalogItem("m2", "movie", "Die Hard 2", year=1990, genres=("action",))
    heat = CatalogItem("m3", "movie", "Heat", year=1995, genres=("action",))
    known = {it.id: it for it in (die_hard, sequel, heat)}
    state = DialogueState(liked=["m1"], genres_wanted=["action"])
    assert lead(sequel, state, known, "en") == "From the same series as Die Hard: "
    assert lead(sequel, state, known, "zh").startswith("和你喜欢的《Die Hard》同一系列")
    assert lead(heat, state, known, "en") == "You wanted action: "  # not of the series: the usual lead
    assert lead(die_hard, DialogueState(liked=["m2"]), known, "en") == "From the same series as Die Hard 2: "


def test_the_reason_prompt_holds_the_item_facts_plot_first(catalog) -> None:  # type: ignore[no-untyped-def]
    # a model that copies the row copies the plot, not "a thriller film by David Fincher." (which says nothing)
    seven = catalog["movie:seven-1995"]
    for language in ("en", "zh"):
        for attempt in (0, 1):
            prompt = reply_attempt_messages(seven, language, attempt)
            text = "\n".join(m["content"] for m in prompt)
            row = next(line for line in text.splitlines() if line.startswith("* "))
            assert row.startswith(f"* {seven.display_title(language)}: {first_sentence(seven.description, 200)}")
            assert "David Fincher" in row  # the kind and director follow the plot
    assert "Mention no names" in reply_attempt_messages(seven, "en", 1)[-1]["content"]


def test_the_gate_catches_who_is_who_titles_as_people_and_wrong_credits(catalog) -> None:  # type: ignore[no-untyped-def]
    from chat.checker import copied_share
    from chat.reply import reply_checker

    titles = TitleIndex(catalog.values())
    people = {p for it in catalog.values() for p in it.creators}
    by_title = {it.title: it for it in catalog.values()}
    elf, oldboy, bovary = by_title["Elf"], by_title["Oldboy"], by_title["Madame Bovary"]
    austen = by_title["Pride and Prejudice"]
    gate = reply_checker(titles, people, [austen], "en", grounding="checked")
    cases = {  # the and the judged set's classes: who does what to whom, a title as a person, a wrong author
        (elf, "Buddy, a grumpy publisher, travels to New York City to find his real father."): "gives a description",
        (oldboy, "a young businessman, Oldboy, who is abducted and imprisoned."): "uses the title",
        (bovary, "A Novel by Jane Austen, Madame Bovary longs for passion and luxury."): "credits the item",
    }
    for (item, text), problem in cases.items():
        assert any(p.startswith(problem) for p in gate.check(text, item).problems), (text, gate.check(text, item))
    assert gate.check("Buddy, a human raised by Santa's elves at the North Pole, travels to New York City.", elf).ok
    # grounding "copied": the record's own words pass, a paraphrase that changes who does what does not
    copied = reply_checker(titles, people, [], "en")
    faithful = "Buddy, a human raised by Santa's elves at the North Pole, travels to New York City to find his father."
    assert copied_share(faithful, elf.description) > 0.85 and copied.check(faithful, elf).ok
    changed = "Buddy travels to find his father, who was raised by Santa's elves and is a grumpy publisher."
    assert any(p.startswith("not the record's own words") for p in copied.check(changed, elf).problems)


class _OneAtATime:
    """A real generator without a batch: the record's first sentence, word by word, `delay` seconds a word; "" for
    the items in `silent`; and a log of what was asked and when the reply's pieces were taken."""

    def __init__(self, catalog: dict, delay: float = 0.0,  # type: ignore[type-arg]
                 silent: frozenset[str] = frozenset()) -> None:
        self.name, self.catalog, self.delay, self.silent = "one-at-a-time", catalog, delay, silent
        self.log: list[str] = []

    def stream(self, messages, max_new_tokens=128, stop=()):  # type: ignore[no-untyped-def]
        import time

        item = next(it for it in self.catalog.values() if f"* {it.title}:" in messages[1]["content"])
        self.log.append(f"asked {item.title}")
        if item.id in self.silent:
            return
        for word in first_sentence(item.description, 200).split(" ")[:max_new_tokens]:
            time.sleep(self.delay)
            yield " " + word


def _probe_items(catalog) -> list[CatalogItem]:  # type: ignore[no-untyped-def]
    by_title = {it.title: it for it in catalog.values()}
    return [by_title[t] for t in ("Elf", "Interstellar", "Parasite")]


def test_without_a_batch_each_reason_is_shown_before_the_next_is_written(catalog) -> None:  # type: ignore[no-untyped-def]
    from collections import Counter

    from chat.reply import write_reply

    gen = _OneAtATime(catalog, silent=frozenset({"movie:interstellar-2014"}))
    items = _probe_items(catalog)
    events: Counter[str] = Counter()
    pieces = []
    for piece in write_reply(gen, DialogueState(), items, catalog, TitleIndex(catalog.values()), "en",
                             events=events):
        if piece.item_index is not None:
            gen.log.append(f"shown {items[piece.item_index].title} ({piece.path})")
        pieces.append(piece)
    assert gen.log == ["asked Elf", "shown Elf (first_pass)", "asked Interstellar", "asked Interstellar",
                       "shown Interstellar (template)", "asked Parasite", "shown Parasite (first_pass)"]
    assert events == {"cut off": 2}  # the model said nothing, twice: counted, and the template shown


def test_past_the_time_budget_the_model_is_cut_off_and_templates_are_shown(catalog) -> None:  # type: ignore[no-untyped-def]
    import time
    from collections import Counter

    from chat.reply import write_reply

    gen = _OneAtATime(catalog, delay=0.2)  # about 6 s a reason
    events: Counter[str] = Counter()
    t0 = time.perf_counter()
    pieces = [p for p in write_reply(gen, DialogueState(), _probe_items(catalog), catalog,
                                     TitleIndex(catalog.values()), "en", budget_s=0.5, events=events)
              if p.item_index is not None]
    assert time.perf_counter() - t0 < 3  # the cap holds: the model would have taken 30 s
    assert [p.path for p in pieces] == ["template"] * 3
    assert events["over budget"] >= 2 and sum(events.values()) >= 3, events


def test_a_title_described_by_its_genre_is_no_person(catalog) -> None:  # type: ignore[no-untyped-def]
    from chat.checker import title_as_person

    assert title_as_person("Elf, a family comedy by Jon Favreau, is full of cheer.", ["Elf"]) is None
    assert title_as_person("Oldboy, who is abducted, spends fifteen years in a cell.", ["Oldboy"]) == "Oldboy"
