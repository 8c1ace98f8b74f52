"""`streamer bench`: the verdict and the advice for given figures (injected, never timed here), the
reference table users are judged against, and one short end-to-end run checked for its structure."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from streamer.bench.judge import (
    HIGHER,
    LOWER,
    NORMAL,
    UNKNOWN,
    Figures,
    advise,
    judge,
    rate,
)
from streamer.bench.measure import (
    CpuSample,
    FileFigures,
    LiveFigures,
    Machine,
    NetworkFigures,
    Settings,
    others_cores,
    summarize_live,
)
from streamer.bench.reference import REFERENCES, Reference, ReferenceKey, find_reference
from streamer.cli import EXIT_USER_ERROR, main

TOON = ReferenceKey("builtin", "cpu", "fp32", "toon", False)
LEARNED = ReferenceKey("dctnet", "cpu", "int8", "learned", True)
TABLE = (
    Reference(
        TOON,
        "test CPU",
        "measured",
        network_ms=20.0,
        file_fps=50.0,
        live_level=1,
        live_rung="r1",
        live_stylized_fps=30.0,
    ),
    Reference(
        LEARNED,
        "test CPU",
        "measured",
        network_ms=200.0,
        file_fps=12.0,
        live_level=3,
        live_rung="r3",
        live_stylized_fps=20.0,
    ),
    Reference(ReferenceKey("dctnet", "cuda"), "GPU", "not measured yet"),
)


def live_figures(stylized: float = 30.0, passthrough: float = 0.0, level: int = 1) -> LiveFigures:
    return LiveFigures(
        seconds=15,
        source_fps=30,
        budget_ms=33.3,
        level=level,
        rung="a rung",
        fps_out=30.0,
        stylized_fps=stylized,
        passthrough_share=passthrough,
        latency_ms_p50=20.0,
        latency_ms_p99=40.0,
        stage_ms={},
        levels={str(level): 10},
        statuses=[],
        records=[],
    )


def figures(
    *,
    key: ReferenceKey = TOON,
    head_ms: float = 8.0,
    background_ms: float = 12.0,
    fps: float = 50.0,
    stages: dict[str, float] | None = None,
    live: LiveFigures | None = None,
    cores: int = 2,
    others: float | None = 0.1,
    gpu: str | None = None,
    gpu_usable: bool = False,
    int8_stored: bool = False,
) -> Figures:
    """A run's figures, all given: nothing here is measured."""
    settings = Settings(
        style="s",
        family=key.family,
        backend="b",
        device=key.device,
        precision=key.precision or "fp32",
        background=key.background or "toon",
        reuse=bool(key.reuse),
        int8_stored=int8_stored,
        gpu_usable=gpu_usable,
    )
    stages = stages if stages is not None else {"decode": 4.0, "track": 9.0, "heads": 11.0, "background": 8.0}
    return Figures(
        Machine(cores, "cpu", "Linux x86_64", "3.11", others, gpu),
        settings,
        NetworkFigures(head_ms, background_ms, 288, (480, 360), 9),
        FileFigures(300, 300 / fps, fps, stages),
        live or live_figures(),
    )


# -- the verdict ------------------------------------------------------------------------------------
def test_figures_like_the_reference_machine_s_are_normal():
    verdict = judge(figures(fps=48.0), TABLE)
    assert verdict.status == NORMAL
    assert verdict.text == "normal for this machine's speed"
    assert [j.status for j in verdict.judgements] == [NORMAL, NORMAL]
    assert verdict.reference is TABLE[0]


def test_a_slower_machine_is_expected_to_be_slower_in_proportion():
    # The network takes twice the reference's 20 ms: 25 fps is what this machine should do.
    slow = figures(head_ms=16.0, background_ms=24.0, fps=25.0, live=live_figures(stylized=15.0))
    verdict = judge(slow, TABLE)
    assert verdict.status == NORMAL
    assert verdict.speed == pytest.approx(0.5)
    assert verdict.judgements[0].expected == pytest.approx(25.0)
    assert "0.50x the reference's speed" in verdict.remarks[0]
    # The same 25 fps on a machine as fast as the reference is too low.
    same_speed = judge(figures(fps=25.0), TABLE)
    assert same_speed.status == LOWER
    assert same_speed.text.startswith("lower than expected: file mode")
    assert "file mode 25.0 fps, lower than expected (about 50 expected)" in same_speed.judgements[0].text


