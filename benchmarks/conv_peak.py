"""How close the CPU networks run to this CPU's fp32 peak.

    python benchmarks/conv_peak.py [--repeat 20]

Times, with one thread each: a 2048x2048 float32 matrix product (NumPy's BLAS: about the CPU's
fp32 peak) and one 128-channel 3x3 convolution at 72x72 on ONNX Runtime (the U-Net's heaviest
layer, 1.5 GFLOP at 288x288), and prints GFLOP/s for both (medians).
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


def conv_model(channels: int, side: int) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((channels, channels, 3, 3)).astype(np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, channels, side, side]) for n in ("x", "y")]
    graph = helper.make_graph([node], "conv", io[:1], io[1:], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def main() -> None:
    import onnxruntime as ort

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    n = 2048
    a = np.random.default_rng(1).random((n, n), dtype=np.float32)
    seconds = _median_s(lambda: a @ a, args.repeat)
    print(f"sgemm {n}x{n}, 1 thread: {2 * n**3 / seconds / 1e9:.0f} GFLOP/s")

    channels, side = 128, 72
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(conv_model(channels, side), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(2).random((1, channels, side, side), dtype=np.float32)
    seconds = _median_s(lambda: session.run(None, {"x": x}), args.repeat)
    flop = 2 * channels * channels * 9 * side * side
    print(
        f"onnxruntime conv {channels}ch 3x3 at {side}x{side} ({flop / 1e9:.2f} GFLOP), 1 thread: "
        f"{seconds * 1000:.1f} ms, {flop / seconds / 1e9:.0f} GFLOP/s"
    )


if __name__ == "__main__":
    main()
