"""The built-in style through the Engine contract on ONNX Runtime."""

import numpy as np
import pytest

from streamer.engines import DCTNET_LAYOUT, open_engine
from streamer.engines.backends.onnxruntime import OnnxRuntimeRunner
from streamer.engines.toon import build_toon_model
from streamer.errors import InvalidInputError, ModelError


@pytest.fixture(scope="module")
def engine():
    with open_engine("toon") as e:
        yield e


def _step_image(h: int = 96, w: int = 128) -> np.ndarray:
    img = np.full((h, w, 3), 200, np.uint8)
    img[:, w // 2 :] = 60
    return img


def test_heads_batch_of_any_size_keeps_shape_and_dtype(engine):
    for n in (1, 3):
        crops = np.random.default_rng(n).integers(0, 255, (n, 288, 288, 3), dtype=np.uint8)
        out = engine.stylize_heads(crops)
        assert out.shape == crops.shape and out.dtype == np.uint8
    assert engine.stylize_heads(np.zeros((0, 288, 288, 3), np.uint8)).shape == (0, 288, 288, 3)


def test_batched_heads_equal_heads_one_by_one(engine):
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (3, 288, 288, 3), dtype=np.uint8)
    batched = engine.stylize_heads(crops)
    single = np.concatenate([engine.stylize_heads(c[None]) for c in crops])
    np.testing.assert_array_equal(batched, single)


@pytest.mark.parametrize("size", [(97, 131), (240, 320), (33, 17)])
def test_background_of_any_size(engine, size):
    img = np.random.default_rng(1).integers(0, 255, (*size, 3), dtype=np.uint8)
    assert engine.stylize_background(img).shape == img.shape


def test_toon_draws_a_dark_line_at_an_edge_and_keeps_flat_areas_flat(engine):
    out = engine.stylize_background(_step_image()).astype(int)
    row = out[48, :, 1]
    assert row[64 - 3 : 64 + 3].min() < 40, "a dark line along the step"
    assert np.ptp(out[10:-10, 5:40]) <= 2, "flat area stays flat"
    assert np.ptp(out[10:-10, 90:-5]) <= 2
    assert out[:, :3].mean() > 150, "no line along the image border"


def test_toon_flattens_texture():
    rng = np.random.default_rng(5)
    texture = np.clip(128 + rng.normal(0, 12, (1, 128, 128, 3)), 0, 255).astype(np.uint8)
    with OnnxRuntimeRunner(build_toon_model().SerializeToString()) as runner:
        out = runner.infer({"image": texture})["stylized"]
    assert out[0, 8:-8, 8:-8].astype(float).std() < 0.5 * texture[0, 8:-8, 8:-8].astype(float).std()


def test_runner_refuses_wrong_input(engine):
    with OnnxRuntimeRunner(build_toon_model().SerializeToString()) as runner:
        with pytest.raises(InvalidInputError, match="uint8"):
            runner.infer({"image": np.zeros((1, 8, 8, 3), np.float32)})
        with pytest.raises(InvalidInputError, match="shape"):
            runner.infer({"image": np.zeros((8, 8, 3), np.uint8)})
        with pytest.raises(InvalidInputError, match=r"inputs"):
            runner.infer({"x": np.zeros((1, 8, 8, 3), np.uint8)})


def test_a_damaged_model_file_is_a_model_error(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(build_toon_model().SerializeToString()[:200])
    with pytest.raises(ModelError, match=r"broken\.onnx"):
        OnnxRuntimeRunner(bad)


def test_unknown_style_names_the_available_ones():
    with pytest.raises(InvalidInputError, match="toon"):
        open_engine("no-such-style")


def test_head_mask_is_feathered_and_clear_of_the_crop_border(engine):
    mask = engine.head_mask
    assert mask.shape == (DCTNET_LAYOUT.size,) * 2
    eyes_y, eyes_x = 137, 146
    assert mask[eyes_y, eyes_x] > 0.99 and mask[216, 146] > 0.99
    border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    assert border.max() < 1e-3
    # Feathered: a ramp of intermediate values, not a hard step.
    assert ((mask > 0.05) & (mask < 0.95)).mean() > 0.05
