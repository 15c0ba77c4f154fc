"""The Chakra ET protobuf messages, built at run time from the descriptor API.

Mirrors ``et_def.proto`` beside this file (the subset of mlcommons/chakra's schema that
commsim uses; MIT License, see the .proto header). Building the ``FileDescriptorProto`` here
instead of committing protoc output keeps the module independent of the protoc version (the
protobuf runtime refuses generated code from a newer protoc).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "ChakraProtoMsg"
F = descriptor_pb2.FieldDescriptorProto

_SCALARS = [
    ("double", F.TYPE_DOUBLE, "Double"),
    ("float", F.TYPE_FLOAT, "Float"),
    ("int32", F.TYPE_INT32, "Int32"),
    ("int64", F.TYPE_INT64, "Int64"),
    ("uint32", F.TYPE_UINT32, "Uint32"),
    ("uint64", F.TYPE_UINT64, "Uint64"),
    ("sint32", F.TYPE_SINT32, "Sint32"),
    ("sint64", F.TYPE_SINT64, "Sint64"),
    ("fixed32", F.TYPE_FIXED32, "Fixed32"),
    ("fixed64", F.TYPE_FIXED64, "Fixed64"),
    ("sfixed32", F.TYPE_SFIXED32, "Sfixed32"),
    ("sfixed64", F.TYPE_SFIXED64, "Sfixed64"),
    ("bool", F.TYPE_BOOL, "Bool"),
    ("string", F.TYPE_STRING, "String"),
    ("bytes", F.TYPE_BYTES, "Bytes"),
]

NODE_TYPES = [
    "INVALID_NODE",
    "METADATA_NODE",
    "MEM_LOAD_NODE",
    "MEM_STORE_NODE",
    "COMP_NODE",
    "COMM_SEND_NODE",
    "COMM_RECV_NODE",
    "COMM_COLL_NODE",
]
COLL_TYPES = [
    "ALL_REDUCE",
    "REDUCE",
    "ALL_GATHER",
    "GATHER",
    "SCATTER",
    "BROADCAST",
    "ALL_TO_ALL",
    "REDUCE_SCATTER",
    "REDUCE_SCATTER_BLOCK",
    "BARRIER",
]


#: Attribute -> value field, as Chakra's feeder reads them (mlcommons/chakra
#: src/feeder/et_feeder_node.cpp @ 21585d8f: ``attr.int64_val()`` for comm_type, comm_size,
#: num_ops; ``int32_val()`` for comm_src, comm_dst, comm_tag, comm_priority;
#: ``uint64_val()`` for tensor_size; ``bool_val()`` for is_cpu_op; ``string_val()`` pg_name).
FEEDER_TYPES: dict[str, str] = {
    "is_cpu_op": "bool_val",
    "num_ops": "int64_val",
    "tensor_size": "uint64_val",
    "comm_type": "int64_val",
    "comm_priority": "int32_val",
    "comm_size": "int64_val",
    "comm_src": "int32_val",
    "comm_dst": "int32_val",
    "comm_tag": "int32_val",
    "pg_name": "string_val",
}


def _field(
    msg: Any,
    name: str,
    number: int,
    ftype: int,
    *,
    repeated: bool = False,
    type_name: str = "",
    oneof: int | None = None,
) -> None:
    f = msg.field.add(
        name=name,
        number=number,
        type=ftype,
        label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL,
    )
    if type_name:
        f.type_name = f".{PACKAGE}.{type_name}"
    if oneof is not None:
        f.oneof_index = oneof


def _file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(
        name="commsim_chakra_et_def.proto", package=PACKAGE, syntax="proto3"
    )
    attr = fd.message_type.add(name="AttributeProto")
    _field(attr, "name", 1, F.TYPE_STRING)
    _field(attr, "doc_string", 2, F.TYPE_STRING)
    attr.oneof_decl.add(name="value")
    num = 3
    for key, ftype, cls in _SCALARS:
        _field(attr, f"{key}_val", num, ftype, oneof=0)
        _field(attr, f"{key}_list", num + 1, F.TYPE_MESSAGE, type_name=f"{cls}List", oneof=0)
        lst = fd.message_type.add(name=f"{cls}List")
        _field(lst, "values", 1, ftype, repeated=True)
        num += 2
    gm = fd.message_type.add(name="GlobalMetadata")
    _field(gm, "version", 1, F.TYPE_STRING)
    _field(gm, "attr", 2, F.TYPE_MESSAGE, repeated=True, type_name="AttributeProto")
    nt = fd.enum_type.add(name="NodeType")
    for i, n in enumerate(NODE_TYPES):
        nt.value.add(name=n, number=i)
    ct = fd.enum_type.add(name="CollectiveCommType")
    for i, n in enumerate(COLL_TYPES):
        ct.value.add(name=n, number=i)
    io = fd.message_type.add(name="IOInfo")
    for i, n in enumerate(("values", "shapes", "types"), start=1):
        _field(io, n, i, F.TYPE_STRING)
    node = fd.message_type.add(name="Node")
    _field(node, "id", 1, F.TYPE_UINT64)
    _field(node, "name", 2, F.TYPE_STRING)
    _field(node, "type", 3, F.TYPE_ENUM, type_name="NodeType")
    _field(node, "ctrl_deps", 4, F.TYPE_UINT64, repeated=True)
    _field(node, "data_deps", 5, F.TYPE_UINT64, repeated=True)
    _field(node, "start_time_micros", 6, F.TYPE_UINT64)
    _field(node, "duration_micros", 7, F.TYPE_UINT64)
    _field(node, "inputs", 8, F.TYPE_MESSAGE, type_name="IOInfo")
    _field(node, "outputs", 9, F.TYPE_MESSAGE, type_name="IOInfo")
    _field(node, "attr", 10, F.TYPE_MESSAGE, repeated=True, type_name="AttributeProto")
    tensor = fd.message_type.add(name="Tensor")
    for i, n in enumerate(("tensor_id", "storage_id", "offset", "num_elem", "elem_bytes"), 1):
        _field(tensor, n, i, F.TYPE_UINT64)
    _field(tensor, "device", 6, F.TYPE_STRING)
    return fd


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())


def message_class(name: str) -> Any:
    """The message class ``ChakraProtoMsg.<name>`` (``Node``, ``GlobalMetadata``, ...)."""
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{PACKAGE}.{name}"))


Node = message_class("Node")
GlobalMetadata = message_class("GlobalMetadata")
AttributeProto = message_class("AttributeProto")
