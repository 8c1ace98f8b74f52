"""The judging half of `streamer bench`: measured figures and a reference entry in, a verdict in
plain words and the settings that would help most out. Pure functions, no clock and no I/O.

A machine faster or slower than the reference's is judged by its own speed: the bare network's
time here against the reference's gives a speed factor, and the reference's fps times that factor
is what is expected here (live, no more than the source's rate). A figure within `LOW`..`HIGH` of
the expected one (live: `LIVE_LOW`..`HIGH`) is normal for this machine's speed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from streamer.bench.measure import FileFigures, LiveFigures, Machine, NetworkFigures, Settings
from streamer.bench.reference import REFERENCES, Reference, ReferenceKey, find_reference
from streamer.doctor import TORCH_CUDA_FIX

LOW, HIGH = 0.7, 1.4  # measured / expected outside these bounds is lower / higher than expected
# Live output comes at the source's rate, half of it, or none: the scheduler halves the rate on a
# machine somewhat slower than the reference. Half the source's rate is lower than expected only
# where the machine is within about 10 % of the reference's speed.
LIVE_LOW = 0.55
NORMAL, LOWER, HIGHER, UNKNOWN = "normal", "lower", "higher", "unknown"
REFERENCE_CORES = 2
BUSY_SHARE = 0.25  # other programs took more than this share of the cores during the run: it was shared
PASSTHROUGH_ADVICE_SHARE = 0.2  # live frames passed through at least this often: a longer budget helps
MAX_ADVICE = 2


@dataclass
class Figures:
    """Everything one bench run measured."""

    machine: Machine
    settings: Settings
    network: NetworkFigures
    file: FileFigures
    live: LiveFigures


@dataclass
class Judgement:
    """One mode's figure against what is expected here (`expected` None: nothing to compare with)."""

    mode: str
    status: str
    measured: float
    expected: float | None
    text: str


@dataclass
class Verdict:
    """`status` is UNKNOWN without a measured reference, else LOWER when any mode is lower than
    expected, HIGHER when any is higher, else NORMAL; `text` says it in one sentence (and that other
    programs shared the CPU, when they did). `speed`: this machine's network speed against the
    reference's (2.0: twice as fast)."""

    status: str
    text: str
    speed: float | None
    reference: Reference | None
    judgements: list[Judgement] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)


@dataclass
class Advice:
    """A setting to try (`option`, as typed on the command line) and why, from the figures."""

    option: str
    reason: str


def reference_key(settings: Settings) -> ReferenceKey:
    s = settings
    return ReferenceKey(s.family, s.device, s.precision, s.background, s.reuse, s.style)


def rate(measured: float, expected: float, low: float = LOW) -> str:
    """NORMAL, LOWER or HIGHER for `measured` against `expected` (see LOW, HIGH); against an expected
    0 (the reference passed every frame through), anything more is higher."""
    if expected <= 0:
        return HIGHER if measured > 0 else NORMAL
    ratio = measured / expected
    return LOWER if ratio < low else HIGHER if ratio > HIGH else NORMAL


def describe(key: ReferenceKey) -> str:
    """A reference key in words, e.g. "dctnet style on cpu in int8, its own background, temporal reuse"."""
    name = f"built-in {key.style}" if key.family == "builtin" and key.style else key.family
    parts = [f"{name} style on {key.device}" + (f" in {key.precision}" if key.precision else "")]
    if key.background is not None:
        parts.append(
            {"learned": "its own background", "toon": "the built-in background"}.get(key.background, "no background")
        )
    if key.reuse is not None:
        parts.append("temporal reuse" if key.reuse else "every head on every frame")
    return ", ".join(parts)


WORDS = {NORMAL: "normal for this machine's speed", LOWER: "lower than expected", HIGHER: "higher than expected"}


def _judge_file(file: FileFigures, expected: float) -> Judgement:
    status = rate(file.fps, expected)
    text = f"file mode {file.fps:.1f} fps, {WORDS[status]} (about {expected:.0f} expected)"
    return Judgement("file", status, file.fps, expected, text)


def _judge_live(live: LiveFigures, reference: Reference, expected: float) -> Judgement:
    status = rate(live.stylized_fps, expected, LIVE_LOW)
    if status == HIGHER and expected > 0:
        status = NORMAL  # the scheduler keeps the rate by giving up quality: the rung says how much
    text = (
        f"live mode {live.stylized_fps:.0f} stylized fps at level {live.level} ({live.rung}), {WORDS[status]} "
        f"(about {expected:.0f} expected; the reference settled at level {reference.live_level}: {reference.live_rung})"
    )
    return Judgement("live", status, live.stylized_fps, expected, text)


def judge(figures: Figures, table: tuple[Reference, ...] = REFERENCES) -> Verdict:
    """The verdict on `figures` against the matching entry of `table` (see the module docstring)."""
    settings, network, machine = figures.settings, figures.network, figures.machine
    reference = find_reference(reference_key(settings), table)
    remarks = _remarks(machine)
    if reference is None or not reference.is_measured:
        why = (
            f"no reference yet for a {describe(reference_key(settings))}"
            if reference is None
            else f"no reference yet for this device ({reference.measured})"
        )
        measured = [describe(r.key) for r in table if r.is_measured]
        if reference is None and measured:
            remarks.append("the reference table has figures for: " + "; ".join(measured))
        return Verdict(UNKNOWN, f"{why}; `--json` gives these figures for a bug report", None, reference, [], remarks)
    assert reference.network_ms is not None and reference.file_fps is not None
    speed = reference.network_ms / network.total_ms if network.total_ms > 0 else 1.0
    file = _judge_file(figures.file, reference.file_fps * speed)
    live_expected = min(figures.live.source_fps, (reference.live_stylized_fps or 0.0) * speed)
    live = _judge_live(figures.live, reference, live_expected)
    judgements = [file, live]
    remarks.insert(
        0,
        f"the bare network took {network.total_ms:.1f} ms here and {reference.network_ms:.1f} ms on the reference "
        f"machine: this machine runs it at {speed:.2f}x the reference's speed, and the expectations are scaled by that",
    )
    statuses = {j.status for j in judgements}
    status = LOWER if LOWER in statuses else HIGHER if HIGHER in statuses else NORMAL
    modes = " and ".join(f"{j.mode} mode" for j in judgements if j.status == status)
    text = {
        LOWER: f"lower than expected: {modes} slower than this machine's speed explains",
        HIGHER: f"higher than expected: {modes} faster than this machine's speed explains",
        NORMAL: "normal for this machine's speed",
    }[status]
    if _busy(machine):
        text += f" (but other programs used {machine.others_cores:g} of the {machine.cores} cores meanwhile)"
    return Verdict(status, text, round(speed, 3), reference, judgements, remarks)


