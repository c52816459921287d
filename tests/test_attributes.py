"""Typed catalog attributes: the schema file, import validation, filters in the database and in the index, reading
them from messages (English and Chinese), and a shop conversation end to end with the fakes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat.build import build_engine_for
from chat.catalog import import_file
from chat.engine import Engine
from chat.lm.base import ScriptedGenerator
from chat.reading import AttributeReader, Wish
from chat.state import DialogueState
from common.errors import CatalogImportError
from retrieval.embedders.hashing import HashingEmbedder
from retrieval.index import Filters, VectorIndex
from storage.attributes import Constraint, load_schema
from storage.engine import open_database
from storage.importers import demo_catalog_file
from storage.repository import CatalogRepository
from tests.conftest import fake_settings
from tests.postgres import Postgres

SHOP_SCHEMA = Path(__file__).parent.parent / "storage" / "catalog_data" / "shop" / "attributes.toml"


def _row(slug: str, category: str, price: object, **attributes: object) -> dict[str, object]:
    values = {"price": price, "rating": 4.0, "brand": "Northpeak", "color": ["black"], "material": ["nylon"],
              "in_stock": True, "waterproof": False, "category": category, **attributes}
    return {"id": f"product:{slug}", "domain": "product", "title": slug.replace("-", " ").title(), "year": 2024,
            "genres": [category], "description": f"A {category} made for everyday use, tested in town and out of it.",
            "description_zh": f"日常使用的{category}。", "attributes": values}


ROWS = [
    _row("storm-shell", "jacket", 89.0, waterproof=True, color=["blue", "black"], rating=4.6),
    _row("city-parka", "jacket", 149.0, waterproof=True, color=["navy"], brand="Kestrel"),
    _row("trail-windbreaker", "jacket", 45.5, color=["red"], rating=3.9),
    _row("leather-rider", "jacket", 260.0, material=["leather"], color=["brown"], brand="Kestrel"),
    _row("rain-poncho", "jacket", 19.99, waterproof=True, color=["yellow"], in_stock=False),
    _row("drizzle-shell", "jacket", 29.0, waterproof=True, color=["blue"]),
    _row("packable-shell", "jacket", 25.0, waterproof=True, color=["grey"]),
    _row("alpine-hardshell", "jacket", 189.0, waterproof=True, color=["orange"]),
    _row("day-pack", "backpack", 35.0, color=["blue"], rating=4.8),
    _row("summit-pack", "backpack", 120.0, waterproof=True, color=["green"]),
    _row("studio-headphones", "headphones", 199.0, material=["plastic"], rating=4.7),
    _row("buds-lite", "headphones", 29.0, material=["plastic"], color=["white"], rating=3.5),
]


def _write_catalog(folder: Path, rows: list[dict[str, object]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "products.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    shutil.copy(SHOP_SCHEMA, folder / "attributes.toml")
    return path


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Engine]:
    path = _write_catalog(tmp_path / "catalog", ROWS)
    yield build_engine_for(fake_settings(tmp_path), str(path), HashingEmbedder(), ScriptedGenerator())


@pytest.fixture(scope="module")
def reader() -> AttributeReader:
    return AttributeReader(load_schema(SHOP_SCHEMA), {"brand": {"Northpeak", "Kestrel"}})


# ---- the schema and the import


@pytest.mark.parametrize(("price", "problem"), [("free", "not a number"), ("$1,2,3", "not a number"),
                                                (-5, "below the minimum"), (True, "not a number")])
def test_a_bad_price_stops_the_import_naming_file_line_and_field(tmp_path: Path, price: object,
                                                                 problem: str) -> None:
    path = _write_catalog(tmp_path, [ROWS[0], _row("bad", "jacket", price)])
    repo = CatalogRepository(open_database(f"sqlite:///{tmp_path / 'c.db'}"))
    with pytest.raises(CatalogImportError) as err:
        import_file(repo, path)
    message = str(err.value)
    assert str(path) in message and "line 2" in message and "attributes.price" in message and problem in message
    assert repo.count() == 0  # nothing of the file stored


def test_an_undeclared_attribute_stops_the_import(tmp_path: Path) -> None:
    bad = _row("odd", "jacket", 50.0)
    bad["attributes"]["sparkle"] = "lots"  # type: ignore[index]
    path = _write_catalog(tmp_path, [bad])
    repo = CatalogRepository(open_database(f"sqlite:///{tmp_path / 'c.db'}"))
    with pytest.raises(CatalogImportError, match=r"line 1.*attributes\.sparkle.*not a declared attribute"):
        import_file(repo, path)
    assert repo.count() == 0


def test_attributes_without_a_schema_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "loose.jsonl"
    path.write_text(json.dumps(_row("x", "jacket", 10.0)) + "\n", encoding="utf-8")
    repo = CatalogRepository(open_database(f"sqlite:///{tmp_path / 'c.db'}"))
    with pytest.raises(CatalogImportError, match="add a schema file"):
        import_file(repo, path)


def test_a_schema_with_an_unknown_type_names_the_attribute(tmp_path: Path) -> None:
    schema = tmp_path / "attributes.toml"
    schema.write_text('[price]\ntype = "money"\n', encoding="utf-8")
    with pytest.raises(CatalogImportError, match=r"attributes\.price.*type must be one of"):
        load_schema(schema)


def test_a_csv_maps_its_columns_to_attributes(tmp_path: Path) -> None:
    shutil.copy(SHOP_SCHEMA, tmp_path / "attributes.toml")
    path = tmp_path / "shop.csv"
    path.write_text("title,cost,stock,colours\nWool Beanie,$12.50,yes,grey|navy\n", encoding="utf-8")
    repo = CatalogRepository(open_database(f"sqlite:///{tmp_path / 'c.db'}"))
    import_file(repo, path, mapping={"price": "cost", "in_stock": "stock", "color": "colours"}, domain="product")
    (item,) = repo.all_items()
    assert item.attributes == {"price": 12.5, "in_stock": True, "color": ["grey", "navy"]}
    assert "cost" not in item.extra and set(repo.declarations()) >= {"price", "in_stock", "color"}


# ---- filters: the database and the index agree

CONSTRAINTS = [
    Constraint("price", high=100.0, high_strict=True),
    Constraint("price", low=35.0, high=149.0),
    Constraint("color", any_of=frozenset({"blue", "navy"})),
    Constraint("material", none_of=frozenset({"leather"})),
    Constraint("in_stock", value=True),
    Constraint("waterproof", value=False),
]


def _filtered_both_ways(url: str, tmp_path: Path) -> None:
    repo = CatalogRepository(open_database(url))
    import_file(repo, _write_catalog(tmp_path / "both", ROWS))
    items = repo.all_items()
    index = VectorIndex(items, HashingEmbedder().embed_documents([it.document_text() for it in items]))
    for n in range(1, len(CONSTRAINTS) + 1):
        chosen = CONSTRAINTS[:n]
        in_memory = {index.items[i].id for i in range(len(index)) if index.mask(Filters(attributes=tuple(chosen)))[i]}
        expected = {r["id"] for r in ROWS if all(c.satisfied_by(r["attributes"].get(c.name))  # type: ignore[union-attr]
                                                 for c in chosen)}
        assert repo.matching_ids(chosen) == in_memory == expected


def test_filters_run_in_sqlite_as_in_the_index(tmp_path: Path) -> None:
    _filtered_both_ways(f"sqlite:///{tmp_path / 'f.db'}", tmp_path)


def test_filters_run_in_postgresql_as_in_the_index(tmp_path: Path) -> None:
    with Postgres() as pg:
        _filtered_both_ways(pg.new_database("attributes"), tmp_path)


# ---- reading


@pytest.mark.parametrize(("text", "name", "expected"), [
    ("a waterproof jacket under $100", "price", {"high": 100.0, "high_strict": True}),
    ("between 20 and 50 dollars", "price", {"low": 20.0, "high": 50.0}),
    ("between 20 and 50 euros", "price", {"low": 21.6, "high": 54.0}),  # the shop's declared rate
    ("700元以内的耳机", "price", {"high": 98.0}),
    ("at least 4 stars please", "rating", {"low": 4.0}),
    ("评分4.5以上", "rating", {"low": 4.5}),
    ("in blue", "color", {"any_of": ["blue"]}),
    ("Northpeak or Kestrel, no leather", "brand", {"any_of": ["Northpeak", "Kestrel"]}),
    ("Northpeak or Kestrel, no leather", "material", {"none_of": ["leather"]}),
    ("不要红色的", "color", {"none_of": ["red"]}),
    ("only what's in stock", "in_stock", {"value": True}),
    ("a sleeping bag", "category", {"any_of": ["sleeping-bag"]}),  # no "bag" in it: the longest word wins
])
def test_the_rules_read_wishes_from_the_declared_words(reader: AttributeReader, text: str, name: str,
                                                       expected: dict[str, object]) -> None:
    wish = reader.read(text).wishes[name]
    assert {key: getattr(wish, key) for key in expected} == expected


def test_what_is_no_wish_is_not_read(reader: AttributeReader) -> None:
    for text in ("a gift for a 10-year-old who likes science", "I loved Inception", "2 to 3 people"):
        assert not reader.read(text).any, text


def test_relative_critiques_and_questions(reader: AttributeReader) -> None:
    assert reader.read("cheaper ones?").relative == [("price", -1)]
    assert reader.read("便宜一点的").relative == [("price", -1)]
    assert reader.read("cheaper than $50").relative == []  # a bound, not a critique
    assert reader.question("how much is the second one?") == "price"
    assert reader.question("第一个有货吗？") == "in_stock"
    assert reader.question("a waterproof jacket") is None


# ---- a shop conversation with the fakes


def _prices(engine: Engine, out: object) -> list[float]:
    return [engine.catalog.items[r.item_id].attributes["price"] for r in out.recommendations]  # type: ignore[attr-defined]


def test_a_shop_conversation_keeps_every_wish(shop: Engine) -> None:
    sid = shop.new_session()
    first = shop.ask(sid, "a waterproof jacket under $200")
    shown = [shop.catalog.items[r.item_id] for r in first.recommendations]
    assert shown and all(it.attributes["category"] == ["jacket"] and it.attributes["waterproof"]
                         and it.attributes["price"] < 200 for it in shown)
    assert "under $200" in first.reply
    assert all(r.facts and r.facts[0].startswith("$") for r in first.recommendations)  # cards show the price
    before = sum(_prices(shop, first)) / len(first.recommendations)
    cheaper = shop.ask(sid, "cheaper")
    state = DialogueState.from_json(shop.conversations.load_state(sid))
    assert state.attributes["price"].high == round(before, 2) and state.attributes["price"].high_strict
    left = [r for r in ROWS if r["attributes"]["waterproof"] and r["attributes"]["category"] == "jacket"  # type: ignore
            and r["attributes"]["price"] < before and r["id"] not in {x.item_id for x in first.recommendations}]
    assert left and cheaper.recommendations and max(_prices(shop, cheaper)) < before
    answer = shop.ask(sid, "how much is the first one?")
    item = shop.catalog.items[cheaper.recommendations[0].item_id]
    assert answer.action == "answer" and shop.catalog.attributes["price"].text(item.attributes["price"]) in answer.reply


def test_a_wish_no_item_meets_is_said_and_the_nearest_offered(shop: Engine) -> None:
    sid = shop.new_session()
    out = shop.ask(sid, "headphones under $5")
    assert out.reply.startswith("Nothing in the catalog is under $5")
    assert [r.item_id for r in out.recommendations][:1] == ["product:buds-lite"]  # the cheapest headphones
    assert "$29" in out.reply  # its real price, from the record


def test_a_chinese_shop_turn(shop: Engine) -> None:
    sid = shop.new_session()
    out = shop.ask(sid, "我想要一件1400元以内的防水夹克")
    shown = [shop.catalog.items[r.item_id] for r in out.recommendations]
    assert out.language == "zh" and shown
    assert all(it.attributes["price"] <= 196 and it.attributes["waterproof"] for it in shown)
    assert "日常使用" in out.reply  # the record's Chinese description


def test_the_demo_shop_ships_with_its_schema() -> None:
    path = demo_catalog_file("shop")
    assert path is not None and (path.parent / "attributes.toml").is_file()
    assert demo_catalog_file("../etc") is None


def test_the_model_reader_keeps_only_the_attribute_wishes_the_message_backs(shop: Engine) -> None:
    from chat.reading import LM_FIELDS, read

    answer = {"attributes": [
        {"name": "price", "high": 98.0, "wanted": [], "avoided": []},  # 700元 at the shop's declared rate
        {"name": "rating", "low": 4.5, "wanted": [], "avoided": []},  # no rating in the message
        {"name": "color", "wanted": ["blue", "red"], "avoided": []},  # red is not said
        {"name": "size", "low": 10, "wanted": [], "avoided": []},  # not a declared attribute
        {"name": "in_stock", "value": True, "wanted": [], "avoided": []}]}
    text = json.dumps(answer)
    generator = ScriptedGenerator(respond=lambda m: text if "write JSON only" in m[0]["content"] else "")
    catalog = shop.catalog
    u = read("700元以内的蓝色夹克，要有货的", DialogueState(), catalog.titles, generator, items=catalog.items,
             lm_fields=frozenset(LM_FIELDS), attributes=catalog.attribute_reader)
    wishes = u.attributes.wishes
    assert set(wishes) == {"price", "color", "in_stock"}
    assert wishes["price"].high == 98.0 and wishes["color"].any_of == ["blue"] and wishes["in_stock"].value is True
    assert "attributes: wishes on the catalog's attributes" in generator.calls[0][0]["content"]


def test_why_a_product_names_the_wishes_it_meets_from_its_record(shop: Engine) -> None:
    sid = shop.new_session()
    first = shop.ask(sid, "a waterproof jacket under $200")
    item = shop.catalog.items[first.recommendations[0].item_id]
    out = shop.ask(sid, "why the first one?")
    price = shop.catalog.attributes["price"].text(item.attributes["price"])
    assert out.action == "answer" and f"its price is {price} (under $200, as you asked)" in out.reply
    assert "it is waterproof, as you asked" in out.reply


def test_reading_wishes_is_scored_on_atomic_wishes() -> None:
    from evaluation.wishes import Case, facts_of, score

    labelled = {"price": {"low": None, "high": 100}, "color": {"any_of": ["Blue"], "none_of": []}}
    assert facts_of(labelled) == {("price", "high", 100.0), ("color", "any", "blue")}
    cases = [Case("a", "en", facts_of(labelled)), Case("b", "en", frozenset())]
    readings = {"a": {"price": Wish(high=100.0), "color": Wish(any_of=["red"])}, "b": {}}
    result = score(lambda text: readings[text], cases)
    assert (result["precision"], result["recall"], result["exact"]) == (0.5, 0.5, 0.5)
    assert result["misses"] == [{"text": "a", "extra": ["('color', 'any', 'red')"],
                                 "missed": ["('color', 'any', 'blue')"]}]


def test_values_are_written_as_the_schema_declares(tmp_path: Path) -> None:
    specs = load_schema(SHOP_SCHEMA)
    price, rating = specs["price"], specs["rating"]
    assert (price.text(42.5), price.text(54.0), price.text(1299.5)) == ("$42.50", "$54", "$1,299.50")  # decimals = 2
    assert (rating.text(4.4, "en"), rating.text(4.4, "zh"), rating.text(4.0)) == ("rated 4.4", "评分 4.4", "rated 4")
    bad = tmp_path / "attributes.toml"
    bad.write_text('[price]\ntype = "number"\ndecimals = "two"\n', encoding="utf-8")
    with pytest.raises(CatalogImportError, match="decimals must be a whole number"):
        load_schema(bad)