def test_a_faster_machine_is_not_expected_to_go_live_faster_than_the_source():
    fast = judge(figures(head_ms=4.0, background_ms=6.0, fps=100.0, live=live_figures(stylized=30.0)), TABLE)
    assert fast.judgements[0].expected == pytest.approx(100.0)
    assert fast.judgements[1].expected == pytest.approx(30.0)  # twice the reference's 30, but the source sends 30
    assert fast.status == NORMAL


def test_passing_live_frames_through_is_lower_than_expected():
    verdict = judge(figures(live=live_figures(stylized=0.0, passthrough=1.0, level=5)), TABLE)
    assert verdict.status == LOWER
    assert "live mode" in verdict.text and "file mode" not in verdict.text
    live = verdict.judgements[1].text
    assert "at level 5" in live and "the reference settled at level 1" in live


def test_half_the_source_rate_live_is_normal_only_on_a_slower_machine():
    half_rate = live_figures(stylized=15.0, level=4)
    assert judge(figures(live=half_rate), TABLE).judgements[1].status == LOWER
    slower = figures(head_ms=10.0, background_ms=15.0, fps=40.0, live=half_rate)  # 0.8x the reference's speed
    assert judge(slower, TABLE).judgements[1].status == NORMAL


def test_against_a_reference_that_passed_everything_through_any_stylized_frame_is_higher():
    assert rate(0.0, 0.0) == NORMAL
    assert rate(30.0, 0.0) == HIGHER
    assert [rate(v, 10.0) for v in (6.0, 7.5, 14.5)] == [LOWER, NORMAL, HIGHER]


def test_file_mode_well_above_the_expected_is_higher():
    verdict = judge(figures(fps=90.0), TABLE)
    assert verdict.status == HIGHER
    assert verdict.text == "higher than expected: file mode faster than this machine's speed explains"


def test_live_at_the_source_rate_is_normal_even_where_less_was_expected():
    slower = figures(head_ms=16.0, background_ms=24.0, fps=25.0, live=live_figures(stylized=30.0, level=3))
    verdict = judge(slower, TABLE)  # half the reference's speed: 15 fps expected, the scheduler gave up quality
    assert verdict.judgements[1].expected == pytest.approx(15.0)
    assert verdict.judgements[1].status == NORMAL and verdict.status == NORMAL


def test_a_busy_cpu_is_named_with_the_verdict():
    verdict = judge(figures(fps=20.0, others=0.8), TABLE)
    assert verdict.status == LOWER
    assert verdict.text.endswith("(but other programs used 0.8 of the 2 cores meanwhile)")
    assert any("other programs used 0.8 of the 2 cores" in remark for remark in verdict.remarks)
    assert judge(figures(others=0.8), TABLE).text.startswith("normal for this machine's speed (but other programs")
    assert "other programs" not in judge(figures(fps=20.0, others=0.2), TABLE).text
    assert "other programs" not in judge(figures(fps=20.0, others=None), TABLE).text


def test_other_programs_cpu_time_is_what_all_cores_used_beyond_this_process():
    start = CpuSample(wall=100.0, busy=50.0, own=10.0)
    end = CpuSample(wall=110.0, busy=70.0, own=25.0)  # 20 s busy, 15 s of it ours, over 10 s
    assert others_cores(start, end) == 0.5
    assert others_cores(start, CpuSample(wall=110.0, busy=60.0, own=25.0)) == 0.0  # tick rounding: never negative
    assert others_cores(None, end) is None


def test_another_core_count_makes_the_verdict_a_rough_guide():
    verdict = judge(figures(cores=8), TABLE)
    assert any("8 cores and the reference 2" in remark for remark in verdict.remarks)
    assert not any("cores and the reference" in remark for remark in judge(figures(), TABLE).remarks)


def test_settings_without_a_reference_get_no_verdict_but_say_what_the_table_has():
    verdict = judge(figures(key=ReferenceKey("photo2cartoon", "cpu", "fp32", "toon", True)), TABLE)
    assert verdict.status == UNKNOWN and verdict.judgements == []
    assert verdict.text.startswith("no reference yet for a photo2cartoon style on cpu in fp32")
    assert "--json" in verdict.text
    assert any("builtin style on cpu in fp32" in remark for remark in verdict.remarks)


def test_a_gpu_run_is_told_that_no_gpu_figure_is_measured_yet():
    verdict = judge(figures(key=ReferenceKey("dctnet", "cuda", "fp16", "learned", False)), TABLE)
    assert verdict.status == UNKNOWN
    assert "not measured yet" in verdict.text
    assert verdict.reference is TABLE[2]


