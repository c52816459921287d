"""Answers to questions about an item, from catalog fields only. A fact the catalog lacks gets "I don't know",
never a guess."""

from __future__ import annotations

from chat.checker import first_sentence
from chat.reading import ItemQuestion
from chat.reply import genre_label, short_statement, year_range_label
from chat.state import DialogueState
from retrieval.ranking import item_people, series_key
from storage.records import CatalogItem


def answer(q: ItemQuestion, item: CatalogItem, language: str) -> str:
    """The catalog's answer, in the user's language."""
    zh = language == "zh"
    name = f"《{item.display_title('zh')}》" if zh else item.title
    movie = item.domain == "movie"
    unknown = (f"我不知道：目录里没有{name}的这项信息。" if zh
               else f"I don't know: the catalog does not say that about {name}.")
    if q.kind == "creator":
        if not item.creators:
            return unknown
        people = "、".join(item.creators) if zh else " and ".join(item.creators)
        if zh:
            return f"{name}的{'导演' if movie else '作者'}是{people}。"
        return f"{name} was {'directed' if movie else 'written'} by {people}."
    if q.kind == "cast":
        stars = [s for s in item.extra.get("stars") or () if isinstance(s, str)]
        if not stars:
            return unknown
        return f"{name}的主演有{'、'.join(stars[:4])}。" if zh else f"{name} stars {', '.join(stars[:4])}."
    if q.kind == "year":
        if not item.year:
            return unknown
        if zh:
            return f"{name}{'上映' if movie else '出版'}于{item.year}年。"
        return f"{name} {'came out' if movie else 'was first published'} in {item.year}."
    if q.kind == "runtime":
        minutes = item.extra.get("runtime")
        if not isinstance(minutes, int):
            return unknown
        return f"{name}片长{minutes}分钟。" if zh else f"{name} runs {minutes} minutes."
    if q.kind == "about":
        if not item.description:
            return unknown
        text = first_sentence(item.description, 400)
        note = ""
        if item.extra.get("description_source") == "generated":
            note = "（这段简介由模型根据目录信息生成）" if zh else " (This summary was generated from catalog facts.)"
        return (f"{name}：{text}{note}" if zh else f"{name}: {text}{note}")
    # genre: yes or no from the catalog's genre list
    if not item.genres or q.genre is None:
        return unknown
    listed = ("、" if zh else ", ").join(genre_label(g, language) for g in item.genres)
    asked = genre_label(q.genre, language)
    if q.genre in item.genres:
        return f"是的，{name}属于{asked}（目录类型：{listed}）。" if zh else f"Yes: {name} is listed as {listed}."
    return (f"不是，{name}的目录类型是{listed}，不是{asked}。" if zh
            else f"No: {name} is listed as {listed}, not {asked}.")


def why(item: CatalogItem, state: DialogueState, items: dict[str, CatalogItem], language: str) -> str:
    """Why `item` was suggested: what the conversation asked for that its catalog record has.

    Each clause is a fact checked here against the record and the dialogue state, never the model's words.
    """
    zh = language == "zh"
    name = f"《{item.display_title('zh')}》" if zh else item.title
    if item.id not in state.shown:
        return (f"我还没有推荐过{name}。想要类似的，可以说“像{name}那样的”。" if zh
                else f"I have not suggested {item.title}. Say \"something like {item.title}\" for more like it.")
    liked = [items[i] for i in reversed(state.liked) if i in items and i != item.id]
    facts: list[str] = []
    key = series_key(item.title)
    same = next((x for x in liked if key and series_key(x.title) == key), None)
    if same is not None:
        facts.append(f"它和你喜欢的《{same.display_title('zh')}》同一系列" if zh
                     else f"it is from the same series as {same.title}, which you liked")
    people = set(item_people(item.creators, item.extra))
    for other in liked if same is None else ():  # a series says more than a shared person
        shared = [x for x in item_people(other.creators, other.extra) if x in people]
        if shared:
            who = shared[0]
            here, there = (("directed" if it.domain == "movie" else "wrote") if who in it.creators else "is in"
                           for it in (item, other))
            if here != there:
                both = f"{here} it and {there} {other.title}"
            else:
                both = f"is in it and in {other.title}" if here == "is in" else f"{here} it and {other.title}"
            facts.append(f"它和你喜欢的《{other.display_title('zh')}》都有{who}" if zh
                         else f"{who} {both}, which you liked")
            break
    asked = [x for x in state.people_wanted if x in people]
    if asked:
        facts.append(f"有你想看的{'、'.join(asked)}" if zh else f"it has {' and '.join(asked)}, as you asked")
    wanted = [g for g in item.genres if g in state.genres_wanted]
    if wanted:
        kinds = ("、" if zh else "/").join(genre_label(g, language) for g in wanted)
        facts.append(f"目录把它列为{kinds}，正是你要的类型" if zh else f"the catalog lists it as {kinds}, as you asked")
    elif liked and not facts:
        common = [g for g in item.genres if g in liked[0].genres]
        if common:
            kinds = ("、" if zh else "/").join(genre_label(g, language) for g in common[:2])
            facts.append(f"它和《{liked[0].display_title('zh')}》一样是{kinds}" if zh
                         else f"like {liked[0].title}, it is listed as {kinds}")
    if item.year and (state.year_min is not None or state.year_max is not None):
        span = year_range_label(state.year_min, state.year_max, language)
        facts.append(f"它是{item.year}年的，在你要的年份内（{span}）" if zh
                     else f"it is from {item.year}, within the years you asked for ({span})")
    ruled_out = [g for g in state.genres_avoided if g not in item.genres]
    if ruled_out and facts:
        kinds = ("、" if zh else " or ").join(genre_label(g, language) for g in ruled_out[:3])
        facts.append(f"也不是你排除的{kinds}" if zh else f"it is not {kinds}, which you ruled out")
    if not facts:
        said = state.statements[-1] if state.statements else ""
        if said:
            facts.append(f"它的目录简介和你说的“{short_statement(said)}”最接近" if zh
                         else f'its catalog description was among the closest to "{short_statement(said)}"')
        else:
            facts.append("你还没告诉我口味，所以先从一部受欢迎的作品开始" if zh
                         else "you had not told me a taste yet, so it was a broad first pick")
    if zh:
        return f"为什么是{name}：" + "；".join(facts) + "。"
    return f"Why {item.title}: " + "; ".join(facts) + "."


def which_one(candidates: list[CatalogItem], language: str) -> str:
    """Ask which item "it" means."""
    if language == "zh":
        names = "、".join(f"{i + 1}.《{it.display_title('zh')}》" for i, it in enumerate(candidates))
        return f"你问的是哪一部？{names}"
    names = ", ".join(f"{i + 1}. {it.title}" for i, it in enumerate(candidates))
    return f"Which one do you mean? {names}"


def nothing_to_ask_about(language: str) -> str:
    return ("你想问哪部作品？告诉我它的名字。" if language == "zh"
            else "Which title do you mean? Tell me its name and I will look it up.")
