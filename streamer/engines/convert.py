"""Official model files -> the PyTorch modules of `models/` -> ONNX graphs for the engines.

Every converter checks the weights against the architecture before anything is written: a missing
or mis-shaped tensor raises `ModelError` naming the file and the first offending tensor.
Readers:
- TensorFlow frozen graphs (DCT-Net's cartoon_h.pb / cartoon_bg.pb), without TensorFlow;
- TFLite files of the same U-Net (via ai-edge-litert);
- photo2cartoon's PyTorch checkpoint (`genA2B`, loaded with weights_only=True).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamer.errors import ModelError

ONNX_OPSET = 18
_UNET_LAYERS = (
    ["Conv", "Conv_1", "Conv_2", "Conv_3", "Conv_4"]
    + [f"block_{i}/conv{j}" for i in range(4) for j in (1, 2)]
    + ["Conv_5", "Conv_6", "Conv_7", "Conv_8", "Conv_9"]
)


def _parameter(tf_name: str) -> str:
    """The U-Net parameter a TF weight name maps onto (`models.unet.tf_name_to_parameter`)."""
    from streamer.engines.models.unet import tf_name_to_parameter

    name = tf_name_to_parameter(tf_name)
    if name is None:
        raise ModelError(f"{tf_name} is not a U-Net weight")
    return name


# The guided filter's epsilon is the scalar constant added to the variance.
GUIDED_EPS_CONSTANT = "add/y"


def guided_eps(constants: dict[str, np.ndarray]) -> float | None:
    value = constants.get(GUIDED_EPS_CONSTANT)
    return float(value) if value is not None and value.size == 1 else None


def unet_weights_from_graphdef(path: Path) -> tuple[dict[str, np.ndarray], float | None]:
    """U-Net weights (torch names and layouts) from a frozen TF graph's `.../Conv/weights` Consts,
    and the guided filter's epsilon when the graph has it."""
    from streamer.engines.graphdef import FrozenGraph

    constants = FrozenGraph(path).constants()
    anchor = next((name for name in constants if name.endswith("Conv/weights")), None)
    if anchor is None:
        raise ModelError(f"{path.name}: no U-Net generator weights found (no '.../Conv/weights' constant)")
    prefix = anchor[: -len("Conv/weights")]
    weights: dict[str, np.ndarray] = {}
    for layer in _UNET_LAYERS:
        for suffix in ("weights", "biases"):
            name = f"{prefix}{layer}/{suffix}"
            if name not in constants:
                raise ModelError(f"{path.name}: missing tensor {name}")
            value = constants[name].astype(np.float32)
            if suffix == "weights":
                value = value.transpose(3, 2, 0, 1)  # HWIO -> OIHW
            weights[_parameter(f"{layer}/{suffix}")] = value
    return weights, guided_eps(constants)


