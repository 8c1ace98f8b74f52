"""The soak (`benchmarks/soak.py`): a 20 s run of the same code checks that it samples both
processes, judges the recording and the WebRTC client, and draws its curves; the verdict is
checked on injected samples. The figures of a real run are not asserted (machines differ and are
loaded); BENCHMARKS.md has the long runs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from .benchmark_modules import benchmark_script, load_benchmark

SCRIPT = benchmark_script("soak")


soak = load_benchmark("soak")


# --- the verdict on injected samples ---------------------------------------------------------------
def _samples(seconds: float = 600, step: float = 10, rss=None, fds=None, threads=None, p99=None) -> list[dict]:
    """Samples of both processes every `step` s; each of rss/fds/threads/p99 is a function of t (a
    flat default otherwise)."""
    rss = rss or (lambda t: 400.0)
    fds = fds or (lambda t: 11)
    threads = threads or (lambda t: 16)
    p99 = p99 or (lambda t: 80.0)
    out = []
    t = step
    while t <= seconds:
        process = {
            "rss_mb": rss(t),
            "fds": fds(t),
            "threads": threads(t),
            "cpu_s": t,
            "latency_ms_p50": 40.0,
            "latency_ms_p99": p99(t),
            "records": 10,
            "level": 0,
        }
        machine = {"cores": 2, "other_cpu_s": 0.0, "other_cores": 0.0, "load1": 1.0}
        out.append({"t": t, "live": dict(process), "serve": dict(process), "machine": machine})
        t += step
    return out


def _failed(samples: list[dict]) -> set[tuple[str, str]]:
    return {(v["criterion"], v["process"]) for v in soak.verdict(samples) if not v["passed"]}


def _growing(total: float, seconds: float = 600):
    """A value growing linearly by `total` (a fraction) from the warm-up's end to the run's end."""
    warmup = min(120, 0.2 * seconds)
    return lambda t: 400.0 * (1 + total * max(0.0, t - warmup) / (seconds - warmup))


def test_the_windows_are_ten_minutes_in_a_long_run_and_quarters_in_a_short_one():
    assert soak.windows(_samples(3600)) == (120, 720, 3000, 3600)
    assert soak.windows(_samples(600)) == (120, 240, 480, 600)
    assert soak.windows(_samples(20, step=2)) == pytest.approx((4, 8, 16, 20))


def test_flat_samples_pass_every_criterion():
    verdicts = soak.verdict(_samples())
    assert {(v["criterion"], v["process"]) for v in verdicts} == {
        (c, p) for c in ("rss growth", "p99 flat", "descriptors steady", "threads steady") for p in ("live", "serve")
    }
    assert all(v["passed"] for v in verdicts)


def test_rss_growth_of_six_percent_fails_and_two_percent_passes():
    assert _failed(_samples(rss=_growing(0.08))) == {("rss growth", "live"), ("rss growth", "serve")}
    assert _failed(_samples(rss=_growing(0.02))) == set()
    # Growth during the warm-up (loading models, filling caches) is not judged.
    assert _failed(_samples(rss=lambda t: 300.0 if t < 120 else 400.0)) == set()


def test_the_rss_threshold_is_five_percent_between_the_windows_medians():
    first, last = 400.0, 400.0 * 1.06
    samples = _samples(rss=lambda t: first if t < 480 else last)
    assert ("rss growth", "live") in _failed(samples)
    samples = _samples(rss=lambda t: first if t < 480 else 400.0 * 1.02)
    assert not _failed(samples)


def test_a_descriptor_or_thread_more_at_the_end_fails():
    assert _failed(_samples(fds=lambda t: 11 if t < 500 else 12)) == {
        ("descriptors steady", "live"),
        ("descriptors steady", "serve"),
    }
    assert _failed(_samples(threads=lambda t: 16 + int(t > 550))) == {
        ("threads steady", "live"),
        ("threads steady", "serve"),
    }
    # Fewer at the end, or the same peak, is steady.
    assert not _failed(_samples(threads=lambda t: 16 - int(t > 550), fds=lambda t: 11 + (int(t) // 10) % 2))


def test_a_p99_jump_fails_and_noise_around_a_flat_p99_passes():
    assert _failed(_samples(p99=lambda t: 80.0 if t < 450 else 130.0)) == {("p99 flat", "live"), ("p99 flat", "serve")}
    assert not _failed(_samples(p99=lambda t: 80.0 + (15.0 if (int(t) // 10) % 3 == 0 else -5.0)))
    # At low latency the 10 ms slack applies: 20 -> 29 ms is within it.
    assert not _failed(_samples(p99=lambda t: 20.0 if t < 450 else 29.0))


def test_nothing_to_compare_fails():
    samples = _samples()
    for sample in samples:
        sample["serve"]["latency_ms_p99"] = None
    assert _failed(samples) == {("p99 flat", "serve")}
    assert len(_failed([])) == 8


# --- a short real run ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def short_run(tmp_path_factory) -> dict:
    pytest.importorskip("aiortc")
    out = tmp_path_factory.mktemp("soak")
    # A roomy budget keeps serve stylizing on a loaded machine (as in test_web_rtc): the frames that
    # come back are judged, and at the default budget a busy machine may leave only passthrough.
    return soak.run_soak(minutes=0.35, out=out, sample_seconds=2.0, clip="generated", serve_budget_ms=400)


def test_a_short_run_samples_both_processes_and_the_machine(short_run):
    samples = short_run["samples"]
    assert len(samples) >= 5
    assert [s["t"] for s in samples] == sorted(s["t"] for s in samples)
    for sample in samples:
        for process in ("live", "serve"):
            assert set(sample[process]) == set(soak.PROCESS_FIELDS)
            assert sample[process]["rss_mb"] > 0 and sample[process]["fds"] > 0 and sample[process]["threads"] > 0
        assert set(sample["machine"]) == set(soak.MACHINE_FIELDS)
        assert sample["machine"]["other_cpu_s"] >= 0
    for process in ("live", "serve"):
        assert any(s[process]["latency_ms_p99"] is not None for s in samples), process
        assert sum(s[process]["records"] for s in samples) > 0
    assert {(v["criterion"], v["process"]) for v in short_run["verdicts"]} == {
        (c, p) for c in ("rss growth", "p99 flat", "descriptors steady", "threads steady") for p in ("live", "serve")
    }


def test_a_short_run_records_a_valid_complete_file_and_both_processes_exit_0(short_run):
    recording = short_run["recording"]
    assert recording["passed"], recording
    assert recording["frames"] == recording["frames_out"] > 0
    assert short_run["live_summary"].startswith("live: ")
    assert short_run["exit_status"] == {"live": 0, "serve": 0}
    assert short_run["live_source"].startswith("generated")


def test_the_serve_client_gets_stylized_video_and_stats(short_run):
    client = short_run["client"]
    assert client["error"] is None
    assert client["video_frames"] > 0 and client["stats"] > 0
    assert client["stylized"] > 0
    assert short_run["checks"]["client got video and stats"]


def test_the_outputs_are_written_and_the_curves_are_a_readable_png(short_run):
    out = Path(short_run["out"])
    saved = json.loads((out / "samples.json").read_text())
    assert saved["samples"] == short_run["samples"] and saved["passed"] == short_run["passed"]
    image = cv2.imread(str(out / "soak.png"))
    assert image is not None and image.shape[0] > 500 and image.shape[1] > 500
    assert image.std() > 10  # something is drawn
    table = soak.summary_table(short_run)
    assert "rss growth" in table and "verdict:" in table
