"""Import hygiene and layering: `ui -> chat -> {retrieval, storage}`, nothing heavy at import time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {"storage": set(), "retrieval": {"storage"}, "chat": {"retrieval", "storage"},
           "ui": {"chat", "retrieval", "storage"}}


def test_importing_the_packages_loads_no_heavy_library() -> None:
    code = ("import sys, chat, retrieval, storage, chat.engine, chat.settings, retrieval.index, "
            "storage.repository, storage.importers, chat.linker\n"
            "print(','.join(m for m in ('torch', 'transformers', 'gradio', 'sentence_transformers') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""


def test_packages_import_only_downwards() -> None:
    bad = []
    for package, allowed in ALLOWED.items():
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
                for name in names:
                    top = name.split(".")[0]
                    if top in ALLOWED and top != package and top not in allowed:
                        bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert bad == []
