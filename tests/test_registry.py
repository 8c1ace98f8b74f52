"""The backend registry and the engine options: how `open_engine` chooses a backend from the
registry's data, what it tells the user, and the one list of styles that can be opened now."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest

from streamer.engines import backends, store
from streamer.engines.backends import Backend, Network
from streamer.engines.options import EngineOptions
from streamer.engines.registry import available_styles, open_engine
from streamer.engines.runner import Runner
from streamer.errors import DeviceUnavailableError, InvalidInputError, ModelError

STYLE = "anime"  # a catalog style, stored here from ONNX graphs only (no PyTorch weights)


def _store_onnx_style() -> str:
    """Store STYLE (in $STREAMER_HOME): the built-in style's graphs, stored as a DCT-Net-family style."""
    from streamer.engines.toon import BACKGROUND_PARAMS, HEAD_PARAMS, build_toon_model

    with store.Staging(STYLE) as staging:
        for role, params in (("head", HEAD_PARAMS), ("background", BACKGROUND_PARAMS)):
            (staging.dir / f"{role}.onnx").write_bytes(build_toon_model(params).SerializeToString())
        staging.commit(store.Manifest(STYLE, "dctnet", {"head": "head.onnx", "background": "background.onnx"}, {}))
    return STYLE


@pytest.fixture
def onnx_style(streamer_home) -> str:
    return _store_onnx_style()


@pytest.fixture
def replaced() -> Iterator:
    """replaced(name, **fields): the registered backend `name` with some of its data changed, for
    one test (a machine without TensorRT or a GPU, whatever this one has)."""
    originals: dict[str, Backend] = {}

    def replace(name: str, **fields) -> Backend:
        original = backends.get(name)
        originals.setdefault(name, original)
        return backends.register(dataclasses.replace(original, **fields))

    yield replace
    for original in originals.values():
        backends.register(original)


class EchoRunner(Runner):
    """Gives its input back; records the network it was opened for."""

    backend = "echo"

    def __init__(self, network: Network, device: str, precision: str) -> None:
        from streamer.engines.backends.torch import IMAGE_SPECS

        self.inputs, self.outputs = IMAGE_SPECS
        self.network, self.device, self.precision = network, device, precision

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"stylized": feed["image"].copy()}


def test_a_backend_registered_from_one_place_opens_a_stored_style(onnx_style):
    """A new backend is its module's `register()` call: nothing else names it."""
    opened: list[Network] = []

    def open_echo(network: Network, device: str, precision: str, threads: int) -> Runner:
        opened.append(network)
        return EchoRunner(network, device, precision)

    backends.register(
        Backend("echo", "Echo", precisions={"cpu": ("fp32",)}, open=open_echo, unavailable=lambda device: None)
    )
    try:
        assert "echo" in backends.names()
        with open_engine(EngineOptions(style=onnx_style, backend="echo")) as engine:
            assert engine.backend == "echo (cpu, fp32)" and engine.notes == []
            crops = np.full((2, 288, 288, 3), 7, np.uint8)
            assert np.array_equal(engine.stylize_heads(crops), crops)
        assert [(n.style, n.role) for n in opened] == [(STYLE, "head"), (STYLE, "background")]
        assert opened[0].onnx == store.read_manifest(STYLE).path("head")
        # With the default rank it comes after the shipped backends (and `auto` never picks it: no auto devices).
        assert backends.names()[-1] == "echo"
    finally:
        backends.unregister("echo")
    with pytest.raises(InvalidInputError, match="unknown backend 'echo'; choose one of auto, tensorrt"):
        EngineOptions(backend="echo")


def test_every_module_of_the_backends_package_registers_itself_and_auto_tries_them_by_rank():
    import pkgutil

    modules = {module.name for module in pkgutil.iter_modules(backends.__path__)}
    assert modules == {"onnxruntime", "torch", "tensorrt"} and modules <= set(backends.names())
    assert backends.names()[:3] == ("tensorrt", "torch", "onnxruntime")


