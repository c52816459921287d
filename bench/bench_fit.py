"""Time and peak memory of fitting the hybrid ranker on a large training file (`concierge eval fit`).

usage: python bench/bench_fit.py [--copies 10] [--work DIR]
The training file is the shared ReDial dialogues repeated `--copies` times under new conversation ids, as a
stand-in for ReDial's full training split (about 10,000 conversations). The fit runs in its own process on a
copy of the cached evaluation database (embedded on the first run otherwise, a few minutes on 2 cores), so the
catalog's stored ranker is left alone. Prints wall time, peak RSS and how many conversations fitted the weights.
Its cross-validated recall means nothing: copies of one conversation fall in different folds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from chat.settings import load_settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--work", type=Path, default=Path(".cache/bench-fit"))
    args = ap.parse_args()
    settings = load_settings()
    redial = settings.shared_data / "redial"
    args.work.mkdir(parents=True, exist_ok=True)
    train = args.work / "train.jsonl"
    lines = (redial / "dialogues_dev.jsonl").read_text(encoding="utf-8").splitlines()
    with train.open("w", encoding="utf-8") as out:
        for copy in range(args.copies):
            for line in lines:
                d = json.loads(line)
                d["conversationId"] = f"{d['conversationId']}-{copy}"
                out.write(json.dumps(d) + "\n")
    data = args.work / "data"
    (data / "eval").mkdir(parents=True, exist_ok=True)
    for cached in (settings.data_dir / "eval").glob("movies-*.db"):
        shutil.copy(cached, data / "eval" / cached.name)  # a fresh copy each run: no ranker from the last one
    env = {**os.environ, "CONCIERGE_DATA_DIR": str(data), "CONCIERGE_MODEL_CACHE": str(settings.cache_dir)}
    cmd = [sys.executable, "-m", "ui.cli", "eval", "fit", "--dialogues", str(train),
           "--catalog", str(redial / "movies.json"), "--split", "all"]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"eval fit failed ({done.returncode}):\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout[done.stdout.index("{"):])
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print(json.dumps({"conversations": out["conversations"], "turns": out["turns"],
                      "weights_fitted_on": out["weights_fitted_on"], "cv_dedup": out["cv_dedup"],
                      "wall_s": round(wall, 1), "peak_rss_gb": round(peak_gb, 2)}, indent=2))


if __name__ == "__main__":
    main()
