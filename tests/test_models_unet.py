"""The DCT-Net-family U-Net: architecture facts, converters, and the trained reference weights."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from streamer.engines import convert  # noqa: E402
from streamer.engines.graphdef import write_frozen_graph  # noqa: E402
from streamer.engines.models.unet import (  # noqa: E402
    PARAMETER_COUNT,
    CartoonUNet,
    SameConv,
    tf1_upsample2x,
    tf_name_to_parameter,
)
from streamer.errors import ModelError  # noqa: E402

from .conftest import REFERENCE_TFLITE  # noqa: E402
from .fakes import frozen_unet_constants  # noqa: E402

LAYERS = convert._UNET_LAYERS


def test_parameter_count_and_names_match_the_tf_graph():
    module = CartoonUNet(rgb=False, guided_eps=1e-2)
    assert sum(p.numel() for p in module.parameters()) == PARAMETER_COUNT == 1_467_075
    names = {tf_name_to_parameter(f"generator/{layer}/{kind}") for layer in LAYERS for kind in ("weights", "biases")}
    assert names == set(module.state_dict())


def test_tf1_bilinear_upsampling():
    x = torch.tensor([[[[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]]]])
    y = tf1_upsample2x(x)[0, 0]
    # Even outputs copy the input, odd ones average with the next, the last row/column repeats.
    np.testing.assert_allclose(y[0].numpy(), [0, 1, 2, 3, 4, 4])
    np.testing.assert_allclose(y[1].numpy(), [3, 4, 5, 6, 7, 7])
    np.testing.assert_allclose(y[3].numpy(), y[2].numpy())


def test_same_padding_of_a_stride_two_convolution_is_at_the_end():
    conv = SameConv(1, 1, 3, stride=2)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, 0] = 1.0  # picks the top-left input of each window
        conv.bias.zero_()
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    # TF pads 0 rows/columns before and 1 after: windows start at 0 and 2.
    np.testing.assert_allclose(conv(x)[0, 0].detach().numpy(), [[0, 2], [8, 10]])


def test_frozen_graph_round_trip(tmp_path):
    torch.manual_seed(0)
    source = CartoonUNet(rgb=False, guided_eps=1e-2)
    pb = tmp_path / "cartoon_h.pb"
    # As TF freezes them: Const weights, Identity '/read' nodes, the input placeholder.
    extra = [("input_image", "Placeholder")] + [(f"generator/{layer}/weights/read", "Identity") for layer in LAYERS]
    write_frozen_graph(pb, frozen_unet_constants(source), extra)
    weights, eps = convert.unet_weights_from_graphdef(pb)
    assert eps == pytest.approx(0.01)
    target = CartoonUNet(rgb=False, guided_eps=eps)
    convert.load_strict(target, weights, pb.name)
    image = torch.randint(0, 255, (1, 64, 96, 3), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(source(image), target(image))


def test_a_graph_missing_a_tensor_is_refused_by_name(tmp_path):
    constants = frozen_unet_constants(CartoonUNet(rgb=False, guided_eps=1e-2))
    del constants["generator/block_2/conv1/biases"]
    write_frozen_graph(tmp_path / "broken.pb", constants)
    with pytest.raises(ModelError, match=r"broken\.pb: missing tensor generator/block_2/conv1/biases"):
        convert.unet_weights_from_graphdef(tmp_path / "broken.pb")


def test_a_mis_shaped_tensor_is_refused_by_name(tmp_path):
    constants = frozen_unet_constants(CartoonUNet(rgb=False, guided_eps=1e-2))
    constants["generator/Conv_4/weights"] = np.zeros((3, 3, 64, 96), np.float32)
    write_frozen_graph(tmp_path / "other.pb", constants)
    weights, _ = convert.unet_weights_from_graphdef(tmp_path / "other.pb")
    with pytest.raises(ModelError, match=r"generator\.Conv_4\.weight has shape \(96, 64, 3, 3\)"):
        convert.load_strict(CartoonUNet(rgb=False, guided_eps=1e-2), weights, "other.pb")


def test_not_a_graph_is_refused(tmp_path):
    bad = tmp_path / "cartoon_h.pb"
    bad.write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(ModelError, match=r"cartoon_h\.pb"):
        convert.unet_weights_from_graphdef(bad)


# --- the trained reference weights ------------------------------------------------------------

needs_reference = pytest.mark.skipif(
    not REFERENCE_TFLITE.exists(), reason=f"reference weights not found: {REFERENCE_TFLITE}"
)


def _reference_input() -> np.ndarray:
    import cv2

    from .conftest import MEDIA_DIR

    photo = MEDIA_DIR / "portrait_photo.jpg"
    if photo.exists():
        image = cv2.imread(str(photo))
    else:
        from streamer import samples as data

        image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    image = cv2.resize(image, (224, 224), interpolation=cv2.INTER_AREA)
    return (image[:, :, ::-1].astype(np.float32) / 127.5 - 1.0)[None]  # RGB in [-1, 1], NHWC


class _Normalized(torch.nn.Module):
    """The network between [-1, 1] tensors (NHWC), to compare with the TFLite file in its units."""

    def __init__(self, unet: CartoonUNet) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, x):
        return self.unet.forward_normalized(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


@needs_reference
def test_reference_weights_match_tflite_on_torch_and_onnxruntime(tmp_path):
    litert = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert is not installed")
    x = _reference_input()
    interpreter = litert.Interpreter(model_path=str(REFERENCE_TFLITE))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    expected = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    weights, eps = convert.unet_weights_from_tflite(REFERENCE_TFLITE)
    assert eps == pytest.approx(5e-3, rel=1e-3)
    unet = CartoonUNet(rgb=True, guided_eps=eps)
    convert.load_strict(unet, weights, REFERENCE_TFLITE.name)
    module = _Normalized(unet).eval()
    with torch.no_grad():
        got_torch = module(torch.from_numpy(x)).numpy()
    assert np.abs(got_torch - expected).max() <= 1e-3

    import onnxruntime as ort

    onnx_path = tmp_path / "normalized.onnx"
    torch.onnx.export(module, (torch.from_numpy(x),), dynamo=True, input_names=["x"], output_names=["y"]).save(
        str(onnx_path)
    )
    got_ort = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert np.abs(got_ort - expected).max() <= 1e-3


@needs_reference
def test_a_truncated_tflite_is_refused(tmp_path):
    pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert is not installed")
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(REFERENCE_TFLITE.read_bytes()[:50_000])
    with pytest.raises(ModelError, match=r"cut\.tflite"):
        weights, _ = convert.unet_weights_from_tflite(cut)
        convert.load_strict(CartoonUNet(rgb=True, guided_eps=5e-3), weights, cut.name)


def test_missing_tflite_runtime_or_file_is_one_clear_error(tmp_path):
    with pytest.raises(ModelError):
        convert.unet_weights_from_tflite(Path(tmp_path / "none.tflite"))
