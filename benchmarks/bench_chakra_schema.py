"""Read commsim's Chakra export with the *official* Chakra schema and the feeder's types.

No protoc and no C++ toolchain for Chakra's feeder here, so this script parses the official
``schema/protobuf/et_def.proto`` of mlcommons/chakra (pass its path; it is not committed:
fetch the repository yourself) into a protobuf descriptor with the public descriptor API,
decodes every node of every ``*.et`` file of DIR with it (length-delimited, protobuf's
public ``proto.parse_length_prefixed``), and checks

* every message decodes with the official schema, to the same bytes as it was written;
* every Chakra attribute's value field is the one Chakra's feeder reads
  (``src/feeder/et_feeder_node.cpp``: ``FEEDER_TYPES`` in simulator/traces/chakra/codec.py);
* every collective has a ``pg_name`` listed in the file's ``process_group:init`` node.

Run: ``python benchmarks/bench_chakra_schema.py OFFICIAL_ET_DEF_PROTO DIR``.
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, proto

from simulator.traces.chakra.codec import FEEDER_TYPES, PG_INIT

F = descriptor_pb2.FieldDescriptorProto
SCALAR = {
    "double": F.TYPE_DOUBLE,
    "float": F.TYPE_FLOAT,
    "int32": F.TYPE_INT32,
    "int64": F.TYPE_INT64,
    "uint32": F.TYPE_UINT32,
    "uint64": F.TYPE_UINT64,
    "sint32": F.TYPE_SINT32,
    "sint64": F.TYPE_SINT64,
    "fixed32": F.TYPE_FIXED32,
    "fixed64": F.TYPE_FIXED64,
    "sfixed32": F.TYPE_SFIXED32,
    "sfixed64": F.TYPE_SFIXED64,
    "bool": F.TYPE_BOOL,
    "string": F.TYPE_STRING,
    "bytes": F.TYPE_BYTES,
}
BLOCK_RE = re.compile(r"(message|enum)\s+(\w+)\s*\{(.*?)\n\}", re.S)
FIELD_RE = re.compile(r"(repeated\s+)?(\w+)\s+(\w+)\s*=\s*(\d+)\s*;")
ENUM_RE = re.compile(r"(\w+)\s*=\s*(\d+)\s*;")


def parse_proto(text: str) -> descriptor_pb2.FileDescriptorProto:
    """The official .proto as a FileDescriptorProto (the subset of proto3 it uses)."""
    text = re.sub(r"//[^\n]*", "", text)
    pkg = re.search(r"package\s+([\w.]+)\s*;", text)
    fd = descriptor_pb2.FileDescriptorProto(
        name="official_et_def.proto", package=pkg.group(1) if pkg else "", syntax="proto3"
    )
    enums = {m.group(2) for m in BLOCK_RE.finditer(text) if m.group(1) == "enum"}
    for m in BLOCK_RE.finditer(text):
        kind, name, body = m.groups()
        if kind == "enum":
            e = fd.enum_type.add(name=name)
            for v in ENUM_RE.finditer(body):
                e.value.add(name=v.group(1), number=int(v.group(2)))
            continue
        msg = fd.message_type.add(name=name)
        oneof = re.search(r"oneof\s+(\w+)\s*\{(.*?)\}", body, re.S)
        oneof_fields: set[str] = set()
        if oneof:
            msg.oneof_decl.add(name=oneof.group(1))
            oneof_fields = {f.group(3) for f in FIELD_RE.finditer(oneof.group(2))}
        for f in FIELD_RE.finditer(body):
            rep, typ, fname, num = f.groups()
            fld = msg.field.add(name=fname, number=int(num))
            fld.label = F.LABEL_REPEATED if rep else F.LABEL_OPTIONAL
            if typ in SCALAR:
                fld.type = SCALAR[typ]  # type: ignore[assignment]
            else:
                fld.type = F.TYPE_ENUM if typ in enums else F.TYPE_MESSAGE  # type: ignore[assignment]
                fld.type_name = f".{fd.package}.{typ}"
            if fname in oneof_fields:
                fld.oneof_index = 0
    return fd


def classes(fd: descriptor_pb2.FileDescriptorProto) -> dict[str, Any]:
    """Message classes of the parsed schema."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return {
        n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{fd.package}.{n}"))
        for n in ("GlobalMetadata", "Node")
    }


def check(path: Path, cls: dict[str, Any], seen: Counter[str]) -> list[str]:
    """Problems found in one ET file (empty: none)."""
    raw = path.read_bytes()
    buf = io.BytesIO(raw)
    problems: list[str] = []
    msgs: list[Any] = [proto.parse_length_prefixed(cls["GlobalMetadata"], buf)]
    while (n := proto.parse_length_prefixed(cls["Node"], buf)) is not None:
        msgs.append(n)
    again = io.BytesIO()
    for m in msgs:
        proto.serialize_length_prefixed(m, again)
    if again.getvalue() != raw:
        problems.append(f"{path.name}: re-encoding with the official schema changes bytes")
    pgs: set[str] = set()
    for n in msgs[1:]:
        if n.name == PG_INIT:
            pgs |= {str(pg["pg_name"]) for pg in json.loads(n.inputs.values[2:-2])}
    for n in msgs[1:]:
        for a in n.attr:
            if a.name in FEEDER_TYPES:
                seen[a.name] += 1
                got = a.WhichOneof("value")
                if got != FEEDER_TYPES[a.name]:
                    problems.append(f"{path.name}: node {n.id} {a.name} is {got}")
        if n.type == 7:  # COMM_COLL_NODE
            pg = [a.string_val for a in n.attr if a.name == "pg_name"]
            if not pg or pg[0] not in pgs:
                problems.append(f"{path.name}: node {n.id} has no listed pg_name")
    return problems


def main() -> int:
    """Check every ET of DIR; print what was checked; exit 1 on any problem."""
    proto_path, et_dir = Path(sys.argv[1]), Path(sys.argv[2])
    cls = classes(parse_proto(proto_path.read_text()))
    seen: Counter[str] = Counter()
    problems: list[str] = []
    files = sorted(et_dir.glob("*.et"))
    for f in files:
        problems += check(f, cls, seen)
    print(f"{len(files)} files decoded with {proto_path}")
    print("feeder attributes checked:", dict(seen))
    for p in problems[:20]:
        print("PROBLEM", p)
    print(f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
