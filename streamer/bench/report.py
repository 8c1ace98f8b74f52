"""`streamer bench`'s output: the figures, the verdict and the advice as text, or all of it as JSON."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from streamer.bench.judge import Advice, Figures, Verdict, describe, reference_key


def as_json(figures: Figures, verdict: Verdict, advice: list[Advice]) -> str:
    """Every figure, the reference compared with, the verdict and the advice, as one JSON object."""
    data: dict[str, Any] = dataclasses.asdict(figures)
    data["network"]["total_ms"] = figures.network.total_ms
    data["verdict"] = dataclasses.asdict(verdict)
    data["advice"] = [dataclasses.asdict(a) for a in advice]
    return json.dumps(data, indent=2)


def as_text(figures: Figures, verdict: Verdict, advice: list[Advice]) -> str:
    """The figures, the comparison and the verdict in a few lines, then the advice."""
    m, s, n, f, live = figures.machine, figures.settings, figures.network, figures.file, figures.live
    load = f", {m.others_cores:g} cores used by other programs meanwhile" if m.others_cores is not None else ""
    gpu = f", GPU {m.gpu}" if m.gpu else ""
    stages = " | ".join(f"{name} {ms:.1f}" for name, ms in f.stage_ms.items())
    p50, p99 = (f"{v:.0f} ms" if v is not None else "-" for v in (live.latency_ms_p50, live.latency_ms_p99))
    background = f"background {n.background_size[0]}x{n.background_size[1]} {n.background_ms:.1f} ms"
    if s.background == "none":
        background = "background left as captured"
    lines = [
        f"style {s.style} ({describe(reference_key(s))}), {s.backend}",
        f"machine: {m.cores} cores ({m.cpu}), {m.system}{gpu}{load}",
        *(f"note: {note}" for note in s.notes),
        "",
        f"bare network, median of {n.runs}: head {n.head_size}x{n.head_size} {n.head_ms:.1f} ms | {background}",
        f"file mode, {f.frames} frames: {f.fps:.1f} fps | stage medians (ms): {stages}",
        f"live mode, {live.seconds:g} s in real time: level {live.level} ({live.rung}) | {live.fps_out:.0f} fps out, "
        f"{live.stylized_fps:.0f} stylized | latency p50 {p50}, p99 {p99} | passthrough {live.passthrough_share:.0%}",
        "",
    ]
    reference = verdict.reference
    if reference is not None and reference.is_measured:
        lines.append(f"reference: {reference.machine}; {reference.measured}")
    lines += [f"  {remark}" for remark in verdict.remarks]
    lines += [f"  {j.text}" for j in verdict.judgements]
    lines.append(f"verdict: {verdict.text}")
    lines.append("")
    if advice:
        lines.append("what would help most:")
        lines += [f"  {a.option}: {a.reason}" for a in advice]
    else:
        lines.append("what would help most: no setting stands out from these figures")
    return "\n".join(lines)
