"""How close the CPU networks run to this CPU's fp32 peak.

    python benchmarks/conv_peak.py [--repeat 20]

Times, with one thread each: a 2048x2048 float32 matrix product (NumPy's BLAS: about the CPU's
fp32 peak) and one 128-channel 3x3 convolution at 72x72 on ONNX Runtime (the U-Net's heaviest
layer, 1.5 GFLOP at 288x288), and prints GFLOP/s for both (medians). Then the layers that touch
the colour channels (the U-Net's first and last 7x7 convolutions at 288x288) on two threads, and
each head network's convolution GFLOP with the time they would take at the measured rate on two
cores: a floor for the whole network.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np


def _median_s(run, repeat: int) -> float:
    run()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def conv_model(cin: int, cout: int, kernel: int, side: int) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((cout, cin, kernel, kernel)).astype(np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[kernel // 2] * 4)
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, c, side, side]) for n, c in (("x", cin), ("y", cout))]
    graph = helper.make_graph([node], "conv", io[:1], io[1:], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def time_conv(cin: int, cout: int, kernel: int, side: int, threads: int, repeat: int) -> tuple[float, float]:
    """(seconds, GFLOP) of one convolution on ONNX Runtime."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(conv_model(cin, cout, kernel, side), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(2).random((1, cin, side, side), dtype=np.float32)
    seconds = _median_s(lambda: session.run(None, {"x": x}), repeat)
    return seconds, 2 * cin * cout * kernel * kernel * side * side / 1e9


def network_gflop() -> dict[str, float]:
    """Convolution GFLOP (2 x multiply-adds) of each head network at its input size."""
    import sys
    from pathlib import Path

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from streamer.engines.models.photo2cartoon import ResnetGenerator
    from streamer.engines.models.unet import CartoonUNet

    out = {}
    for name, module, x in (
        ("U-Net head 288x288", CartoonUNet(rgb=False, guided_eps=1e-2), torch.zeros(1, 288, 288, 3, dtype=torch.uint8)),
        ("photo2cartoon 256x256", ResnetGenerator(), torch.zeros(1, 3, 256, 256)),
    ):
        macs = [0]

        def count(conv, inputs, output, macs=macs):
            macs[0] += output.numel() * conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]

        hooks = [m.register_forward_hook(count) for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
        with torch.no_grad():
            module.eval()(x)
        for hook in hooks:
            hook.remove()
        out[name] = 2 * macs[0] / 1e9
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    n = 2048
    a = np.random.default_rng(1).random((n, n), dtype=np.float32)
    seconds = _median_s(lambda: a @ a, args.repeat)
    print(f"sgemm {n}x{n}, 1 thread: {2 * n**3 / seconds / 1e9:.0f} GFLOP/s")

    seconds, gflop = time_conv(128, 128, 3, 72, 1, args.repeat)
    rate = gflop / seconds
    print(
        f"onnxruntime conv 128ch 3x3 at 72x72 ({gflop:.2f} GFLOP), 1 thread: {seconds * 1000:.1f} ms, "
        f"{rate:.0f} GFLOP/s"
    )
    for cin, cout in ((3, 32), (32, 3)):
        seconds, gflop = time_conv(cin, cout, 7, 288, 2, args.repeat)
        print(
            f"onnxruntime conv {cin}->{cout} 7x7 at 288x288 ({gflop:.2f} GFLOP), 2 threads: {seconds * 1000:.1f} ms, "
            f"{gflop / seconds:.0f} GFLOP/s"
        )
    for name, gflop in network_gflop().items():
        print(f"{name}: {gflop:.1f} GFLOP of convolutions, {gflop / (2 * rate) * 1000:.0f} ms at that rate on 2 cores")


if __name__ == "__main__":
    main()
