"""ReDial raw-format conversations: tolerant loading, `@id` resolution, and the deterministic fit/held-out split.

Only `messages`, the two worker ids and the conversation id are read. The questionnaire fields
(`initiatorQuestions`, `respondentQuestions`) are never read: they hold the answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import ConciergeError
from storage.records import CatalogItem

log = logging.getLogger(__name__)

MENTION = re.compile(r"@(\d+)")
SPLITS = ("all", "fit", "heldout")
KFOLD = "kfold"  # `eval redial` only: every conversation, each fold scored by a ranker fitted on the others
HOLDOUT_PER_MILLE = 200  # 20 % held out


class DialogueFileError(ConciergeError):
    """A dialogue file that cannot be used at all (missing, empty, nothing valid)."""


@dataclass(frozen=True)
class Message:
    """One message: who sent it and what it said (mentions still written `@<movieId>`)."""

    text: str
    from_recommender: bool


@dataclass(frozen=True)
class Dialogue:
    conversation_id: str
    messages: tuple[Message, ...]
    line: int

    def mentioned_ids(self) -> list[str]:
        """Every raw movie id mentioned, in order of first mention."""
        return list(dict.fromkeys(mid for m in self.messages for mid in MENTION.findall(m.text)))


@dataclass
class LoadReport:
    """What a load kept and what it skipped (1-based line numbers)."""

    path: str
    dialogues: list[Dialogue] = field(default_factory=list)
    malformed: list[tuple[int, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"file": self.path, "dialogues": len(self.dialogues), "malformed_lines": len(self.malformed),
                "malformed": [{"line": n, "problem": p} for n, p in self.malformed[:20]]}


def load_dialogues(path: Path) -> LoadReport:
    """Read a ReDial JSONL file; malformed lines are logged with their number, counted and skipped.

    Raises:
        DialogueFileError: the file is missing, empty, or has no valid conversation.
    """
    if not path.is_file():
        raise DialogueFileError(f"No dialogue file at {path}: pass a ReDial JSONL file (one conversation a line).")
    report = LoadReport(str(path))
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                report.dialogues.append(_parse_line(line, line_no))
            except ValueError as exc:
                log.warning("%s, line %d: %s; skipped", path, line_no, exc)
                report.malformed.append((line_no, str(exc)))
    if not report.dialogues:
        what = "is empty" if not report.malformed else f"has no valid conversation ({len(report.malformed)} malformed)"
        raise DialogueFileError(f"{path} {what}: expected ReDial JSONL, one conversation object a line, "
                                "with `messages`, `initiatorWorkerId` and `respondentWorkerId`.")
    return report


def _parse_line(line: str, line_no: int) -> Dialogue:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    messages = obj.get("messages")
    recommender = obj.get("respondentWorkerId")
    if not isinstance(messages, list) or recommender is None:
        raise ValueError("missing `messages` or `respondentWorkerId`")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("text"), str) or "senderWorkerId" not in m:
            raise ValueError(f"message {i} has no `text` or `senderWorkerId`")
        out.append(Message(m["text"], m["senderWorkerId"] == recommender))
    return Dialogue(str(obj.get("conversationId", f"line-{line_no}")), tuple(out), line_no)


def split_of(conversation_id: str) -> str:
    """'heldout' for 20 % of conversations, 'fit' for the rest: sha1 of the id, first 8 hex digits, mod 1000."""
    bucket = int(hashlib.sha1(conversation_id.encode("utf-8")).hexdigest()[:8], 16) % 1000
    return "heldout" if bucket < HOLDOUT_PER_MILLE else "fit"


def select(dialogues: Iterable[Dialogue], split: str) -> list[Dialogue]:
    """The dialogues of one part of the split ('all' keeps everything)."""
    if split not in SPLITS:
        raise ConciergeError(f"Unknown split '{split}': use one of {', '.join(SPLITS)}.")
    return [d for d in dialogues if split == "all" or split_of(d.conversation_id) == split]


class MentionResolver:
    """Maps ReDial movie ids to catalog items: `redial:<id>` (storage/importers.py), the bare id, or extra.redial_id."""

    def __init__(self, items: Mapping[str, CatalogItem]) -> None:
        self.items = items
        self.by_raw: dict[str, str] = {}
        for item in items.values():
            raw = item.extra.get("redial_id") if isinstance(item.extra, dict) else None
            if raw is not None:
                self.by_raw[str(raw)] = item.id
        self.unknown: set[str] = set()
        self.unknown_mentions = 0

    def item_id(self, raw: str) -> str | None:
        for key in (f"redial:{raw}", raw):
            if key in self.items:
                return key
        return self.by_raw.get(raw)

    def resolve(self, text: str) -> tuple[str, list[tuple[int, int, str]]]:
        """The text with each known `@id` replaced by its title, and (start, end, item id) spans of those titles.

        Unknown ids are counted (`unknown`, `unknown_mentions`) and their mention is left out of the text.
        """
        out, spans, pos = [], [], 0
        length = 0
        for m in MENTION.finditer(text):
            piece = text[pos : m.start()]
            out.append(piece)
            length += len(piece)
            item_id = self.item_id(m.group(1))
            if item_id is None:
                self.unknown.add(m.group(1))
                self.unknown_mentions += 1
            else:
                title = self.items[item_id].title
                spans.append((length, length + len(title), item_id))
                out.append(title)
                length += len(title)
            pos = m.end()
        out.append(text[pos:])
        return "".join(out), spans

    def ids_in(self, text: str) -> list[str]:
        """Catalog ids mentioned in `text` (unknown ones are not counted here)."""
        found = (self.item_id(raw) for raw in MENTION.findall(text))
        return list(dict.fromkeys(i for i in found if i is not None))
