"""Import hygiene and layering: `ui -> chat -> {retrieval, storage}`, nothing heavy at import time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {"common": set(), "storage": {"common"}, "retrieval": {"common", "storage"},
           "chat": {"common", "retrieval", "storage"}, "evaluation": {"common", "chat", "retrieval", "storage"},
           "ui": {"common", "evaluation", "chat", "retrieval", "storage"}}


def test_importing_the_packages_loads_no_heavy_library() -> None:
    code = ("import sys, chat, retrieval, storage, chat.engine, chat.settings, retrieval.index, "
            "storage.repository, storage.importers, chat.reading.parse\n"
            "print(','.join(m for m in ('torch', 'transformers', 'gradio', 'sentence_transformers') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""


def imports(path: Path) -> list[str]:
    """The absolute module names a file imports."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def test_packages_import_only_downwards() -> None:
    bad = []
    for package, allowed in ALLOWED.items():
        for path in (ROOT / package).rglob("*.py"):
            for name in imports(path):
                top = name.split(".")[0]
                if top in ALLOWED and top != package and top not in allowed:
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert bad == []


# Inside the packages. Model backends, embedders and migrations import only their own kind; the stages of a turn
# never import what runs them (the engine, its wiring, the session service), nor the engine the wiring.
SELF_CONTAINED = {"chat/lm": ("chat.lm", "chat.settings", "chat.prompts", "common"),
                  "retrieval/embedders": ("retrieval.embedders", "common"),
                  "storage/migrations": ("storage.schema",)}
RUNNERS = {"chat.engine": 1, "chat.build": 2, "chat.sessions": 2}  # a module may import a runner of a lower rank
# the stages of a turn (docs/architecture.md) and their front doors; what no stage owns (state, lexicon, languages,
# titles, text, the LM) is shared vocabulary
STAGES = {"chat.reading": "read", "chat.tracking": "decide", "chat.policy": "decide", "chat.recommend": "retrieve",
          "chat.reply": "write", "chat.answers": "write", "chat.checker": "write", "chat.profiles": "store"}
FRONT_DOORS = {"chat.reading", "chat.tracking", "chat.policy", "chat.recommend", "chat.reply", "chat.answers",
               "chat.profiles"}


def _stage(module: str) -> str | None:
    return next((stage for prefix, stage in STAGES.items() if module == prefix or module.startswith(prefix + ".")),
                None)


def test_subpackages_keep_to_their_rooms() -> None:
    bad = []
    for folder, allowed in SELF_CONTAINED.items():
        for path in (ROOT / folder).rglob("*.py"):
            bad += [f"{path.relative_to(ROOT)} imports {n}" for n in imports(path)
                    if n.split(".")[0] in ALLOWED and not n.startswith(allowed)]
    for path in (ROOT / "chat").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        rank = RUNNERS.get(module, 0)
        bad += [f"{module} imports {n}" for n in imports(path) if n in RUNNERS and rank <= RUNNERS[n]]
    for path in (ROOT / "chat").rglob("*.py"):  # the reading stage is entered by its front door only
        if "reading" not in path.relative_to(ROOT).parts:
            bad += [f"{path.relative_to(ROOT)} imports {n}" for n in imports(path) if n.startswith("chat.reading.")]
    for path in (ROOT / "chat").rglob("*.py"):  # a stage enters another stage by that stage's front doors only
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        here = _stage(module)
        bad += [f"{module} imports {n}" for n in imports(path)
                if here and _stage(n) not in (None, here) and n not in FRONT_DOORS]
    for path in (ROOT / "ui" / "api").rglob("*.py"):  # the API never loads the Gradio page
        bad += [f"{path.relative_to(ROOT)} imports {n}" for n in imports(path) if n.startswith("ui.web")]
    assert bad == []
