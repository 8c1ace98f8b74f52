"""A style switched to while running whose installed model is damaged: one status line names the
style, what is wrong and the fix; the current style goes on without a gap; the controls keep it.

The store is a real one (a DCT-Net download imported with `streamer models import`, copied per
test), damaged on disk after the import; the loop runs on a fake clock.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from streamer.pipeline.live import LiveControls, LiveOptions, LivePipeline

from .conftest import DCTNET_FIXTURE_STYLE
from .fakes import Camera, ClockedStylizers, CollectSink, FakeClock, FakeTracker, run_on_clock


@pytest.fixture(scope="module")
def scene():
    """Small frames of one still face and that face's 5 points."""
    from streamer.capture.synthetic import Motion, SyntheticSource

    source = SyntheticSource([Motion((160, 120), scale=0.6)], size=(320, 240), noise=2.0)
    return [source.render(i) for i in range(4)], source.ground_truth(0)[0]


@pytest.fixture
def store(dctnet_store, tmp_path, monkeypatch):
    """A copy of the imported store, as STREAMER_HOME: the style's folder, to be damaged."""
    home = tmp_path / "home"
    shutil.copytree(dctnet_store / "home", home)
    monkeypatch.setenv("STREAMER_HOME", str(home))
    return home / "models" / DCTNET_FIXTURE_STYLE


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def _flip_a_bit(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10  # inside the weights: the graph still loads
    path.write_bytes(bytes(data))


def _switch_run(scene, after: int = 10, frames_total: int = 40):
    """toon runs; the user asks for the stored style after frame `after`; the loader is waited for
    after the next frame (so the switch, if any, takes effect from frame `after + 2`)."""
    frames, points = scene
    clock = FakeClock()
    camera = Camera(frames, 30, frames_total, clock)
    sink = CollectSink(clock, keep=frames_total)
    controls = LiveControls("toon", styles=["toon", DCTNET_FIXTURE_STYLE])
    pipeline = LivePipeline(
        lambda: camera,
        [sink],
        LiveOptions(style="toon", fps=30, max_faces=1),
        controls,
        tracker_factory=lambda: FakeTracker([points]),
        clock=clock,
        open_stylizer=ClockedStylizers(clock),
    )

    def after_step(frame):
        if frame.index == after:
            controls.set_style(DCTNET_FIXTURE_STYLE)
        if frame.index == after + 1:
            pipeline.style_loader.join()

    summary = run_on_clock(pipeline, camera, clock, after_step)
    untouched = [i for i in range(frames_total) if np.array_equal(sink.pictures[i], frames[i % len(frames)])]
    return summary, controls, sink, untouched


@pytest.mark.parametrize(
    ("damage", "file"),
    [(_truncate, "head.int8.onnx"), (_flip_a_bit, "head.int8.onnx"), (_truncate, "background.onnx")],
    ids=["truncated", "bit-flipped", "truncated-unused-on-cpu"],
)
def test_a_switch_to_a_damaged_model_is_one_line_and_the_current_style_goes_on(scene, store, damage, file):
    damage(store / file)
    summary, controls, sink, untouched = _switch_run(scene)
    assert len(summary.statuses) == 1, summary.statuses
    status = summary.statuses[0]
    assert status.startswith(f"style {DCTNET_FIXTURE_STYLE} not available: ") and status.endswith("; toon goes on")
    assert file in status and f"streamer models pull {DCTNET_FIXTURE_STYLE}" in status
    assert "\n" not in status and "Traceback" not in status
    assert controls.style == "toon"
    assert sink.indices == list(range(40)) and summary.dropped == 0, "no gap"
    assert untouched == [] and (summary.engine_failures, summary.passthrough_frames) == (0, 0), "no passthrough"


def test_the_same_switch_to_the_sound_model_takes_over(scene, store):
    summary, controls, _, untouched = _switch_run(scene)
    style, *notes = summary.statuses  # notes: the backends passed over on this machine, and why
    assert style == f"style: {DCTNET_FIXTURE_STYLE}" and all(n.startswith("note: ") for n in notes)
    assert controls.style == DCTNET_FIXTURE_STYLE
    assert untouched == []


def test_a_damaged_custom_style_names_its_import_command_and_a_command_that_opens_it_says_one_line(
    store, face_clip, tmp_path, capsys
):
    """Opening a damaged style anywhere (here `streamer stylize`) is the same sentence; a custom
    style (imported with --name) cannot be pulled, so the fix is its import command."""
    import json

    from streamer.cli import main

    custom = store.parent / "mine"
    shutil.copytree(store, custom)
    manifest = json.loads((custom / "manifest.json").read_text())
    (custom / "manifest.json").write_text(json.dumps({**manifest, "style": "mine", "custom": True}))
    (custom / "mask.png").unlink()
    out = tmp_path / "out.mp4"
    assert main(["stylize", str(face_clip), str(out), "--style", "mine", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "the installed style 'mine' is damaged: mask.png is missing" in err
    assert "import it again: streamer models import PATH --family dctnet --name mine" in err
    assert not out.exists()
