"""The table of docs/PERFORMANCE.md from a bench result: ``python -m bench.report var/bench/latest.json``.

Each target of issue 8 next to the figure of the run and, where it matters, the ceiling it is bounded by; then
issue 21's ``targets`` block (each figure as the run's own ratio where the issue asks for one).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _get(document: dict, dotted: str):
    value = document
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def rows(d: dict) -> list[tuple[str, str, str, str]]:
    """(figure, target, measured, verdict) for each target."""
    ceilings = d.get("ceilings", {})

    def share(channel: str) -> tuple[float | None, float | None]:
        measured = _get(d, f"burst.by_channel.{channel}.per_s")
        ceiling = ceilings.get(f"provider_path_{'sms' if channel == 'sms' else 'email'}_per_s")
        return measured, (measured / ceiling if measured is not None and ceiling else None)

    sms, sms_share = share("sms")
    email, email_share = share("email")
    pages = d.get("pages", {})
    page_p95 = max(
        (pages[p]["p95_ms"] for p in ("bevaka", "mina_bevakningar", "behorigheter") if p in pages), default=None
    )
    page_queries_constant = all(
        pages.get(p, {}).get("queries") == pages.get(p, {}).get("queries_at_tenth_size")
        for p in ("bevaka", "mina_bevakningar", "behorigheter")
    )
    limited = d.get("rate_limited_sms", {})
    table = [
        ("burst: deliveries stored/s", "≥ 20,000", _get(d, "burst.store_rows_per_s"), lambda v: v >= 20_000),
        (
            "burst: fan-out queries (R, R/10)",
            "constant in R",
            f"{_get(d, 'burst.fanout_queries')}, {_get(d, 'burst.fanout_queries_at_tenth_size')}",
            lambda v: _get(d, "burst.fanout_queries") == _get(d, "burst.fanout_queries_at_tenth_size"),
        ),
        (
            "burst: end-to-end deliveries/s (callbacks on)",
            "≥ 500",
            _get(d, "burst.end_to_end_deliveries_per_s"),
            lambda v: v >= 500,
        ),
        (
            "burst: SMS/s, share of provider path",
            "≥ 50 %",
            _fmt_share(sms, sms_share),
            lambda v: (sms_share or 0) >= 0.5,
        ),
        (
            "burst: e-mail/s, share of provider path",
            "≥ 50 %",
            _fmt_share(email, email_share),
            lambda v: (email_share or 0) >= 0.5,
        ),
        ("many events: accepted events/s", "≥ 5,000", _get(d, "many_events.events_per_s"), lambda v: v >= 5_000),
        (
            "many events: p99 event → provider (ms)",
            "≤ 1,000 at half the sustainable rate",
            f"{_get(d, 'many_events.latency_ms.p99')} at {_get(d, 'many_events.latency_at_events_per_s')} events/s",
            lambda v: (_get(d, "many_events.latency_ms.p99") or 1e9) <= 1000,
        ),
        ("rate-limited SMS: messages/s", "≥ 95", limited.get("messages_per_s"), lambda v: v >= 95),
        (
            "rate-limited SMS: 429s, lost",
            "0, 0",
            f"{limited.get('http_429')}, {limited.get('lost')}",
            lambda v: limited.get("http_429") == 0 and limited.get("lost") == 0,
        ),
        ("pages: worst p95 (ms)", "≤ 50", page_p95, lambda v: v <= 50),
        (
            "pages: queries independent of size",
            "same at full and 1/10 size",
            ", ".join(
                f"{p} {pages.get(p, {}).get('queries')}/{pages.get(p, {}).get('queries_at_tenth_size')}"
                for p in ("bevaka", "mina_bevakningar", "behorigheter")
            ),
            lambda v: page_queries_constant,
        ),
        ("api: errors", "0", _get(d, "api.errors"), lambda v: v == 0),
    ]
    out = []
    for figure, target, measured, check in table:
        try:
            verdict = "met" if measured is not None and check(measured) else "missed"
        except TypeError:
            verdict = "missed"
        out.append((figure, target, str(measured), verdict))
    return out


def _fmt_share(value, share) -> str:
    if value is None:
        return "None"
    return f"{value}/s = {share * 100:.0f} %" if share is not None else f"{value}/s"


def markdown(d: dict) -> str:
    lines = ["| figure | target | measured | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {v} |" for a, b, c, v in rows(d)]
    targets = d.get("targets") or {}
    if targets:
        lines += ["", "| issue 21: figure | target | measured | |", "|---|---|---|---|"]
        lines += [
            f"| {name} | {t['target']} | {t['value']} | {'met' if t['met'] else 'missed'} |"
            for name, t in targets.items()
        ]
    c = d.get("ceilings", {})
    lines += [
        "",
        "| ceiling (same run) | measured |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in c.items() if not isinstance(v, dict)],
    ]
    return "\n".join(lines)


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "var/bench/latest.json")
    print(markdown(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
