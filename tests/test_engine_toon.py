"""The built-in styles through the Engine contract on ONNX Runtime, and what `toon` looks like:
smooth shades without hard bands, no lines on fine texture, continuous outlines, flat regions,
skin hue kept; `poster`, the first look, is still offered."""

import cv2
import numpy as np
import pytest

from streamer.cli import main
from streamer.engines import DCTNET_LAYOUT, open_engine
from streamer.engines.backends.onnxruntime import OnnxRuntimeRunner
from streamer.engines.options import EngineOptions
from streamer.engines.registry import CATALOG, uses_reuse
from streamer.engines.toon import BACKGROUND_PARAMS, HEAD_PARAMS, build_poster_model, build_toon_model
from streamer.errors import InvalidInputError, ModelError

# Both networks of `toon`: the head crops' and the background's (cheaper smoothing, finer lines).
TOON_GRAPHS = {"head": HEAD_PARAMS, "background": BACKGROUND_PARAMS}


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


def _toon(role: str, image: np.ndarray) -> np.ndarray:
    """int BGR: one image through the `toon` graph of `role` on ONNX Runtime."""
    with OnnxRuntimeRunner(build_toon_model(TOON_GRAPHS[role]).SerializeToString()) as runner:
        return runner.infer({"image": image[None]})["stylized"][0].astype(int)


def _luma(image: np.ndarray) -> np.ndarray:
    return image @ np.array([0.114, 0.587, 0.299])


@pytest.mark.parametrize("role", TOON_GRAPHS)
def test_a_smooth_shade_keeps_no_hard_band(role):
    # A skin-coloured shade from dark to light, steeper than shading on a face (up to 2 grey levels
    # a pixel): tone steps must join it by ramps, never by jumps, and never fold back.
    shade = np.linspace(0.2, 0.9, 128)[None, :, None] * np.array([0.62, 0.75, 0.95]) * 255
    image = np.round(shade * np.ones((64, 1, 1))).astype(np.uint8)
    steps_in = np.diff(image[12:-12, 12:-12].astype(int), axis=1)
    steps = np.diff(_toon(role, image)[12:-12, 12:-12], axis=1)
    assert np.abs(steps).max() <= 1.5 * np.abs(steps_in).max(), "a jump between neighbouring pixels: a hard band"
    assert steps.min() >= 0, "the shade folds back at a band's edge"


@pytest.mark.parametrize("role", TOON_GRAPHS)
def test_fine_stripes_get_no_lines(role):
    # A patch of 2-pixel stripes (grey 90 and 170) in a mid-grey field: fabric, not an outline.
    image = np.full((160, 160, 3), 130, np.uint8)
    stripes = np.where(np.arange(160) // 2 % 2 == 0, 90, 170).astype(np.uint8)
    image[32:128, 32:128] = stripes[None, 32:128, None]
    inside = _luma(_toon(role, image)[44:116, 44:116])
    assert inside.min() > 70, f"line pixels on the stripes (darkest {inside.min():.0f}, the stripes' darkest is 90)"


@pytest.mark.parametrize("role", TOON_GRAPHS)
def test_scattered_specks_get_no_ink(role):
    # 2x2 dark specks (grey 90) strewn on a light ground: dust, pores, a beard's stubble. Each is a
    # strong DoG response, but none continues along a line, so none may be inked.
    image = np.full((160, 160, 3), 180, np.uint8)
    for y, x in np.random.default_rng(0).integers(8, 150, (60, 2)):
        image[y : y + 2, x : x + 2] = 90
    assert _luma(_toon(role, image)).min() > 80, "a speck was inked"


@pytest.mark.parametrize("role", TOON_GRAPHS)
def test_a_clean_edge_gets_a_continuous_line_at_every_angle(role):
    # A dark disc on a light ground: along every ray through the rim the line is there, so the
    # outline has no gap whatever its direction.
    image = np.full((288, 288, 3), 200, np.uint8)
    cv2.circle(image, (144, 144), 60, (70, 70, 70), -1, lineType=cv2.LINE_AA)
    out = _luma(_toon(role, image))
    inside = out[144, 144]
    radii = np.arange(54, 67)
    for angle in np.linspace(0, 2 * np.pi, 360, endpoint=False):
        ys = np.round(144 + radii * np.sin(angle)).astype(int)
        xs = np.round(144 + radii * np.cos(angle)).astype(int)
        assert out[ys, xs].min() < inside - 25, f"a gap in the outline at {np.degrees(angle):.0f} degrees"
    assert np.ptp(out[110:178, 110:178]) <= 2 and np.ptp(out[:30, :30]) <= 2, "flat inside and outside"


def test_skin_keeps_its_hue():
    skin = np.array([150, 180, 225])  # BGR
    out = _toon("head", np.full((64, 64, 3), skin, np.uint8))[32, 32]

    def hue_and_chroma(bgr: np.ndarray) -> tuple[float, float]:
        blue, red = bgr[0] - _luma(bgr), bgr[2] - _luma(bgr)
        return float(np.degrees(np.arctan2(red, blue))), float(np.hypot(red, blue))

    (hue_in, chroma_in), (hue_out, chroma_out) = hue_and_chroma(skin), hue_and_chroma(out)
    assert abs(hue_out - hue_in) < 2.0
    assert chroma_in <= chroma_out <= 1.5 * chroma_in, "chroma kept (with the cartoon's boost), not lost"


def test_poster_the_first_look_is_still_offered(streamer_home, capsys):
    spec = CATALOG["poster"]
    assert spec.family == "builtin" and not spec.files
    assert not uses_reuse(EngineOptions(style="poster")), "a built-in style stylizes every frame"
    image = np.random.default_rng(3).integers(0, 255, (1, 96, 96, 3), dtype=np.uint8)
    with open_engine("poster") as poster, open_engine("toon") as toon:
        assert poster.style == "poster" and poster.stylizes_background
        with OnnxRuntimeRunner(build_poster_model().SerializeToString()) as runner:
            np.testing.assert_array_equal(poster.stylize_heads(image), runner.infer({"image": image})["stylized"])
        assert not np.array_equal(poster.stylize_heads(image), toon.stylize_heads(image))
    assert main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    assert "poster  [builtin, built in]" in listing and "toon  [builtin, built in, default]" in listing
    assert "available here: " in listing and "poster, toon" in listing.split("available here: ")[1]