def unet_weights_from_tflite(path: Path) -> tuple[dict[str, np.ndarray], float | None]:
    """U-Net weights from a TFLite file (kernels named `generator/<layer>/Conv2D`, OHWI), and the
    guided filter's epsilon when the file has it."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise ModelError("reading .tflite files needs ai-edge-litert: pip install 'streamer[tflite]'") from exc
    try:
        interpreter = Interpreter(model_path=str(path))
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"{path.name} is not a TFLite model: {exc}") from exc
    weights: dict[str, np.ndarray] = {}
    constants: dict[str, np.ndarray] = {}
    for detail in interpreter.get_tensor_details():
        # Constants are read before allocation; activations have no data and are skipped.
        names = detail["name"].split(";")
        if detail["name"] == GUIDED_EPS_CONSTANT:
            constants[GUIDED_EPS_CONSTANT] = interpreter.get_tensor(detail["index"])
        kernel = next((n for n in names if n.endswith("/Conv2D") and "/" in n), None)
        bias = next((n for n in names if n.endswith("/biases")), None)
        try:
            if bias is not None and len(detail["shape"]) == 1:
                weights[_parameter(bias)] = interpreter.get_tensor(detail["index"]).astype(np.float32)
            elif kernel is not None and len(names) == 1 and len(detail["shape"]) == 4:
                key = _parameter(kernel[: -len("/Conv2D")] + "/weights")
                weights[key] = interpreter.get_tensor(detail["index"]).astype(np.float32).transpose(0, 3, 1, 2)
        except ValueError:
            continue
    return {k: v for k, v in weights.items() if k is not None}, guided_eps(constants)


def photo2cartoon_weights(path: Path) -> dict[str, np.ndarray]:
    """photo2cartoon's generator state dict (`genA2B`) from its checkpoint, never unpickling code."""
    import pickle

    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        raise ModelError(f"{path.name} is not a safe PyTorch checkpoint: {str(exc).splitlines()[0]}") from exc
    state = checkpoint.get("genA2B", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ModelError(f"{path.name}: expected a checkpoint dict with a 'genA2B' state dict")
    return {k: v.numpy() for k, v in state.items() if hasattr(v, "numpy")}


def load_strict(module, weights: dict[str, np.ndarray], source: str) -> None:
    """Load `weights` into `module`; `ModelError` naming the first missing, unexpected or mis-shaped one."""
    import torch

    expected = module.state_dict()
    for name, tensor in expected.items():
        if name not in weights:
            raise ModelError(f"{source}: missing tensor {name} (expected shape {tuple(tensor.shape)})")
        if tuple(weights[name].shape) != tuple(tensor.shape):
            raise ModelError(
                f"{source}: tensor {name} has shape {tuple(weights[name].shape)}, expected {tuple(tensor.shape)}"
            )
    unexpected = sorted(set(weights) - set(expected))
    if unexpected:
        raise ModelError(f"{source}: unexpected tensor {unexpected[0]} (not this architecture)")
    module.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()})


