"""`concierge train-reader`: teach the reading model what ReDial seekers meant about each movie.

Each seeker message is replayed through the live rules; every movie it names, and every movie of the
recommender's message it answers, is one window (`chat.reading.opinions.windows`, the same code the live reader
uses), labelled with the seeker's own questionnaire answer for that movie. The multilingual-e5-small encoder is
fine-tuned with two heads (liked / disliked / no opinion, and seen) on the fit part's windows within a time budget,
then measured against the rules on the held-out part's windows, field by field; the reader setting `auto` uses it
only in the fields where it read better. The answers are labels for training and measuring: no prediction ever
reads them.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chat.reading.opinions import FIELDS, OPINIONS, Window, build_network, features, save, windows
from chat.state import DialogueState
from chat.titles import TitleIndex
from evaluation.dialogues import Dialogue, MentionResolver, split_of
from evaluation.reading import Label, binary_report, macro_f1
from evaluation.replay import Replayer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    window: Window
    label: Label
    conversation: str


@dataclass(frozen=True)
class ReaderConfig:
    epochs: float = 2.0
    batch_size: int = 16
    learning_rate: float = 3e-5
    max_seconds: float = 25 * 60
    max_tokens: int = 160
    seed: int = 0


@dataclass
class ReaderReport:
    examples: int
    steps: int = 0
    planned_steps: int = 0
    seconds: float = 0.0
    stopped_by_budget: bool = False
    measured: dict[str, dict[str, float]] = field(default_factory=dict)  # field -> {"rules": x, "model": y, "n": n}

    def to_json(self) -> dict[str, object]:
        return {"examples": self.examples, "steps": self.steps, "planned_steps": self.planned_steps,
                "seconds": round(self.seconds, 1), "stopped_by_budget": self.stopped_by_budget,
                "measured": self.measured}


def examples(dialogues: Sequence[Dialogue], labels: dict[str, dict[str, Label]], titles: TitleIndex,
             resolver: MentionResolver) -> list[Example]:
    """The labelled windows of every labelled conversation, built as the live reader builds them."""
    replayer = Replayer(titles, resolver)
    out = []
    for d in dialogues:
        answers = labels.get(d.conversation_id)
        if not answers:
            continue
        state = DialogueState()
        for message in d.messages:
            if message.from_recommender:
                replayer.fold_recommender(message.text, state)
                continue
            before = state.model_copy(deep=True)
            replayer.fold_seeker(message.text, state)
            resolved, spans = resolver.resolve(message.text)
            named = [(item_id, resolved[a:b]) for a, b, item_id in spans]
            shown = [(i, [resolver.items[i].title]) for i in before.last_shown if i in resolver.items]
            for w in windows(resolved, named, before.last_reply, shown, state):
                raw = w.item_id.removeprefix("redial:")  # the catalog id of ReDial movie <raw>
                if raw in answers:
                    out.append(Example(w, answers[raw], d.conversation_id))
    return out


def measure(predict: Callable[[list[Window]], list[tuple[str, float]]], held_out: Sequence[Example]
            ) -> dict[str, dict[str, float]]:
    """Per field, the rules' and the model's score on windows of conversations the model never saw: macro-F1 over
    liked / disliked / no opinion for the two opinion fields, F1 for seen."""
    predicted = predict([e.window for e in held_out])
    out: dict[str, dict[str, float]] = {}
    for kind, name in (("named", "opinion_named"), ("reply", "opinion_reply")):
        rows = [(e, p) for e, p in zip(held_out, predicted, strict=True) if e.window.kind == kind]
        out[name] = {"rules": macro_f1([(e.label.opinion, e.window.rules_opinion) for e, _ in rows]),
                     "model": macro_f1([(e.label.opinion, p[0]) for e, p in rows]), "n": float(len(rows))}
    seen = list(zip(held_out, predicted, strict=True))
    out["seen"] = {"rules": binary_report([(e.label.seen is True, e.window.rules_seen) for e, _ in seen])["f1"],
                   "model": binary_report([(e.label.seen is True, p[1] > 0.5) for e, p in seen])["f1"],
                   "n": float(len(seen))}
    assert set(out) == set(FIELDS)  # one measurement per field the reader can be chosen for
    return out


def train(base: str, train_set: Sequence[Example], config: ReaderConfig,
          progress: Callable[[int, int], None] | None = None) -> tuple[Any, ReaderReport]:
    """Fine-tune the encoder of `base` with the two heads on `train_set`; stops when the budget is spent."""
    import torch
    from transformers import AutoTokenizer

    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    net = build_network(base)
    net.encoder.embeddings.word_embeddings.requires_grad_(False)  # 96M of 118M parameters: frozen, kept as they are
    opinion_index = {o: i for i, o in enumerate(OPINIONS)}
    counts = [sum(1 for e in train_set if e.label.opinion == o) or 1 for o in OPINIONS]
    class_weights = torch.tensor([len(train_set) / (len(OPINIONS) * c) for c in counts], dtype=torch.float32)
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=config.learning_rate,
                                  weight_decay=0.01)
    report = ReaderReport(len(train_set))
    per_epoch = (len(train_set) + config.batch_size - 1) // config.batch_size
    report.planned_steps = int(config.epochs * per_epoch)
    order = list(range(len(train_set)))
    start = time.perf_counter()
    net.train()
    while report.steps < report.planned_steps:
        rng.shuffle(order)
        for at in range(0, len(order), config.batch_size):
            batch = [train_set[i] for i in order[at:at + config.batch_size]]
            enc = tokenizer(["query: " + e.window.text for e in batch], padding=True, truncation=True,
                            max_length=config.max_tokens, return_tensors="pt")
            extra = torch.tensor([features(e.window) for e in batch], dtype=torch.float32)
            opinion, seen = net(enc["input_ids"], enc["attention_mask"], extra)
            loss = torch.nn.functional.cross_entropy(
                opinion, torch.tensor([opinion_index[e.label.opinion] for e in batch]), weight=class_weights)
            loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(
                seen, torch.tensor([float(e.label.seen is True) for e in batch]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            report.steps += 1
            if progress:
                progress(report.steps, report.planned_steps)
            if report.steps >= report.planned_steps:
                break
            if time.perf_counter() - start > config.max_seconds:
                report.stopped_by_budget = True
                break
        if report.stopped_by_budget:
            break
    report.seconds = time.perf_counter() - start
    net.eval()
    return net, report


def predictor(net: Any, base: str, max_tokens: int = 160) -> Callable[[list[Window]], list[tuple[str, float]]]:
    """(opinion, seen probability) per window, 64 windows at a time."""
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)

    def predict(found: list[Window]) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        with torch.inference_mode():
            for at in range(0, len(found), 64):
                batch = found[at:at + 64]
                enc = tokenizer(["query: " + w.text for w in batch], padding=True, truncation=True,
                                max_length=max_tokens, return_tensors="pt")
                extra = torch.tensor([features(w) for w in batch], dtype=torch.float32)
                opinion, seen = net(enc["input_ids"], enc["attention_mask"], extra)
                out += [(OPINIONS[int(o)], float(s)) for o, s in
                        zip(opinion.argmax(1).tolist(), torch.sigmoid(seen).tolist(), strict=True)]
        return out

    return predict


def run_train_reader(base: str, folder: Path, all_examples: Sequence[Example], config: ReaderConfig, split: str,
                     sources: list[str], progress: Callable[[int, int], None] | None = None) -> ReaderReport:
    """Train on the fit part, measure on the held-out part, store (with `split` "all": then train again on
    everything and store that, with the measurement of the first)."""
    fit = [e for e in all_examples if split_of(e.conversation) == "fit"]
    held = [e for e in all_examples if split_of(e.conversation) == "heldout"]
    net, report = train(base, fit, config, progress)
    report.measured = measure(predictor(net, base, config.max_tokens), held)
    trained_on = "fit"
    if split == "all":
        net, again = train(base, list(all_examples), config, progress)
        report.steps, report.seconds = report.steps + again.steps, report.seconds + again.seconds
        trained_on = "all"
    save(net, folder, {"base": "multilingual-e5-small", "trained_on": trained_on, "sources": sources,
                       "examples": len(all_examples), "fit_examples": len(fit), "heldout_examples": len(held),
                       "measured": report.measured, "training": report.to_json()})
    return report
