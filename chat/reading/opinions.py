"""The taught reader: a small model that reads what a user thinks of each item in play, and whether they have seen
it, from the message and the list the bot showed just before.

Items are "in play" when the message names them (kind "named") or when the message answers the list that showed
them (kind "reply": "oh I loved that one", "seen it, not my thing", "sounds great"). Each (item, message) pair is
one window of text, the item marked in it; the model is the multilingual-e5-small encoder fine-tuned with two
heads (liked / disliked / no opinion, and seen), also given what the rules read of the item. It is trained by
`concierge train-reader` on ReDial conversations and the seekers' own questionnaire answers, and measured there on
conversations it never saw; which fields it reads (`fields`) follows that measurement (the `reader` setting).
Nothing in it is specific to movies, English or Chinese: the item is marked, never named.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chat.state import DialogueState

log = logging.getLogger(__name__)

MARK = "[this one]"
OPINIONS = ("liked", "disliked", "unsaid")
KINDS = ("named", "reply")
FIELDS = ("opinion_named", "opinion_reply", "seen")  # what the reader may be chosen for, field by field
MAX_TOKENS = 160
READER_FILE = "reader.json"
HEADS_FILE = "heads.pt"
ENCODER_FILE = "encoder.pt"  # the encoder's weights that training changed (the token embeddings stay the base's)


@dataclass(frozen=True)
class Window:
    """One item in play in one message, as the model reads it."""

    item_id: str
    kind: str  # named | reply
    text: str
    rules_opinion: str  # liked | disliked | unsaid: what the rules read of it after this message
    rules_seen: bool


@dataclass(frozen=True)
class Judgement:
    item_id: str
    kind: str
    opinion: str  # liked | disliked | unsaid
    seen: float  # probability that the user has seen it


def marked(text: str, surfaces: Sequence[str]) -> str:
    """`text` with each of the item's surfaces replaced by the mark (case aside)."""
    for surface in sorted({s for s in surfaces if s}, key=len, reverse=True):
        text = re.sub(re.escape(surface), MARK, text, flags=re.IGNORECASE)
    return text


def window_text(kind: str, message: str, previous: str = "") -> str:
    """The model's input: the user's message, after the other side's message for a reply."""
    if kind == "reply":
        return f"Recommender: {previous.strip()}\nSeeker: {message.strip()}"
    return f"Seeker: {message.strip()}"


def windows(message: str, named: Sequence[tuple[str, str]], previous: str,
            shown: Sequence[tuple[str, Sequence[str]]], after: DialogueState) -> list[Window]:
    """The windows of one message: each item it names (item id, surface), and each item of the other side's
    previous message (item id, its surfaces there) it may answer. `after` is the dialogue state the rules left
    after this message (what they read of each item)."""
    out: list[Window] = []
    surfaces: dict[str, list[str]] = {}
    for item_id, surface in named:
        surfaces.setdefault(item_id, []).append(surface)
    for item_id, found in surfaces.items():
        text = window_text("named", marked(message, found))
        out.append(Window(item_id, "named", text, after.opinion_of(item_id), item_id in after.seen))
    for item_id, titles in shown:
        if item_id in surfaces or not previous.strip():
            continue
        text = window_text("reply", message, marked(previous, titles))
        out.append(Window(item_id, "reply", text, after.opinion_of(item_id), item_id in after.seen))
    return out


def features(window: Window) -> list[float]:
    """What the rules read, beside the text: liked, disliked, seen, and whether the window is a reply."""
    return [float(window.rules_opinion == "liked"), float(window.rules_opinion == "disliked"),
            float(window.rules_seen), float(window.kind == "reply")]


def build_network(base: str) -> Any:
    """The encoder of `base` (a sentence-transformers folder of a BERT-like model) with the two heads."""
    import torch
    from transformers import AutoModel

    class OpinionNetwork(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(base)
            size = self.encoder.config.hidden_size + 4
            self.opinion = torch.nn.Linear(size, len(OPINIONS))
            self.seen = torch.nn.Linear(size, 1)

        def forward(self, ids: Any, mask: Any, extra: Any) -> tuple[Any, Any]:
            hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state  # (b, t, h)
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)  # mean over tokens (b, h)
            joined = torch.cat([pooled, extra], 1)  # (b, h + 4)
            return self.opinion(joined), self.seen(joined).squeeze(-1)  # (b, 3), (b,)

    return OpinionNetwork()


class OpinionModel:
    """A trained reader loaded from its folder; shared read-only by every session, loaded on first use."""

    def __init__(self, folder: Path, base: str, device: str = "cpu") -> None:
        self.folder, self.base, self.device = folder, base, device
        self.meta: dict[str, Any] = json.loads((folder / READER_FILE).read_text(encoding="utf-8"))
        self._net: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @classmethod
    def find(cls, cache_dir: Path, base: str, device: str = "cpu") -> OpinionModel | None:
        """The trained reader in the model cache, if `concierge train-reader` made one."""
        folder = cache_dir / "readers" / "opinions"
        return cls(folder, base, device) if (folder / READER_FILE).is_file() else None

    def fields(self, margin: float = 0.01) -> set[str]:
        """The fields where the model read better than the rules on conversations it never saw."""
        measured = self.meta.get("measured", {})
        return {f for f in FIELDS if f in measured and measured[f]["model"] > measured[f]["rules"] + margin}

    def judge(self, windows: Sequence[Window]) -> list[Judgement]:
        if not windows:
            return []
        import torch

        self._load()
        enc = self._tokenizer(["query: " + w.text for w in windows], padding=True, truncation=True,
                              max_length=MAX_TOKENS, return_tensors="pt")
        extra = torch.tensor([features(w) for w in windows], dtype=torch.float32)
        with torch.inference_mode():
            opinion, seen = self._net(enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device),
                                      extra.to(self.device))
        return [Judgement(w.item_id, w.kind, OPINIONS[int(o)], float(s)) for w, o, s in
                zip(windows, opinion.argmax(1).tolist(), torch.sigmoid(seen).tolist(), strict=True)]

    def _load(self) -> None:
        with self._lock:
            if self._net is not None:
                return
            import torch
            from transformers import AutoTokenizer

            net = build_network(self.base)
            state = torch.load(self.folder / ENCODER_FILE, map_location="cpu", weights_only=True)
            net.encoder.load_state_dict(state, strict=False)
            net.load_state_dict(torch.load(self.folder / HEADS_FILE, map_location="cpu", weights_only=True),
                                strict=False)
            self._net = net.to(self.device).eval()
            self._tokenizer = AutoTokenizer.from_pretrained(self.base)
            log.info("Opinion reader loaded from %s (reads %s)", self.folder, ", ".join(sorted(self.fields())) or
                     "nothing better than the rules")


def save(net: Any, folder: Path, meta: dict[str, Any]) -> None:
    """Store a trained network: the encoder weights except the frozen token embeddings, the heads, the meta."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    encoder = {k: v for k, v in net.encoder.state_dict().items() if "word_embeddings" not in k}
    torch.save(encoder, folder / ENCODER_FILE)
    heads = {k: v for k, v in net.state_dict().items() if not k.startswith("encoder.")}
    torch.save(heads, folder / HEADS_FILE)
    (folder / READER_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