def test_auto_notes_why_it_skipped_each_backend(onnx_style, replaced):
    replaced("tensorrt", unavailable=lambda device: "TensorRT is not installed")
    replaced("torch", unavailable=lambda device: "torch sees no CUDA GPU" if device == "cuda" else None)
    with open_engine(onnx_style, device="auto") as engine:
        assert engine.backend == "onnxruntime (cpu, fp32)"
        assert engine.notes == [
            "tensorrt skipped: TensorRT is not installed",
            "torch on cuda skipped: torch sees no CUDA GPU",
        ]


def test_auto_notes_a_backend_that_cannot_open_the_style(onnx_style, replaced):
    """A GPU is there, but the style has no PyTorch weights and no TensorRT engine: both say why."""
    replaced("tensorrt", unavailable=lambda device: None, unusable=backends.get("tensorrt").unusable)
    replaced("torch", unavailable=lambda device: None)
    from streamer.engines.backends import tensorrt

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tensorrt, "current_environment", lambda: ("10.0", "Test GPU", (9, 0)))
        with open_engine(onnx_style, device="auto") as engine:
            notes = engine.notes
    assert engine.backend == "onnxruntime (cpu, fp32)"
    assert notes[0] == (
        f"tensorrt skipped: no fp16 TensorRT engine built for {STYLE} head (build it with: streamer-trt-build {STYLE})"
    )
    assert f"torch on cuda skipped: style '{STYLE}' was imported from an ONNX file" in notes[1]
    assert any(f"{STYLE} background" in note for note in notes)


def test_tensorrt_asked_for_falls_back_and_says_why(onnx_style, replaced):
    replaced("tensorrt", unavailable=lambda device: "TensorRT is not installed")
    replaced("torch", unavailable=lambda device: "torch sees no CUDA GPU" if device == "cuda" else None)
    with open_engine(onnx_style, backend="tensorrt") as engine:
        assert engine.backend == "onnxruntime (cpu, fp32)"
        first = engine.notes[0]
    assert first.startswith("TensorRT not used for head: TensorRT is not installed; using onnxruntime (cpu)")
    assert f"streamer-trt-build {STYLE}" in first


def test_a_backend_asked_for_that_cannot_run_is_one_sentence(onnx_style, replaced):
    replaced("torch", unavailable=lambda device: "torch sees no CUDA GPU" if device == "cuda" else None)
    with pytest.raises(DeviceUnavailableError) as error:
        open_engine(onnx_style, backend="torch", device="cuda")
    assert str(error.value) == "--backend torch --device cuda was asked for, but torch sees no CUDA GPU"
    # The machine has torch, the style has no PyTorch weights: the style is what is missing.
    with pytest.raises(ModelError, match="imported from an ONNX file"):
        open_engine(onnx_style, backend="torch", device="cpu")
    with pytest.raises(InvalidInputError, match="--backend tensorrt runs on cuda; --device cpu is not one"):
        open_engine(onnx_style, backend="tensorrt", device="cpu")


def test_a_device_no_backend_can_use_names_every_backend_that_failed(onnx_style, replaced):
    replaced("tensorrt", unavailable=lambda device: "TensorRT is not installed")
    replaced("torch", unavailable=lambda device: "torch sees no CUDA GPU" if device == "cuda" else None)
    replaced("onnxruntime", unavailable=lambda device: "onnxruntime-gpu is not installed" if device == "cuda" else None)
    with pytest.raises(DeviceUnavailableError) as error:
        open_engine(onnx_style, device="cuda")
    message = str(error.value)
    assert message.startswith(f"no backend can run {STYLE} head on cuda (")
    for reason in ("tensorrt: TensorRT", "torch on cuda: torch sees", "onnxruntime on cuda: onnxruntime-gpu"):
        assert reason in message


