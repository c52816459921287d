"""What an operator watches: Prometheus counters and histograms of one engine's turns, named `concierge_*`, served
at /metrics. Only counts and times: no user text, ids or titles go into a label."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)


class Metrics:
    """One registry per engine (tests build several engines in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.turns = Counter("concierge_turns", "Turns served, by what the turn did", ["action"], registry=r)
        self.turn_seconds = Histogram("concierge_turn_seconds", "Time of a whole turn", buckets=_SECONDS, registry=r)
        self.stage_seconds = Histogram("concierge_stage_seconds", "Time of each stage of a turn", ["stage"],
                                       buckets=_SECONDS, registry=r)
        self.explanations = Counter("concierge_explanations", "Reasons shown, by who wrote them "
                                    "(first_pass, regenerated: the model; template: the catalog)", ["path"],
                                    registry=r)
        self.explanation_events = Counter("concierge_explanation_events", "What befell reasons asked of the model "
                                          "(refused by the checks, cut off, repeated, lm error, over budget)",
                                          ["event"], registry=r)
        self.lm_fallbacks = Counter("concierge_lm_fallbacks", "Times the model failed and the deterministic path "
                                    "answered instead, by where", ["where"], registry=r)
        self.errors = Counter("concierge_errors", "Requests answered with an error, by kind", ["kind"], registry=r)

    def turn(self, action: str, timings: dict[str, float], explanations: dict[str, int],
             events: dict[str, int], reading_fell_back: bool) -> None:
        """Count one finished turn."""
        self.turns.labels(action).inc()
        if "total_s" in timings:
            self.turn_seconds.observe(timings["total_s"])
        for stage in ("understand", "retrieve", "write"):
            if f"{stage}_s" in timings:
                self.stage_seconds.labels(stage).observe(timings[f"{stage}_s"])
        for path, n in explanations.items():
            self.explanations.labels(path).inc(n)
        for event, n in events.items():
            self.explanation_events.labels(event).inc(n)
        if events.get("lm error"):
            self.lm_fallbacks.labels("reasons").inc(events["lm error"])
        if reading_fell_back:
            self.lm_fallbacks.labels("reading").inc()

    def error(self, kind: str) -> None:
        self.errors.labels(kind).inc()

    def render(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
