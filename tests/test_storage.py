"""Schema, upserts, embeddings and catalog import against a real SQLite file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from common.errors import CatalogImportError, UnknownSessionError
from storage.engine import make_engine, migrate, open_database, session_factory, table_names
from storage.importers import embedded_catalog_files, load_file
from storage.records import CatalogItem, ShownItem
from storage.repository import CatalogRepository, ConversationRepository, UpsertReport


@pytest.fixture
def sessions(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'db' / 'c.db'}")
    migrate(engine)
    return session_factory(engine)


def test_blank_database_gets_every_table(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'blank.db'}")
    migrate(engine)
    migrate(engine)  # idempotent
    assert table_names(engine) == ["alembic_version", "attribute_declarations", "conversations", "feedback",
                                   "item_attributes", "item_embeddings", "item_links", "items", "ranker_models",
                                   "rate_windows", "server_secrets", "shown_recommendations", "turns", "user_profiles"]


def test_upsert_is_idempotent_and_detects_changes(sessions) -> None:  # type: ignore[no-untyped-def]
    repo = CatalogRepository(sessions)
    a = CatalogItem("m:1", "movie", "Alpha", year=2000, genres=("drama",))
    b = CatalogItem("m:2", "movie", "Beta", year=2001)
    assert repo.upsert([a, b]).added == 2
    report = repo.upsert([a, CatalogItem("m:2", "movie", "Beta", year=2002)])
    assert (report.added, report.updated, report.unchanged) == (0, 1, 1)
    got = repo.get("m:2")
    assert got is not None and got.year == 2002


def test_only_missing_or_changed_items_need_embedding(sessions) -> None:  # type: ignore[no-untyped-def]
    repo = CatalogRepository(sessions)
    items = [CatalogItem(f"m:{i}", "movie", f"T{i}") for i in range(3)]
    repo.upsert(items)
    assert len(repo.needing_embedding("e")) == 3
    repo.save_embeddings("e", items, np.eye(3, 4, dtype=np.float32))
    assert repo.needing_embedding("e") == []
    assert len(repo.needing_embedding("other")) == 3  # a new embedder needs its own vectors
    repo.upsert([CatalogItem("m:1", "movie", "T1 changed")])
    assert [i.id for i in repo.needing_embedding("e")] == ["m:1"]
    ids, matrix = repo.load_embeddings("e")
    assert ids == ["m:0", "m:1", "m:2"] and matrix.shape == (3, 4)


def test_bad_row_names_file_line_and_field_and_commits_nothing(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = CatalogRepository(sessions)
    path = tmp_path / "cat.jsonl"
    rows = [{"title": "Good", "year": 1999}, {"title": "Bad", "year": "nineteen"}]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    with pytest.raises(CatalogImportError) as err:
        repo.upsert(load_file(path))
    assert (err.value.line, err.value.field) == (2, "year")
    assert "cat.jsonl, line 2, field 'year'" in str(err.value)
    assert repo.count() == 0


def test_malformed_json_and_csv_mapping(tmp_path: Path) -> None:
    broken = tmp_path / "b.jsonl"
    broken.write_text('{"title": "A"}\n{"title": \n', encoding="utf-8")
    with pytest.raises(CatalogImportError, match="line 2"):
        load_file(broken)
    csv_path = tmp_path / "books.csv"
    csv_path.write_text("name,author,published,tags\nDune,Frank Herbert,1965,sci-fi|adventure\n", encoding="utf-8")
    [item] = load_file(csv_path, mapping={"title": "name", "creators": "author", "year": "published",
                                          "genres": "tags"}, domain="book")
    assert (item.title, item.creators, item.year, item.genres, item.domain) == (
        "Dune", ("Frank Herbert",), 1965, ("sci-fi", "adventure"), "book")


def test_redial_movies_json_imports(tmp_path: Path) -> None:
    path = tmp_path / "movies.json"
    path.write_text(json.dumps({"1": {"name": "Heat (1995)", "genre": ["crime"], "plot": "Cops and robbers.",
                                      "director": ["Michael Mann"]}, "2": {"name": "(2015)"}}), encoding="utf-8")
    [item] = load_file(path)
    assert (item.id, item.title, item.year, item.creators) == ("redial:1", "Heat", 1995, ("Michael Mann",))


def test_embedded_catalog_is_large_valid_and_multilingual() -> None:
    items = [it for f in embedded_catalog_files() for it in load_file(f)]
    movies = [i for i in items if i.domain == "movie"]
    books = [i for i in items if i.domain == "book"]
    assert len(movies) >= 300 and len(books) >= 200
    assert len({i.id for i in items}) == len(items)
    originals = {i.original_title for i in items}
    assert {"三体", "活着", "霸王别姬"} <= originals
    assert all(i.description and i.year and i.creators and i.genres for i in items)


def test_conversation_turns_are_stored_with_shown_items(sessions) -> None:  # type: ignore[no-untyped-def]
    CatalogRepository(sessions).upsert([CatalogItem("m:1", "movie", "Alpha")])
    convs = ConversationRepository(sessions)
    cid = convs.create("u1", {"turns": 0})
    convs.record_turn(cid, "hi", "hello", "en", "template", [ShownItem("m:1", 0, 0.5, "because")], {"turns": 1})
    [turn] = convs.turns(cid)
    assert turn.shown[0].item_id == "m:1" and convs.load_state(cid) == {"turns": 1}
    with pytest.raises(UnknownSessionError):
        convs.load_state("nope")


def test_a_failed_statement_does_not_show_what_the_user_wrote(sessions) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import IntegrityError

    from storage.schema import Turn

    secret = "my card number is 4111 and I live at 12 Elm Street"
    with pytest.raises(IntegrityError) as err, sessions.begin() as s:
        s.add(Turn(conversation_id="no-such-conversation", index=0, user_text=secret, reply_text="hello"))
    assert secret not in str(err.value) and "4111" not in str(err.value)
    assert "parameters hidden" in str(err.value)


def test_an_import_cut_off_is_finished_by_running_it_again(tmp_path: Path) -> None:
    """Embedding stores each batch as it goes: a crash loses only the batch in hand, and the next run does the rest."""
    from chat.catalog import import_file, sync_embeddings
    from retrieval.embedders.hashing import HashingEmbedder

    class Crashing(HashingEmbedder):  # a real embedder that dies after a few batches, as a killed process would
        def __init__(self, batches: int) -> None:
            super().__init__()
            self.left = batches

        def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
            if self.left == 0:
                raise RuntimeError("killed")
            self.left -= 1
            return super().embed_batch(texts)

    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps({"title": f"Film {i}", "year": 2000 + i % 20, "genres": ["drama"]}) + "\n"
                            for i in range(250)), encoding="utf-8")
    repo = CatalogRepository(open_database(f"sqlite:///{tmp_path / 'c.db'}"))
    rows, report = import_file(repo, path, batch_size=60)  # five transactions
    assert rows == 250 and report.added == 250
    with pytest.raises(RuntimeError, match="killed"):
        sync_embeddings(repo, Crashing(batches=2), batch_size=32, show_progress=False, page=100)
    assert repo.count_needing_embedding("hashing-256") == 250 - 64
    assert sync_embeddings(repo, HashingEmbedder(), batch_size=32, show_progress=False, page=100) == 250 - 64
    ids, matrix = repo.load_embeddings("hashing-256")
    assert len(ids) == 250 and matrix.shape[0] == 250
    assert import_file(repo, path)[1] == UpsertReport(0, 0, 250)  # again: nothing to store