def export_onnx(module, path: Path, size: int | None = None, multiple: int = 4) -> None:
    """Export an image module (uint8 [N,H,W,3] in and out) to ONNX with a dynamic batch.

    With `size`, H = W = size (a head network: tracing fixed sizes is several times faster);
    without, H and W are dynamic multiples of `multiple`, as the networks require.
    """
    import logging
    import warnings

    import torch

    module = module.eval()
    side = size or 16 * multiple
    example = torch.zeros((2, side, side, 3), dtype=torch.uint8)  # a batch of 1 would be specialized
    dims: dict[int, object] = {0: torch.export.Dim("N", min=1, max=256)}
    if size is None:
        dims[1] = multiple * torch.export.Dim("H", min=1, max=4096 // multiple)
        dims[2] = multiple * torch.export.Dim("W", min=1, max=4096 // multiple)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            (example,),
            dynamo=True,
            input_names=["image"],
            output_names=["stylized"],
            dynamic_shapes={"image": dims},
            opset_version=ONNX_OPSET,
            verbose=False,
        )
    if program is None:
        raise ModelError(f"torch did not export {path.name}")
    program.save(str(path))
    _read_input_shape_after_its_cast(path)


def _read_input_shape_after_its_cast(path: Path) -> None:
    """TensorRT takes a uint8 network input only through a Cast. The exporter also reads the
    input's shape (for the dynamic batch) with Shape nodes; those are moved to the Cast's output,
    which has the same shape, and the Cast goes first so the graph stays in topological order."""
    import onnx

    model = onnx.load(str(path))
    nodes = model.graph.node
    casts = [n for n in nodes if n.op_type == "Cast" and n.input[0] == "image"]
    readers = [n for n in nodes if n.op_type == "Shape" and n.input[0] == "image"]
    if len(casts) != 1 or not readers:
        return
    cast = onnx.NodeProto()
    cast.CopyFrom(casts[0])
    for node in readers:
        node.input[0] = cast.output[0]
    nodes.remove(casts[0])
    nodes.insert(0, cast)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _io_check(value_info, what: str, source: str) -> None:
    from onnx import TensorProto

    t = value_info.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    if t.elem_type != TensorProto.FLOAT or len(dims) != 4 or dims[1] != 3 or dims[2:] not in ([256, 256], [None, None]):
        raise ModelError(
            f"{source}: {what} {value_info.name!r} should be float32 [N,3,256,256], got type {t.elem_type} {dims}"
        )


def wrap_photo2cartoon_onnx(path: Path):
    """photo2cartoon's own ONNX (float32 RGB [-1,1] NCHW in and out), checked, and wrapped in
    uint8 BGR NHWC pre- and post-processing so it meets the engine contract."""
    import onnx
    from onnx import TensorProto, compose, helper, numpy_helper

    try:
        official = onnx.load(str(path))
        onnx.checker.check_model(official)
    except Exception as exc:  # onnx raises DecodeError, ValidationError and others for damaged files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path.name} is not a valid ONNX model: {first}") from exc
    graph = official.graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1 or not graph.output:
        raise ModelError(f"{path.name}: expected one image input and an image output")
    _io_check(inputs[0], "input", path.name)
    _io_check(graph.output[0], "output", path.name)
    opset = next((o.version for o in official.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 11:
        raise ModelError(f"{path.name}: opset {opset} is too old (11 or later needed)")
    batch = inputs[0].type.tensor_type.shape.dim[0]
    n = batch.dim_value if batch.HasField("dim_value") else "N"
    bgr = numpy_helper.from_array(np.array([2, 1, 0], np.int64), "bgr")

    def const(name: str, value: float):
        return numpy_helper.from_array(np.array(value, np.float32), name)

    def model(nodes, name, inp, out, inits):
        g = helper.make_graph(nodes, name, [inp], [out], inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = official.ir_version
        return m

    pre = model(
        [
            helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
            helper.make_node("Transpose", ["f"], ["nchw"], perm=[0, 3, 1, 2]),
            helper.make_node("Gather", ["nchw", "bgr"], ["rgb"], axis=1),
            helper.make_node("Div", ["rgb", "half"], ["scaled"]),
            helper.make_node("Sub", ["scaled", "one"], ["pre_out"]),
        ],
        "pre",
        helper.make_tensor_value_info("image", TensorProto.UINT8, [n, 256, 256, 3]),
        helper.make_tensor_value_info("pre_out", TensorProto.FLOAT, [n, 3, 256, 256]),
        [bgr, const("half", 127.5), const("one", 1.0)],
    )
    post = model(
        [
            helper.make_node("Clip", ["post_in", "lo", "hi"], ["clipped"]),
            helper.make_node("Add", ["clipped", "one"], ["shifted"]),
            helper.make_node("Mul", ["shifted", "half"], ["grey"]),
            helper.make_node("Round", ["grey"], ["rounded"]),
            helper.make_node("Gather", ["rounded", "bgr"], ["bgr_out"], axis=1),
            helper.make_node("Transpose", ["bgr_out"], ["nhwc"], perm=[0, 2, 3, 1]),
            helper.make_node("Cast", ["nhwc"], ["stylized"], to=TensorProto.UINT8),
        ],
        "post",
        helper.make_tensor_value_info("post_in", TensorProto.FLOAT, [n, 3, 256, 256]),
        helper.make_tensor_value_info("stylized", TensorProto.UINT8, [n, 256, 256, 3]),
        [bgr, const("half", 127.5), const("one", 1.0), const("lo", -1.0), const("hi", 1.0)],
    )
    core = onnx.ModelProto()
    core.CopyFrom(official)
    del core.graph.output[1:]  # photo2cartoon may also return its attention outputs
    core = compose.add_prefix(core, "p2c/")
    merged = compose.merge_models(pre, core, io_map=[("pre_out", "p2c/" + inputs[0].name)], prefix1="pre/")
    merged = compose.merge_models(merged, post, io_map=[("p2c/" + graph.output[0].name, "post_in")], prefix2="post/")
    # Give the wrapper its contract's names back.
    for value in merged.graph.input:
        if value.name == "pre/image":
            value.name = "image"
    for value in merged.graph.output:
        if value.name == "post/stylized":
            value.name = "stylized"
    for node in merged.graph.node:
        node.input[:] = ["image" if i == "pre/image" else i for i in node.input]
        node.output[:] = ["stylized" if o == "post/stylized" else o for o in node.output]
    try:
        onnx.checker.check_model(merged)
    except onnx.checker.ValidationError as exc:
        raise ModelError(f"{path.name}: wrapped for the engine it is not a valid model ({exc})") from exc
    return merged