def _busy(machine: Machine) -> bool:
    return machine.others_cores is not None and machine.others_cores > BUSY_SHARE * machine.cores


def _remarks(machine: Machine) -> list[str]:
    remarks = []
    if machine.cores != REFERENCE_CORES:
        remarks.append(
            f"this machine has {machine.cores} cores and the reference {REFERENCE_CORES}: only the network's speed is "
            "scaled for, so take the verdict as a rough guide"
        )
    if _busy(machine):
        remarks.append(
            f"other programs used {machine.others_cores:g} of the {machine.cores} cores while the bench ran, which "
            "lowers every figure: run it again when the machine is quieter"
        )
    return remarks


def _on_reference(settings: Settings, table: tuple[Reference, ...], **change: Any) -> str:
    """What the reference machine measured with `change` made to these settings, against without,
    as a clause ("" unless both are measured)."""
    key = reference_key(settings)
    now, then = find_reference(key, table), find_reference(replace(key, **change), table)
    if now is None or then is None or not (now.is_measured and then.is_measured) or now is then:
        return ""
    live = ""
    if then.live_stylized_fps != now.live_stylized_fps:
        live = f", live {then.live_stylized_fps:.0f} stylized fps against {now.live_stylized_fps:.0f}"
    return f" (on the reference machine: file mode {then.file_fps:.1f} fps against {now.file_fps:.1f}{live})"


def advise(figures: Figures, table: tuple[Reference, ...] = REFERENCES) -> list[Advice]:
    """The settings that would help most (at most MAX_ADVICE, the largest gain first), each chosen
    from what was measured: a GPU present but unused, every head stylized on every frame, fp32 on a
    CPU where int8 is stored, a learned background costlier than the head, frames passed through
    live, a built-in background that is file mode's longest stage. Where `table` has figures for the
    advised settings, the reason quotes them."""
    s, network, file, live, machine = figures.settings, figures.network, figures.file, figures.live, figures.machine
    learned = s.family != "builtin"
    found: list[Advice] = []
    if machine.gpu and s.device == "cpu" and learned:
        if s.gpu_usable:
            found.append(Advice("--device cuda", f"a GPU ({machine.gpu}) is here, but the style ran on the CPU"))
        else:
            found.append(
                Advice(
                    "a CUDA build of torch, then --device cuda",
                    f"a GPU ({machine.gpu}) is here, but no installed backend can use it: {TORCH_CUDA_FIX} "
                    "(`streamer doctor` says what is missing)",
                )
            )
    if learned and not s.reuse:
        passed = f"; live passed {live.passthrough_share:.0%} of the frames through" if live.passthrough_share else ""
        found.append(
            Advice(
                "--temporal reuse",
                f"every head was stylized on every frame ({network.head_ms:.0f} ms a head{passed}); reuse stylizes "
                "keyframes and carries them to the frames between by optical flow"
                + _on_reference(s, table, reuse=True),
            )
        )
    if s.device == "cpu" and s.precision == "fp32" and s.int8_stored:
        found.append(
            Advice(
                "--precision int8",
                f"the head network took {network.head_ms:.0f} ms in fp32; its int8 version is faster on CPUs and "
                "within 2 grey levels of fp32 on average" + _on_reference(s, table, precision="int8"),
            )
        )
    stages = file.stage_ms
    longest = max(stages, key=stages.__getitem__) if stages else None
    if s.background == "learned" and (network.background_ms > network.head_ms or longest == "background"):
        found.append(
            Advice(
                "--background-style toon",
                f"the style's own background network took {network.background_ms:.0f} ms a frame against "
                f"{network.head_ms:.0f} ms for a head; the built-in background costs a fraction of that"
                + _on_reference(s, table, background="toon"),
            )
        )
    if live.passthrough_share >= PASSTHROUGH_ADVICE_SHARE:
        budget = 10 * round(live.budget_ms * 1.5 / 10)
        found.append(
            Advice(
                f"--latency-budget-ms {budget} (live)",
                f"live passed {live.passthrough_share:.0%} of the frames through: a stylized frame did not fit the "
                f"{live.budget_ms:.0f} ms budget; a longer one keeps it stylized, at that much more latency",
            )
        )
    if s.background == "toon" and longest == "background":
        others = {k: v for k, v in stages.items() if k != "background"}
        runner_up = max(others, key=others.__getitem__) if others else None
        than = f" (then {runner_up}, {others[runner_up]:.1f} ms)" if runner_up else ""
        found.append(
            Advice(
                "--background-short-side 240 (stylize, batch)",
                f"the background was file mode's longest stage, {stages['background']:.1f} ms a frame{than}; "
                "at 240 pixels instead of 360 it is less than half the work, and a little softer",
            )
        )
    return found[:MAX_ADVICE]