def test_the_most_specific_reference_is_chosen():
    broad = Reference(ReferenceKey("builtin", "cpu"), "m", "broad", 1.0, 1.0, 0, "r", 1.0)
    table = (broad, TABLE[0])
    assert find_reference(TOON, table) is TABLE[0]
    assert find_reference(replace(TOON, precision="int8"), table) is broad
    assert find_reference(ReferenceKey("dctnet", "cpu", "fp32", "learned", True), table) is None


def test_the_shipped_table_judges_the_defaults_and_marks_gpus_unmeasured():
    # `--style toon` and DCT-Net styles, all options at auto, on a CPU
    defaults = [replace(TOON, style="toon"), replace(LEARNED, style="anime"), replace(LEARNED, style="whitebox")]
    for key in defaults:
        entry = find_reference(key)
        assert entry is not None and entry.is_measured, key
        assert entry.file_fps and entry.live_stylized_fps and entry.live_rung, key
    for family in ("dctnet", "photo2cartoon"):
        entry = find_reference(ReferenceKey(family, "cuda", "fp16", "learned", False))
        assert entry is not None and not entry.is_measured and "not measured yet" in entry.measured
    assert all(r.is_measured == (r.key.device == "cpu") for r in REFERENCES)
    assert find_reference(replace(TOON, style="poster")) is None  # another built-in graph: not judged as toon


# -- the advice -------------------------------------------------------------------------------------
def options_of(found) -> list[str]:
    return [advice.option for advice in found]


def test_int8_is_advised_for_fp32_on_a_cpu_only_where_it_is_stored():
    fp32 = replace(LEARNED, precision="fp32")
    assert "--precision int8" in options_of(advise(figures(key=fp32, int8_stored=True, background_ms=50.0)))
    assert "--precision int8" not in options_of(advise(figures(key=fp32, int8_stored=False, background_ms=50.0)))
    assert "--precision int8" not in options_of(advise(figures(key=LEARNED, int8_stored=True)))


def test_the_built_in_background_is_advised_when_the_learned_one_dominates():
    heavy = advise(figures(key=LEARNED, head_ms=60.0, background_ms=150.0), TABLE)
    assert options_of(heavy)[0] == "--background-style toon"
    assert "150 ms a frame against 60 ms for a head" in heavy[0].reason
    assert "on the reference machine" not in heavy[0].reason  # TABLE has no figures for it
    light = figures(key=LEARNED, head_ms=60.0, background_ms=30.0, stages={"heads": 20.0, "background": 10.0})
    assert "--background-style toon" not in options_of(advise(light, TABLE))


def test_advice_quotes_the_reference_figures_of_the_advised_settings():
    toon_background = Reference(replace(LEARNED, background="toon"), "test CPU", "measured", 80.0, 50.0, 1, "r", 30.0)
    with_toon = (*TABLE, toon_background)
    found = advise(figures(key=LEARNED, head_ms=60.0, background_ms=150.0), with_toon)
    assert found[0].option == "--background-style toon"
    quoted = "(on the reference machine: file mode 50.0 fps against 12.0, live 30 stylized fps against 20)"
    assert found[0].reason.endswith(quoted)


def test_reuse_comes_first_for_a_learned_style_stylized_on_every_frame():
    every_frame = replace(LEARNED, reuse=False, precision="fp32")
    found = advise(figures(key=every_frame, int8_stored=True, head_ms=120.0, live=live_figures(0.0, 1.0, 5)))
    assert options_of(found) == ["--temporal reuse", "--precision int8"]  # at most two, the larger gain first
    assert "live passed 100% of the frames through" in found[0].reason
    assert "--temporal reuse" not in options_of(advise(figures(key=replace(TOON, reuse=False))))


def test_an_unused_gpu_is_the_first_advice():
    found = advise(figures(key=LEARNED, gpu="NVIDIA H100", gpu_usable=True, background_ms=500.0))
    assert found[0].option == "--device cuda" and "NVIDIA H100" in found[0].reason
    missing = advise(figures(key=LEARNED, gpu="NVIDIA H100", gpu_usable=False))
    assert missing[0].option == "a CUDA build of torch, then --device cuda"
    assert "--device cuda" not in " ".join(options_of(advise(figures(key=TOON, gpu="NVIDIA H100", gpu_usable=True))))