def test_precision_defaults_come_from_the_backend_and_a_missing_one_is_noted(onnx_style, replaced):
    replaced("tensorrt", unavailable=lambda device: "TensorRT is not installed")
    replaced("torch", unavailable=lambda device: "torch sees no CUDA GPU" if device == "cuda" else None)
    assert backends.get("onnxruntime").precisions["cpu"][0] == "int8"
    with open_engine(onnx_style, device="cpu") as engine:  # int8 by default, but this style stores none
        assert engine.backend == "onnxruntime (cpu, fp32)" and engine.notes == []
    with open_engine(onnx_style, device="cpu", precision="int8") as engine:
        assert engine.notes == [
            f"int8 is not available for {STYLE} head on onnxruntime (cpu); using fp32",
            f"int8 is not available for {STYLE} background on onnxruntime (cpu); using fp32",
        ]


@pytest.mark.parametrize(("background_style", "runner_backend"), [("same", "onnxruntime"), ("toon", "onnxruntime")])
def test_the_background_style_is_data(onnx_style, background_style, runner_backend):
    with open_engine(onnx_style, device="cpu", background_style=background_style) as engine:
        assert engine.background_runner.backend == runner_backend
        assert engine.background_multiple == (1 if background_style == "toon" else 16)
    with open_engine(onnx_style, device="cpu", background_style="none") as engine:
        assert engine.background_runner is None and not engine.stylizes_background


def test_auto_keeps_the_styles_own_background_with_the_builtin_one_beside_it(onnx_style):
    """`--background-style auto` (the default): the style's own network stylizes the background, and
    the built-in style's is kept as the fallback a live stream may take (none for the built-in
    style itself, whose own is that one)."""
    image = np.random.default_rng(1).integers(0, 255, (64, 96, 3), np.uint8)
    with open_engine(onnx_style, device="cpu") as engine, open_engine("toon") as toon:
        assert engine.background_of == onnx_style and engine.background_multiple == 16
        assert engine.fallback_background is not None
        assert np.array_equal(engine.stylize_background(image, fallback=True), toon.stylize_background(image))
        assert toon.fallback_background is None and toon.background_of == "toon"
    for background_style, of in (("same", onnx_style), ("toon", "toon"), ("none", None)):
        with open_engine(onnx_style, device="cpu", background_style=background_style) as engine:
            assert engine.fallback_background is None and engine.background_of == of


def test_the_builtin_style_keeps_its_own_backend_and_device():
    with open_engine("toon", device="cuda") as engine:
        assert engine.backend == "onnxruntime (cpu, fp32)"
        assert engine.notes == ["style 'toon' runs on cpu only; --device cuda does not apply to it"]
    with pytest.raises(InvalidInputError, match="runs on onnxruntime only"):
        open_engine("toon", backend="tensorrt")


@pytest.mark.parametrize(
    ("field", "value", "choices"),
    [
        ("backend", "cuda", "auto, tensorrt, torch, onnxruntime"),
        ("device", "gpu", "auto, cpu, cuda"),
        ("precision", "fp8", "auto, fp32, fp16, int8"),
        ("background_style", "blur", "auto, same, toon, none"),
    ],
)
def test_every_options_class_checks_the_engine_options(field, value, choices):
    from streamer.pipeline.file_job import StylizeOptions
    from streamer.pipeline.live import LiveOptions

    for options_class in (EngineOptions, StylizeOptions, LiveOptions):
        with pytest.raises(InvalidInputError, match=f"{value!r}; choose one of {choices}$"):
            options_class(**{field: value})
    with pytest.raises(InvalidInputError, match="threads"):
        EngineOptions(threads=0)


def test_the_options_classes_are_engine_options_and_open_engine_takes_them():
    from streamer.pipeline.file_job import StylizeOptions
    from streamer.pipeline.live import LiveOptions

    live = LiveOptions(fps=25, precision="fp32")
    assert isinstance(live, EngineOptions) and live.threads == 2 and live.style == "toon"
    assert live.engine_options() == EngineOptions(precision="fp32", threads=2)
    assert StylizeOptions(max_faces=2).engine_options() == EngineOptions()
    with open_engine(live) as engine:
        assert engine.style == "toon"


