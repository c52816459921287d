"""HTTP API figures: per-turn overhead beyond the engine, and 20 concurrent sessions without cross-talk.

usage: python bench/bench_api.py [--real] [--turns 60] [--sessions 20] [--processes 3]
Starts `concierge serve` in a subprocess on a free loopback port with a fresh data dir (fake models by
default: hashing embedder + scripted generator, so the engine's own time is small and the overhead is
what is left; --real uses the default models); with --processes N, N of them against one throwaway PostgreSQL
(Debian's server, as the tests start it) with each session's turns going round the processes; then:
  1. overhead: sequential turns over HTTP; overhead = client-side wall time minus the engine's time that
     the server reports in its Server-Timing header (auth, rate limit, state reload, JSON, HTTP).
  2. concurrency: N sessions at once, each asking for its own genre for 3 turns; every reply is checked
     against its own session's genre and domain, and every stored transcript against its own messages.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# (domain word, genre): each has enough catalog items for three turns of three picks
ASKS = [("movies", g) for g in ("drama", "comedy", "romance", "action", "adventure", "crime", "thriller", "fantasy",
                                "sci-fi", "family", "animation", "mystery", "war", "history", "horror",
                                "biography", "musical")] + [("books", g) for g in ("fantasy", "romance", "sci-fi")]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(base: str, path: str, body: Any = None, token: str | None = None, method: str = "POST"
         ) -> tuple[Any, float, float]:
    """(json body, client wall seconds, engine seconds from Server-Timing or 0)."""
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as r:
        data = json.loads(r.read())
        timing = r.headers.get("Server-Timing", "")
    wall = time.perf_counter() - t0
    engine = float(timing.split("dur=")[1]) / 1000 if "dur=" in timing else 0.0
    return data, wall, engine


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def overhead(base: str, turns: int) -> dict[str, float]:
    walls, engines, overheads = [], [], []
    msgs = ["I want a sci-fi movie", "more please", "something else"]
    token = sid = None
    for i in range(turns):
        if i % len(msgs) == 0:
            s, _, _ = call(base, "/api/v1/sessions")
            sid, token = s["session_id"], s["token"]
        _, wall, eng = call(base, f"/api/v1/sessions/{sid}/messages", {"text": msgs[i % len(msgs)]}, token)
        walls.append(wall)
        engines.append(eng)
        overheads.append(wall - eng)
    return {"turn_p50_ms": 1000 * statistics.median(walls), "engine_p50_ms": 1000 * statistics.median(engines),
            "overhead_p50_ms": 1000 * statistics.median(overheads), "overhead_p95_ms": 1000 * pct(overheads, 0.95)}


def concurrent(bases: list[str], sessions: int) -> dict[str, Any]:
    asks = (ASKS * (sessions // len(ASKS) + 1))[:sessions]
    latencies: list[float] = []
    errors: list[str] = []
    crosstalk: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(sessions)

    def user(n: int, domain_word: str, genre: str) -> None:
        domain = "movie" if domain_word == "movies" else "book"
        texts = [f"I'd like {genre} {domain_word}", "more please", "any others?"]
        try:
            s, _, _ = call(bases[n % len(bases)], "/api/v1/sessions", {"user_id": f"bench-user-{n}"})
            start.wait()
            for k, text in enumerate(texts):  # each turn on the next process
                out, wall, _ = call(bases[(n + k) % len(bases)], f"/api/v1/sessions/{s['session_id']}/messages",
                                    {"text": text}, s["token"])
                with lock:
                    latencies.append(wall)
                state, recs = out["state"], out["recommendations"]
                bad = [r["title"] for r in recs if genre not in r["genres"] or r["domain"] != domain]
                if state["genres_wanted"] != [genre] or bad or len(recs) != 3:
                    with lock:
                        crosstalk.append(f"session {n} ({genre} {domain_word}): wanted {state['genres_wanted']}, "
                                         f"off-topic {bad}")
            turns, _, _ = call(bases[n % len(bases)], f"/api/v1/sessions/{s['session_id']}/turns", token=s["token"],
                               method="GET")
            if [t["user"] for t in turns["turns"]] != texts:
                with lock:
                    crosstalk.append(f"session {n}: transcript {[t['user'] for t in turns['turns']]}")
        except (urllib.error.URLError, OSError, threading.BrokenBarrierError, KeyError) as exc:
            with lock:
                errors.append(f"session {n}: {exc!r}")

    t0 = time.perf_counter()
    threads = [threading.Thread(target=user, args=(n, *ask)) for n, ask in enumerate(asks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"sessions": sessions, "turns": len(latencies), "errors": errors, "crosstalk": crosstalk,
            "p50_s": statistics.median(latencies) if latencies else None,
            "p95_s": pct(latencies, 0.95) if latencies else None, "wall_s": time.perf_counter() - t0}


def serve(env: dict[str, str], data: str, name: str) -> tuple[subprocess.Popen[bytes], str]:
    """One `concierge serve` on a free loopback port, once it answers /healthz."""
    port = _port()
    log = open(Path(data) / f"serve-{name}.log", "w")  # noqa: SIM115 (the process holds it until it ends)
    proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "serve"], cwd=ROOT,
                            env={**env, "CONCIERGE_PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2).close()
            return proc, base
        except OSError:
            if proc.poll() is not None:
                raise SystemExit((Path(data) / f"serve-{name}.log").read_text()[-2000:]) from None
            time.sleep(0.5)
    raise SystemExit(f"server {name} did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", action="store_true", help="default models instead of the fakes")
    ap.add_argument("--turns", type=int, default=60)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--processes", type=int, default=1, help="server processes sharing one PostgreSQL")
    args = ap.parse_args()
    data = tempfile.mkdtemp(prefix="bench-api-")
    env = {**os.environ, "CONCIERGE_DATA_DIR": data,
           "CONCIERGE_RATE_LIMIT_PER_MINUTE": "100000", "CONCIERGE_NEW_SESSIONS_PER_MINUTE": "100000",
           "CONCIERGE_CONCURRENCY": "8", "HF_HUB_OFFLINE": "1",
           "CONCIERGE_MODEL_CACHE": os.environ.get("CONCIERGE_MODEL_CACHE", str(ROOT / ".cache" / "models"))}
    if not args.real:
        env.update({"CONCIERGE_EMBEDDER": "hashing", "CONCIERGE_LM": "scripted", "CONCIERGE_LM_EXTRACTION": "never"})
    database = None
    if args.processes > 1:
        sys.path.insert(0, str(ROOT))
        from tests.postgres import Postgres

        database = Postgres().__enter__()
        env["CONCIERGE_DATABASE_URL"] = database.new_database("bench")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        proc, first = serve(env, data, "0")  # the first imports the catalog; the others find it there
        procs.append(proc)
        bases = [first]
        for n in range(1, args.processes):
            proc, base = serve(env, data, str(n))
            procs.append(proc)
            bases.append(base)
        call(first, "/api/v1/sessions")  # warm-up
        results = {"models": "default" if args.real else "fakes (hashing + scripted)", "processes": len(bases),
                   "database": "postgresql" if database else "sqlite",
                   "overhead": overhead(first, args.turns),
                   "concurrent": concurrent(bases, args.sessions) if args.sessions else None}
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        if database is not None:
            database.__exit__(None, None, None)
    o, c = results["overhead"], results["concurrent"]
    print(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"API turn overhead beyond the engine: p50 {o['overhead_p50_ms']:.1f} ms, p95 {o['overhead_p95_ms']:.1f} ms "
          f"(turn p50 {o['turn_p50_ms']:.1f} ms, engine p50 {o['engine_p50_ms']:.1f} ms)")
    if c is None:
        return
    print(f"{c['sessions']} concurrent sessions over {len(bases)} process(es), {c['turns']} turns: "
          f"{len(c['errors'])} errors, {len(c['crosstalk'])} cross-talk, latency p50 {c['p50_s']:.3f} s / "
          f"p95 {c['p95_s']:.3f} s, wall {c['wall_s']:.1f} s")


if __name__ == "__main__":
    main()
