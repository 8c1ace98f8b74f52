"""photo2cartoon: the architecture matches the official checkpoint's layout; both official files
(the .pt checkpoint and the .onnx export) convert to the same engine."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from streamer.engines import convert  # noqa: E402
from streamer.engines.models.photo2cartoon import PARAMETER_COUNT, Photo2Cartoon, ResnetGenerator  # noqa: E402
from streamer.errors import ModelError  # noqa: E402


def test_parameter_count_and_checkpoint_layout():
    state = ResnetGenerator().state_dict()
    assert sum(v.numel() for v in state.values()) == PARAMETER_COUNT == 3_831_079
    assert len(state) == 406
    # A few tensors whose names and shapes the official genA2B holds.
    expected = {
        "ConvBlock1.1.weight": (32, 3, 7, 7),
        "HourGlass1.HG.0.ConvBlock1_1.ConvBlock1.3.weight": (16, 32, 3, 3),
        "HourGlass1.HG.0.ConvBlock9.ConvBlock4.2.weight": (32, 32, 1, 1),
        "HourGlass1.Conv3.weight": (32, 3, 1, 1),
        "DownBlock2.1.weight": (128, 64, 3, 3),
        "EncodeBlock4.conv_block.5.weight": (128, 128, 3, 3),
        "gap_fc.weight": (1, 128),
        "conv1x1.weight": (128, 256, 1, 1),
        "FC.2.bias": (128,),
        "DecodeBlock3.norm2.norm.rho": (1, 128, 1, 1),
        "DecodeBlock1.norm1.w_gamma": (1, 128),
        "DecodeBlock4.norm1.c_beta.2.weight": (128, 128),
        "UpBlock2.3.rho": (1, 32, 1, 1),
        "ConvBlock2.1.weight": (3, 3, 7, 7),
    }
    for name, shape in expected.items():
        assert tuple(state[name].shape) == shape, name
    assert not any(k.startswith("HourGlass4.Conv2") for k in state), "the last hourglass has no residual convs"


def test_checkpoint_loads_with_weights_only_and_wrong_ones_are_refused(tmp_path):
    torch.manual_seed(0)
    generator = ResnetGenerator()
    good = tmp_path / "photo2cartoon_weights.pt"
    torch.save({"genA2B": generator.state_dict(), "genB2A": {}}, good)
    weights = convert.photo2cartoon_weights(good)
    module = Photo2Cartoon()
    convert.load_strict(module.generator, weights, good.name)

    wrong = {k: v for k, v in generator.state_dict().items() if k != "FC.0.bias"}
    torch.save({"genA2B": wrong}, tmp_path / "wrong.pt")
    with pytest.raises(ModelError, match=r"wrong\.pt: missing tensor FC\.0\.bias"):
        convert.load_strict(Photo2Cartoon().generator, convert.photo2cartoon_weights(tmp_path / "wrong.pt"), "wrong.pt")


class _Payload:
    """Anything but tensors: unpickling this must not be allowed."""


def test_a_checkpoint_with_code_in_it_is_never_unpickled(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"genA2B": _Payload()}, evil)
    with pytest.raises(ModelError, match=r"evil\.pt is not a safe PyTorch checkpoint"):
        convert.photo2cartoon_weights(evil)


def test_official_onnx_is_checked_then_wrapped_to_the_engine_contract(tmp_path):
    import onnxruntime as ort

    torch.manual_seed(1)
    module = Photo2Cartoon().eval()
    official = tmp_path / "photo2cartoon_weights.onnx"
    # Shaped like the released file: float32 RGB [-1, 1], 1x3x256x256, input "input", output "output".
    torch.onnx.export(
        module.generator, (torch.zeros(1, 3, 256, 256),), dynamo=True, input_names=["input"], output_names=["output"]
    ).save(str(official))
    wrapped = convert.wrap_photo2cartoon_onnx(official)
    session = ort.InferenceSession(wrapped.SerializeToString(), providers=["CPUExecutionProvider"])
    image = np.random.default_rng(0).integers(0, 255, (1, 256, 256, 3), dtype=np.uint8)
    got = session.run(["stylized"], {"image": image})[0]
    with torch.no_grad():
        expected = module(torch.from_numpy(image)).numpy()
    assert got.dtype == np.uint8 and got.shape == image.shape
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_an_onnx_file_of_another_shape_is_refused(tmp_path):
    other = tmp_path / "other.onnx"
    conv = torch.nn.Conv2d(3, 3, 3, padding=1)
    torch.onnx.export(conv, (torch.zeros(1, 3, 128, 128),), dynamo=True, input_names=["input"]).save(str(other))
    with pytest.raises(ModelError, match=r"other\.onnx: input 'input' should be float32 \[N,3,256,256\]"):
        convert.wrap_photo2cartoon_onnx(other)
