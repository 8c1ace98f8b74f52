"""TensorRT: engine keys, `streamer-trt-build`, and the fallback when an engine cannot be used.

The build and the runner themselves need `tensorrt` and a GPU; those tests skip with the reason
elsewhere (TensorRT is not installable in this project's CI)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from streamer.engines.backends.tensorrt import engine_key, key_mismatch

from .conftest import DCTNET_FIXTURE_STYLE

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
REPO = Path(__file__).resolve().parents[1]


def _gpu() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


SHAPES = {"image": [[1, 288, 288, 3], [1, 288, 288, 3], [4, 288, 288, 3]]}
KEY = engine_key("abc", "10.9.0", "NVIDIA H100", (9, 0), "fp16", SHAPES)


def test_an_engine_is_used_only_when_its_key_matches():
    assert key_mismatch(KEY, KEY) is None
    for field, value in [
        ("onnx_sha256", "def"),
        ("tensorrt", "10.10.0"),
        ("gpu", "NVIDIA A100"),
        ("compute_capability", "8.0"),
        ("precision", "fp32"),
    ]:
        reason = key_mismatch({**KEY, field: value}, KEY)
        assert reason is not None and field in reason


def test_profiles_must_cover_the_shapes_asked_for():
    wider = {"image": [[1, 288, 288, 3], [1, 288, 288, 3], [8, 288, 288, 3]]}
    assert key_mismatch(KEY, {**KEY, "shapes": {"image": [[1, 288, 288, 3]] * 3}}) is None
    assert "does not cover" in key_mismatch(KEY, {**KEY, "shapes": wider})


def _trt_build(*args: str, env: dict | None = None, module: str = "streamer.trt_build") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=300, env=env, cwd=REPO
    )


def test_the_engine_builder_runs_as_streamer_trt_build_and_from_a_checkout_as_trt_build():
    for module in ("streamer.trt_build", "trt_build"):
        result = _trt_build("--help", module=module)
        assert result.returncode == 0 and result.stdout.startswith("usage: streamer-trt-build "), module


@pytest.mark.skipif(HAS_TENSORRT and _gpu(), reason="TensorRT and a GPU are present: the build runs for real")
def test_without_tensorrt_or_a_gpu_trt_build_says_so_in_one_line():
    result = _trt_build("toon")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("trt_build: error: ")
    assert "TensorRT" in result.stderr


def test_trt_build_refuses_a_style_that_is_not_installed(tmp_path):
    import os

    result = _trt_build("sketch", env={**os.environ, "STREAMER_HOME": str(tmp_path)})
    assert result.returncode == 2 and "not installed" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.skipif(HAS_TENSORRT and _gpu(), reason="TensorRT and a GPU are present")
def test_asking_for_tensorrt_without_an_engine_falls_back_and_says_why(dctnet_store, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("STREAMER_HOME", str(dctnet_store / "home"))
    from streamer.engines import open_engine

    with open_engine(DCTNET_FIXTURE_STYLE, backend="tensorrt", device="auto") as engine:
        assert engine.backend.startswith(("torch", "onnxruntime"))
        assert engine.notes and "TensorRT not used" in engine.notes[0] and "streamer-trt-build" in engine.notes[0]
        crops = np.zeros((1, 288, 288, 3), np.uint8)
        assert engine.stylize_heads(crops).shape == crops.shape


@pytest.mark.skipif(not (HAS_TENSORRT and _gpu()), reason="needs tensorrt and a CUDA GPU")
def test_built_engines_match_onnxruntime(dctnet_store, monkeypatch):
    monkeypatch.setenv("STREAMER_HOME", str(dctnet_store / "home"))
    assert _trt_build(DCTNET_FIXTURE_STYLE, "--precision", "fp32").returncode == 0
    # A second run finds the key unchanged and builds nothing.
    again = _trt_build(DCTNET_FIXTURE_STYLE, "--precision", "fp32")
    assert again.returncode == 0 and "up to date" in again.stderr
    from streamer.engines.backends.onnxruntime import OnnxRuntimeRunner
    from streamer.engines.backends.tensorrt import TensorRTRunner
    from streamer.engines.registry import tensorrt_engine_path
    from streamer.engines.store import read_manifest

    crops = np.random.default_rng(0).integers(0, 255, (2, 288, 288, 3), dtype=np.uint8)
    expected = OnnxRuntimeRunner(read_manifest(DCTNET_FIXTURE_STYLE).path("head")).infer({"image": crops})
    got = TensorRTRunner(tensorrt_engine_path(DCTNET_FIXTURE_STYLE, "head", "fp32")).infer({"image": crops})
    assert np.abs(got["stylized"].astype(int) - expected["stylized"]).max() <= 2


def test_every_graph_trt_build_reads_takes_and_gives_uint8_through_a_cast(
    dctnet_store, photo2cartoon_store, monkeypatch, tmp_path
):
    from streamer.engines.store import read_manifest
    from streamer.engines.toon import BACKGROUND_PARAMS, HEAD_PARAMS, build_toon_model
    from streamer.trt_build.build import uint8_io_problem

    graphs = {}
    for role, params in (("head", HEAD_PARAMS), ("background", BACKGROUND_PARAMS)):
        graphs[f"toon {role}"] = tmp_path / f"toon_{role}.onnx"
        graphs[f"toon {role}"].write_bytes(build_toon_model(params).SerializeToString())
    for store, style in ((dctnet_store, DCTNET_FIXTURE_STYLE), (photo2cartoon_store, "photo2cartoon")):
        monkeypatch.setenv("STREAMER_HOME", str(store / "home"))
        manifest = read_manifest(style)
        for role in ("head", "background"):
            if manifest.path(role):
                graphs[f"{style} {role}"] = manifest.path(role)
    assert {"anime head", "anime background", "photo2cartoon head"} <= set(graphs)
    assert {name: uint8_io_problem(path) for name, path in graphs.items()} == dict.fromkeys(graphs)


def test_trt_build_refuses_a_graph_tensorrt_would_reject_in_one_line(dctnet_store, tmp_path, monkeypatch):
    """A stored graph that reads its uint8 input with anything but a Cast is refused before building."""
    import os
    import shutil

    import onnx
    from onnx import TensorProto, helper

    from streamer.engines.store import read_manifest

    shutil.copytree(dctnet_store / "home", tmp_path / "home")
    monkeypatch.setenv("STREAMER_HOME", str(tmp_path / "home"))
    nodes = [
        helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Transpose", ["nchw"], ["stylized"], perm=[0, 2, 3, 1]),
    ]
    io = [helper.make_tensor_value_info(n, TensorProto.UINT8, ["N", 288, 288, 3]) for n in ("image", "stylized")]
    head = read_manifest(DCTNET_FIXTURE_STYLE).path("head")
    onnx.save(helper.make_model(helper.make_graph(nodes, "old", io[:1], io[1:])), str(head))
    result = _trt_build(DCTNET_FIXTURE_STYLE, env=dict(os.environ))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "read by Transpose, not by a Cast" in result.stderr and "import the style again" in result.stderr
