"""Decoding of the Kubernetes protobuf wire form, for the few kinds a client sends that way.

client-go's typed clients (helm's release storage uses one for Secrets) send bodies as
``application/vnd.kubernetes.protobuf``: the magic ``k8s\\x00`` then a ``runtime.Unknown`` message
(typeMeta=1 {apiVersion=1, kind=2}, raw=2, contentEncoding=3, contentType=4) whose ``raw`` is the object's
own message. Field numbers follow k8s.io/api/core/v1/generated.proto and
k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto.
"""
from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

Fields = dict[int, list[Any]]


class ProtobufError(ValueError):
    """The body is not a protobuf message this decoder knows."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> Fields:
    """The wire fields of one message: number -> values (ints for varints, bytes for length-delimited)."""
    out: Fields = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def _str(f: Fields, number: int) -> str | None:
    values = f.get(number)
    return values[-1].decode() if values else None


def _map(f: Fields, number: int, value: Callable[[bytes], Any]) -> dict[str, Any]:
    """A protobuf map field: repeated entries {key=1, value=2}."""
    out = {}
    for entry in f.get(number, []):
        e = fields(entry)
        out[_str(e, 1) or ""] = value(e.get(2, [b""])[-1])
    return out


def _time(data: bytes) -> str:
    seconds = fields(data).get(1, [0])[-1]
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_meta(data: bytes) -> dict[str, Any]:
    """metav1.ObjectMeta: name=1 generateName=2 namespace=3 uid=5 resourceVersion=6 generation=7
    creationTimestamp=8 labels=11 annotations=12 finalizers=14 (ownerReferences=13, managedFields=17 ignored)."""
    f = fields(data)
    meta: dict[str, Any] = {}
    for number, key in ((1, "name"), (2, "generateName"), (3, "namespace"), (5, "uid"), (6, "resourceVersion")):
        if (value := _str(f, number)) is not None:
            meta[key] = value
    if 7 in f:
        meta["generation"] = f[7][-1]
    if 8 in f:
        meta["creationTimestamp"] = _time(f[8][-1])
    for number, key in ((11, "labels"), (12, "annotations")):
        if number in f:
            meta[key] = _map(f, number, bytes.decode)
    if 14 in f:
        meta["finalizers"] = [v.decode() for v in f[14]]
    return meta


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def secret(data: bytes) -> dict[str, Any]:
    """v1.Secret: metadata=1 data=2 (map<string,bytes>) type=3 stringData=4 immutable=5."""
    f = fields(data)
    obj: dict[str, Any] = {"metadata": object_meta(f[1][-1]) if 1 in f else {}}
    if 2 in f:
        obj["data"] = _map(f, 2, _b64)
    if (kind := _str(f, 3)) is not None:
        obj["type"] = kind
    if 4 in f:
        obj["stringData"] = _map(f, 4, bytes.decode)
    if 5 in f:
        obj["immutable"] = bool(f[5][-1])
    return obj


def config_map(data: bytes) -> dict[str, Any]:
    """v1.ConfigMap: metadata=1 data=2 (map<string,string>) binaryData=3 (map<string,bytes>) immutable=4."""
    f = fields(data)
    obj: dict[str, Any] = {"metadata": object_meta(f[1][-1]) if 1 in f else {}}
    if 2 in f:
        obj["data"] = _map(f, 2, bytes.decode)
    if 3 in f:
        obj["binaryData"] = _map(f, 3, _b64)
    if 4 in f:
        obj["immutable"] = bool(f[4][-1])
    return obj


def namespace(data: bytes) -> dict[str, Any]:
    """v1.Namespace: metadata=1 (spec and status are the server's)."""
    f = fields(data)
    return {"metadata": object_meta(f[1][-1]) if 1 in f else {}}


def delete_options(_data: bytes) -> dict[str, Any]:
    """metav1.DeleteOptions: nothing this fake acts on."""
    return {}


DECODERS: dict[str, Callable[[bytes], dict[str, Any]]] = {
    "Secret": secret, "ConfigMap": config_map, "Namespace": namespace, "DeleteOptions": delete_options,
}


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf-encoded object as its JSON form (apiVersion and kind from the envelope)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic")
    unknown = fields(body[len(MAGIC):])
    type_meta = fields(unknown.get(1, [b""])[-1])
    api_version, kind = _str(type_meta, 1) or "", _str(type_meta, 2) or ""
    if _str(unknown, 3):
        raise ProtobufError("content encodings are not supported")
    decoder = DECODERS.get(kind)
    if decoder is None:
        raise ProtobufError(f"this fake decodes no protobuf {kind or 'object'} ({api_version})")
    return {"apiVersion": api_version, "kind": kind, **decoder(unknown.get(2, [b""])[-1])}