def test_from_args_reads_the_engine_flags():
    import argparse

    from streamer.pipeline.file_job import StylizeOptions

    args = argparse.Namespace(style="toon", backend="onnxruntime", device="cpu", precision="fp32", other=1)
    options = StylizeOptions.from_args(args, max_faces=1)
    assert (options.backend, options.device, options.precision, options.max_faces) == ("onnxruntime", "cpu", "fp32", 1)
    assert options.background_style == "auto" and options.threads == 1


def test_available_styles_are_the_builtin_and_the_installed_ones(streamer_home):
    assert available_styles() == ["poster", "toon"]


def test_an_installed_style_is_available(onnx_style):
    assert available_styles() == [STYLE, "poster", "toon"]


def _live_command_styles(tmp_path, monkeypatch) -> list[str]:
    """The styles the `s` key of `streamer live` steps through."""
    import streamer.pipeline.live as live
    from streamer.cli import main

    seen = {}

    class Pipeline:
        def __init__(self, open_source, sinks, options, controls, **kw):
            seen["controls"] = controls

        def run(self):
            return live.LiveSummary()

    monkeypatch.setattr(live, "LivePipeline", Pipeline)
    assert main(["live", "--source", "udp://127.0.0.1:9", "--sink", f"file:{tmp_path / 'o.mp4'}", "--quiet"]) == 0
    return seen["controls"].styles


def _page_styles() -> list[str]:
    """/api/styles of `streamer serve`."""
    pytest.importorskip("aiortc")
    from aiohttp.test_utils import TestClient, TestServer

    from streamer.server.server import ServerOptions, StreamerServer

    async def fetch() -> list[str]:
        async with TestClient(TestServer(StreamerServer(ServerOptions()).app())) as client:
            response = await client.get("/api/styles")
            return (await response.json())["styles"]

    return asyncio.run(fetch())


def _help_styles(capsys) -> str:
    from streamer.cli import main

    with pytest.raises(SystemExit):
        main(["stylize", "--help"])
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("installed", [False, True])
def test_the_commands_the_page_and_the_s_key_offer_the_same_styles(
    streamer_home, tmp_path, monkeypatch, capsys, installed
):
    from streamer.server.gradio_app import Demo

    if installed:
        _store_onnx_style()
    expected = [STYLE, "poster", "toon"] if installed else ["poster", "toon"]
    assert available_styles() == expected
    assert _live_command_styles(tmp_path, monkeypatch) == expected
    assert _page_styles() == expected
    assert Demo().styles() == expected
    assert f"available here: {', '.join(expected)})" in _help_styles(capsys)


def test_serve_refuses_a_default_style_that_is_not_installed(streamer_home, monkeypatch, capsys):
    pytest.importorskip("aiortc")
    from streamer.cli import EXIT_USER_ERROR, main
    from streamer.server import server

    monkeypatch.setattr(server, "run", lambda *args: pytest.fail("the server must not start"))
    assert main(["serve", "--style", "sketch"]) == EXIT_USER_ERROR
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "style 'sketch' is not installed" in error


def test_a_style_that_is_not_installed_says_how_to_pull_it(streamer_home):
    with pytest.raises(ModelError) as anime:
        open_engine("anime")
    assert "run `streamer models pull anime`" in str(anime.value)
    assert "streamer models import PATH --style anime" in str(anime.value), "and the way by hand"
    with pytest.raises(ModelError) as p2c:
        open_engine("photo2cartoon")
    assert "models pull" not in str(p2c.value), "photo2cartoon's weights cannot be pulled"


def test_the_catalog_and_the_pull_sources_agree():
    from streamer.engines.pull import ManualOnly, pull_sources
    from streamer.engines.registry import CATALOG

    downloadable = {name for name, source in pull_sources().items() if not isinstance(source.origin, ManualOnly)}
    assert downloadable == {name for name, spec in CATALOG.items() if spec.pullable}
