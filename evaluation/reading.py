"""`concierge eval reading`: how well the live reading understands what ReDial seekers meant about each movie.

Each conversation is replayed through a reader (seeker messages read as a live user's, recommender messages
recorded as shown); the final dialogue state says, per movie, liked / disliked / unsaid and seen or not. That is
scored against the seekers' own questionnaire answers (`initiatorQuestions`), separately for the movies the seeker
named and the movies suggested to them. The answers are an answer key only: they are loaded apart from the
conversations (`load_labels`) and never reach a reader.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from chat.state import DialogueState
from common.errors import ConciergeError
from evaluation.dialogues import Dialogue, MentionResolver

CLASSES = ("liked", "disliked", "unsaid")
GROUPS = ("named", "suggested")


@dataclass(frozen=True)
class Label:
    """What the seeker said in the questionnaire about one movie."""

    suggested: bool  # the recommender suggested it (else the seeker named it)
    opinion: str  # liked / disliked / unsaid
    seen: bool | None  # None: did not say


def load_labels(path: Path) -> dict[str, dict[str, Label]]:
    """conversation id -> raw movie id -> the seeker's answers. Conversations without answers are left out."""
    out: dict[str, dict[str, Label]] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue  # reported by load_dialogues
            answers = obj.get("initiatorQuestions") if isinstance(obj, dict) else None
            if not isinstance(answers, dict) or not answers:
                continue
            labels = {}
            for movie, a in answers.items():
                if not isinstance(a, dict):
                    continue
                liked = a.get("liked")
                seen = a.get("seen")
                labels[str(movie)] = Label(a.get("suggested") == 1,
                                           "liked" if liked == 1 else "disliked" if liked == 0 else "unsaid",
                                           True if seen == 1 else False if seen == 0 else None)
            out[str(obj.get("conversationId"))] = labels
    return out


@dataclass(frozen=True)
class Prediction:
    opinion: str  # liked / disliked / unsaid
    seen: bool


def predict(state: DialogueState, item_id: str) -> Prediction:
    """What a dialogue state says about one item."""
    return Prediction(state.opinion_of(item_id), item_id in state.seen)


def trivial(_state: DialogueState, _item_id: str) -> Prediction:
    """The reader that reads nothing: every movie liked, none seen (most labelled movies are liked)."""
    return Prediction("liked", False)


@dataclass
class Scores:
    """Per group: (label, prediction) pairs of opinions, and of seen."""

    opinions: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: {g: [] for g in GROUPS})
    seen: dict[str, list[tuple[bool, bool]]] = field(default_factory=lambda: {g: [] for g in GROUPS})
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, label: Label, prediction: Prediction) -> None:
        group = "suggested" if label.suggested else "named"
        self.opinions[group].append((label.opinion, prediction.opinion))
        self.seen[group].append((label.seen is True, prediction.seen))

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for group in GROUPS:
            out[group] = opinion_report(self.opinions[group])
        out["seen"] = {group: binary_report(self.seen[group]) for group in GROUPS}
        if self.latencies_ms:
            ordered = sorted(self.latencies_ms)
            out["latency_ms"] = {"p50": statistics.median(ordered),
                                 "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
                                 "messages": len(ordered)}
        return out


def opinion_report(pairs: Sequence[tuple[str, str]]) -> dict[str, object]:
    """Macro-F1 over the three classes, accuracy, and per-class precision, recall and F1."""
    per_class = {}
    for c in CLASSES:
        tp = sum(1 for y, p in pairs if y == c and p == c)
        predicted = sum(1 for _, p in pairs if p == c)
        actual = sum(1 for y, _ in pairs if y == c)
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[c] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    return {"macro_f1": sum(v["f1"] for v in per_class.values()) / len(CLASSES),
            "accuracy": sum(1 for y, p in pairs if y == p) / len(pairs) if pairs else 0.0,
            "n": len(pairs), "classes": per_class}


def macro_f1(pairs: Sequence[tuple[str, str]]) -> float:
    return float(opinion_report(pairs)["macro_f1"])  # type: ignore[arg-type]


def binary_report(pairs: Sequence[tuple[bool, bool]]) -> dict[str, float]:
    tp = sum(1 for y, p in pairs if y and p)
    predicted = sum(1 for _, p in pairs if p)
    actual = sum(1 for y, _ in pairs if y)
    precision = tp / predicted if predicted else 0.0
    recall = tp / actual if actual else 0.0
    return {"precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "support": actual, "n": len(pairs)}


class Folder(Protocol):
    """What a reader must do to replay a conversation: fold each message into the state."""

    def fold_seeker(self, text: str, state: DialogueState) -> None: ...

    def fold_recommender(self, text: str, state: DialogueState) -> None: ...


def score_reader(dialogues: Iterable[Dialogue], labels: Mapping[str, Mapping[str, Label]], folder: Folder,
                 resolver: MentionResolver, predictor: Callable[[DialogueState, str], Prediction] = predict,
                 progress: Callable[[], None] | None = None) -> Scores:
    """Replay each labelled conversation through `folder` and score the final state against its labels."""
    scores = Scores()
    for d in dialogues:
        answers = labels.get(d.conversation_id)
        if not answers:
            continue
        state = DialogueState()
        for message in d.messages:
            if message.from_recommender:
                folder.fold_recommender(message.text, state)
            else:
                t = time.perf_counter()
                folder.fold_seeker(message.text, state)
                scores.latencies_ms.append((time.perf_counter() - t) * 1000)
        for raw, label in answers.items():
            item_id = resolver.item_id(raw)
            if item_id is not None:
                scores.add(label, predictor(state, item_id))
        if progress:
            progress()
    return scores


def check_labels(labels: Mapping[str, Mapping[str, Label]], path: Path) -> None:
    if not labels:
        raise ConciergeError(f"{path} has no `initiatorQuestions` answers: `eval reading` needs ReDial's raw "
                             "format with the seekers' questionnaire.")
