"""Read TensorFlow frozen graphs (GraphDef .pb files) without TensorFlow.

Only the part of TensorFlow's schema that holds constants is declared here (field numbers as in
tensorflow/core/framework/{graph,node_def,attr_value,tensor,tensor_shape}.proto); protobuf skips
every other field. Enough to list nodes and read their `Const` tensors as NumPy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from streamer.errors import ModelError

# tensorflow DataType enum values -> NumPy dtypes (the ones weights come in).
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 19: np.float16, 4: np.uint8, 10: np.bool_}


@lru_cache(maxsize=1)
def _messages():
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file = descriptor_pb2.FileDescriptorProto(name="streamer_tf_subset.proto", package="streamer_tf", syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto

    def message(container, name: str, fields: list[tuple]) -> descriptor_pb2.DescriptorProto:
        """Declare a message: fields are (name, number, type, repeated, message type name or None)."""
        m = container.add(name=name)
        for fname, number, ftype, repeated, type_name in fields:
            label = T.LABEL_REPEATED if repeated else T.LABEL_OPTIONAL
            fd = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                fd.type_name = f".streamer_tf.{type_name}"
        return m

    msg = T.TYPE_MESSAGE
    message(file.message_type, "Dim", [("size", 1, T.TYPE_INT64, False, None), ("name", 2, T.TYPE_STRING, False, None)])
    message(file.message_type, "TensorShapeProto", [("dim", 2, msg, True, "Dim")])
    message(
        file.message_type,
        "TensorProto",
        [
            ("dtype", 1, T.TYPE_INT32, False, None),
            ("tensor_shape", 2, msg, False, "TensorShapeProto"),
            ("tensor_content", 4, T.TYPE_BYTES, False, None),
            ("float_val", 5, T.TYPE_FLOAT, True, None),
            ("double_val", 6, T.TYPE_DOUBLE, True, None),
            ("int_val", 7, T.TYPE_INT32, True, None),
            ("int64_val", 10, T.TYPE_INT64, True, None),
            ("half_val", 13, T.TYPE_INT32, True, None),
        ],
    )
    message(file.message_type, "AttrValue", [("tensor", 8, msg, False, "TensorProto")])
    node = message(
        file.message_type,
        "NodeDef",
        [
            ("name", 1, T.TYPE_STRING, False, None),
            ("op", 2, T.TYPE_STRING, False, None),
            ("input", 3, T.TYPE_STRING, True, None),
            ("attr", 5, msg, True, "NodeDef.AttrEntry"),
        ],
    )
    entry = message(
        node.nested_type, "AttrEntry", [("key", 1, T.TYPE_STRING, False, None), ("value", 2, msg, False, "AttrValue")]
    )
    entry.options.map_entry = True
    message(file.message_type, "GraphDef", [("node", 1, msg, True, "NodeDef")])

    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("streamer_tf.GraphDef"))


@dataclass(frozen=True)
class Node:
    name: str
    op: str
    inputs: tuple[str, ...]


def _tensor_to_array(tensor) -> np.ndarray:
    dtype = _DTYPES.get(tensor.dtype)
    if dtype is None:
        raise ModelError(f"unsupported tensor dtype {tensor.dtype}")
    shape = tuple(d.size for d in tensor.tensor_shape.dim)
    if tensor.tensor_content:
        array = np.frombuffer(tensor.tensor_content, dtype=dtype)
    else:
        values = {
            np.float32: tensor.float_val,
            np.float64: tensor.double_val,
            np.int32: tensor.int_val,
            np.int64: tensor.int64_val,
            np.uint8: tensor.int_val,
            np.bool_: tensor.int_val,
        }.get(dtype)
        if dtype is np.float16:
            array = np.array(tensor.half_val, np.uint16).view(np.float16)
        else:
            array = np.array(values, dtype=dtype)
        count = int(np.prod(shape)) if shape else 1
        if array.size == 1 and count > 1:  # TF stores a constant fill as a single value
            array = np.full(count, array[0], dtype=dtype)
    return array.reshape(shape).copy()


class FrozenGraph:
    """The nodes and constants of a frozen GraphDef file."""

    def __init__(self, path: Path) -> None:
        from google.protobuf.message import DecodeError

        graph = _messages()()
        try:
            graph.ParseFromString(Path(path).read_bytes())
        except (DecodeError, RuntimeError) as exc:
            raise ModelError(f"{Path(path).name} is not a TensorFlow graph (.pb): {exc}") from exc
        if not graph.node:
            raise ModelError(f"{Path(path).name} is not a TensorFlow graph (.pb): it has no nodes")
        self.nodes = [Node(n.name, n.op, tuple(n.input)) for n in graph.node]
        self._consts = {n.name: n.attr["value"].tensor for n in graph.node if n.op == "Const" and "value" in n.attr}

    def constants(self) -> dict[str, np.ndarray]:
        """Every Const node's value, by node name."""
        return {name: _tensor_to_array(t) for name, t in self._consts.items()}


def write_frozen_graph(
    path: Path, constants: dict[str, np.ndarray], extra_nodes: Sequence[tuple[str, str]] = ()
) -> None:
    """Write a GraphDef holding `constants` as Const nodes (plus bare (name, op) nodes): for tests."""
    graph = _messages()()
    codes = {np.dtype(v): k for k, v in _DTYPES.items()}
    for name, op in extra_nodes:
        graph.node.add(name=name, op=op)
    for name, value in constants.items():
        value = np.asarray(value)
        node = graph.node.add(name=name, op="Const")
        tensor = node.attr["value"].tensor
        tensor.dtype = codes[value.dtype]
        for d in value.shape:
            tensor.tensor_shape.dim.add(size=d)
        tensor.tensor_content = value.tobytes()
    Path(path).write_bytes(graph.SerializeToString())