def test_frames_passed_through_live_ask_for_a_longer_budget():
    found = advise(figures(live=live_figures(stylized=10.0, passthrough=0.6)))
    assert "--latency-budget-ms 50 (live)" in options_of(found)
    assert not any("latency" in o for o in options_of(advise(figures(live=live_figures(passthrough=0.1)))))


def test_a_smaller_background_is_advised_when_it_is_file_mode_s_longest_stage():
    slow_background = {"decode": 4.0, "track": 9.0, "heads": 11.0, "background": 25.0}
    found = advise(figures(stages=slow_background))
    assert options_of(found) == ["--background-short-side 240 (stylize, batch)"]
    assert "25.0 ms a frame (then heads, 11.0 ms)" in found[0].reason
    assert advise(figures()) == []  # tracking and heads lead: nothing stands out


# -- the live figures -------------------------------------------------------------------------------
def record(t: float, level: int, rung: str, fps_out: int, p99: float | None = 30.0) -> dict:
    return {
        "t": t,
        "fps_in": 30,
        "fps_out": fps_out,
        "latency_ms_p50": 10.0,
        "latency_ms_p99": p99,
        "dropped": 0,
        "level": level,
        "rung": rung,
        "keyframes": 0,
        "faces": 1,
        "stage_ms": {"track": 8.0},
    }


def test_the_live_rung_is_the_most_frequent_after_the_scheduler_settled():
    records = [record(t, 0, "r0", 20) for t in (1, 2, 3)]  # the first third of 9 s: not counted
    records += [record(t, 2, "r2", 29) for t in (4, 5, 6, 7)]
    records += [record(8, 5, "passthrough", 30), record(9, 2, "r2", 30)]
    live = summarize_live(records, 9.0, 30.0, 33.3, ["quality: r2"])
    assert (live.level, live.rung) == (2, "r2")
    assert live.levels == {"2": 5, "5": 1}
    assert live.passthrough_share == pytest.approx(1 / 6, abs=1e-3)
    assert live.statuses == ["quality: r2"] and live.records == records


def test_seconds_passed_through_count_as_no_stylized_frame():
    records = [record(t, 2, "r2", 28) for t in (4, 5)] + [record(t, 5, "passthrough", 30) for t in (6, 7, 8, 9)]
    live = summarize_live(records, 9.0, 30.0, 33.3, [])
    assert (live.level, live.rung) == (5, "passthrough")
    assert live.fps_out == 30.0 and live.stylized_fps == 0.0
    assert live.passthrough_share == pytest.approx(2 / 3, abs=1e-3)


def test_a_live_run_that_wrote_no_frame_has_no_latency():
    live = summarize_live([record(1, 5, "passthrough", 0, p99=None) | {"latency_ms_p50": None}], 1.0, 30.0, 33.3, [])
    assert live.latency_ms_p50 is None and live.latency_ms_p99 is None and live.stylized_fps == 0.0


# -- the command ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_bench_json_has_every_figure_and_a_verdict(capsys):
    assert main(["bench", "--seconds", "1", "--live-seconds", "2", "--json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert set(data) >= {"machine", "settings", "network", "file", "live", "verdict", "advice"}
    assert data["settings"]["style"] == "toon" and data["settings"]["family"] == "builtin"
    assert data["file"]["frames"] == 30 and set(data["file"]["stage_ms"]) >= {"decode", "track", "heads", "encode"}
    assert data["network"]["runs"] >= 1 and data["network"]["head_size"] == 288
    assert data["live"]["records"] and data["live"]["rung"]
    # The defaults have a measured reference: a verdict in words, not "unknown".
    assert data["verdict"]["status"] in (NORMAL, LOWER, HIGHER)
    assert data["verdict"]["text"] and len(data["verdict"]["judgements"]) == 2
    assert data["verdict"]["reference"]["key"] == {
        "family": "builtin",
        "device": "cpu",
        "precision": "fp32",
        "background": "toon",
        "reuse": False,
        "style": "toon",
    }
    assert all(set(a) == {"option", "reason"} for a in data["advice"])
    assert "bench: live mode" in err


def test_bench_names_a_missing_style_in_one_line(capsys, streamer_home):
    assert main(["bench", "--style", "anime", "--seconds", "1"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("streamer: error: style 'anime' is not installed")


def test_bench_refuses_a_clip_of_no_length(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--seconds", "0"])
    assert exit_.value.code == 2
    assert "--seconds: must be above 0" in capsys.readouterr().err
