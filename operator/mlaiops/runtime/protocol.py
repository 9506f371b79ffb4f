"""Open Inference Protocol (V2) and KServe V1 request/response bodies: pure parsing, no I/O.

V2 tensors are ``{name, shape, datatype, data}`` with ``data`` row-major, flat or nested; the
binary tensor data extension (``Inference-Header-Content-Length``, ``binary_data_size``) that
Triton's clients use by default is supported both ways. V1 is ``{"instances": [...]}`` ->
``{"predictions": [...]}``. Every malformed request raises :class:`ProtocolError` whose message
names the field and says what is wrong, so a client gets a 400 it can act on.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
"""V2 datatype -> numpy dtype (little-endian, as the binary extension requires)."""

MAX_RANK = 8
"""Most dimensions a tensor may have; the model takes 2-D input, so more is a malformed request."""

HEADER_LENGTH = "Inference-Header-Content-Length"
"""HTTP header of the binary tensor data extension: length of the JSON part of the body."""


class ProtocolError(ValueError):
    """A request the server cannot accept; the message is returned to the client as ``{"error": ...}``."""

    status = 400


@dataclass(frozen=True, slots=True)
class Tensor:
    """One decoded input tensor; ``data`` already has ``shape`` and the numpy dtype of ``datatype``."""

    name: str
    datatype: str
    data: np.ndarray
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    """An output the client asked for, and whether it wants it as binary data."""

    name: str
    binary: bool = False


@dataclass(frozen=True, slots=True)
class InferRequest:
    """A parsed V2 inference request."""

    inputs: list[Tensor]
    outputs: list[RequestedOutput] | None = None
    """None: the client did not name outputs, so it gets all of them."""
    id: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    binary_output: bool = False
    """``parameters.binary_data_output``: every output as binary data unless it says otherwise."""


def _load_json(body: bytes | str, what: str) -> Any:
    try:
        return json.loads(body)
    except RecursionError:
        raise ProtocolError(f"{what} is nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, integers with too many digits
        raise ProtocolError(f"{what} is not valid JSON: {error}") from None


def _parameters(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ProtocolError(f"{where}.parameters must be an object, got {type(raw).__name__}")
    return raw


def _shape(raw: Any, where: str) -> tuple[int, ...]:
    if not isinstance(raw, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in raw):
        raise ProtocolError(f"{where}.shape must be a list of integers, got {raw!r}")
    if len(raw) > MAX_RANK:
        raise ProtocolError(f"{where}.shape has {len(raw)} dimensions; at most {MAX_RANK} are accepted")
    if any(d < 0 for d in raw):
        raise ProtocolError(f"{where}.shape must not have negative dimensions, got {raw}")
    return tuple(raw)


def _rows_within(shape: tuple[int, ...], columns: bool, max_rows: int | None, where: str) -> None:
    """Refuse a tensor with too many rows before converting its data (the costly part)."""
    rows = shape[0] if shape and (columns or len(shape) >= 2) else 1
    if max_rows is not None and rows > max_rows:
        raise ProtocolError(
            f"{where}: {rows} rows; this server takes at most {max_rows} per request (--max-rows): split it"
        )


def _first_non_numeric(values: np.ndarray) -> Any:
    for item in values.ravel().tolist():
        if not isinstance(item, int | float):
            return item
    return None


def _bad_item(data: Any) -> Any:
    """The first value that is not a number, for the error message (``None`` when none is found)."""
    try:
        return _first_non_numeric(np.asarray(data, dtype=object))
    except (ValueError, RecursionError):
        return None


def _numeric(data: Any, datatype: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    """JSON ``data`` -> array of ``datatype`` and ``shape``; one ``np.asarray`` for the whole tensor."""
    try:
        array = np.asarray(data)
    except (ValueError, RecursionError):
        raise ProtocolError(
            f"{where}.data is ragged or nested too deeply: nested lists must all have the same length"
        ) from None
    kind = array.dtype.kind
    if kind not in "biuf":
        raise ProtocolError(f"{where}.data must be numbers for datatype {datatype}, found {_bad_item(data)!r}")
    expected = math.prod(shape)
    if array.size != expected:
        raise ProtocolError(
            f"{where}: shape {list(shape)} needs {expected} values, data has {array.size}"
            + ("" if array.ndim <= 1 else f" (nested as {list(array.shape)})")
        )
    dtype = DATATYPES[datatype]
    if dtype.kind in "iu" and kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.trunc(array)):
            raise ProtocolError(f"{where}.data must be integers for datatype {datatype}")
    elif dtype.kind == "b" and kind != "b" and not np.all((array == 0) | (array == 1)):
        raise ProtocolError(f"{where}.data must be true/false (or 0/1) for datatype BOOL")
    if dtype.kind in "iu" and array.size:
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise ProtocolError(f"{where}.data has values outside the range of {datatype}")
    return array.astype(dtype, copy=False).reshape(shape)


def _bytes_json(data: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    flat = data
    if isinstance(data, list) and data and isinstance(data[0], list):
        try:
            flat = np.asarray(data, dtype=object).ravel().tolist()
        except (ValueError, RecursionError):
            raise ProtocolError(
                f"{where}.data is ragged or nested too deeply: nested lists must all have the same length"
            ) from None
    if not isinstance(flat, list):
        raise ProtocolError(f"{where}.data must be a list")
    if len(flat) != math.prod(shape):
        raise ProtocolError(f"{where}: shape {list(shape)} needs {math.prod(shape)} values, data has {len(flat)}")
    if not all(isinstance(item, str | bytes) for item in flat):
        bad = next(item for item in flat if not isinstance(item, str | bytes))
        raise ProtocolError(f"{where}.data must be strings for datatype BYTES, found {type(bad).__name__} {bad!r:.80}")
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array.reshape(shape)


def _bytes_binary(blob: bytes, shape: tuple[int, ...], where: str) -> np.ndarray:
    items: list[bytes] = []
    offset = 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise ProtocolError(f"{where}: truncated BYTES element length in binary data")
        (length,) = struct.unpack_from("<I", blob, offset)
        offset += 4
        if offset + length > len(blob):
            raise ProtocolError(f"{where}: BYTES element longer than the binary data")
        items.append(bytes(blob[offset : offset + length]))
        offset += length
    if len(items) != math.prod(shape):
        raise ProtocolError(
            f"{where}: shape {list(shape)} needs {math.prod(shape)} values, binary data has {len(items)}"
        )
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array.reshape(shape)


def _tensor(
    raw: Any, index: int, binary: memoryview, offset: int, columns: bool = False, max_rows: int | None = None
) -> tuple[Tensor, int]:
    where = f"inputs[{index}]"
    if not isinstance(raw, dict):
        raise ProtocolError(f"{where} must be an object with name, shape, datatype and data")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ProtocolError(f"{where}.name is required and must be a non-empty string")
    where = f"inputs[{index}] ({name!r})"
    datatype = raw.get("datatype")
    if datatype not in DATATYPES:
        raise ProtocolError(f"{where}.datatype {datatype!r} is unknown; use one of {', '.join(DATATYPES)}")
    if "shape" not in raw:
        raise ProtocolError(f"{where}.shape is required")
    shape = _shape(raw["shape"], where)
    _rows_within(shape, columns, max_rows, where)
    parameters = _parameters(raw.get("parameters"), where)
    size = parameters.get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size < 0:
            raise ProtocolError(f"{where}.parameters.binary_data_size must be a non-negative integer")
        if offset + size > len(binary):
            raise ProtocolError(f"{where}: binary_data_size {size} runs past the end of the body")
        blob = binary[offset : offset + size]
        offset += size
        if datatype == "BYTES":
            return Tensor(name, datatype, _bytes_binary(bytes(blob), shape, where), parameters), offset
        dtype = DATATYPES[datatype]
        expected = math.prod(shape) * dtype.itemsize
        if size != expected:
            raise ProtocolError(f"{where}: shape {list(shape)} of {datatype} needs {expected} bytes, got {size}")
        array = np.frombuffer(blob, dtype=dtype.newbyteorder("<")).reshape(shape)
        return Tensor(name, datatype, array, parameters), offset
    if "data" not in raw:
        raise ProtocolError(f"{where}.data is required (or parameters.binary_data_size for binary data)")
    data = raw["data"]
    if datatype == "BYTES":
        return Tensor(name, datatype, _bytes_json(data, shape, where), parameters), offset
    if not isinstance(data, list):
        data = [data]
    return Tensor(name, datatype, _numeric(data, datatype, shape, where), parameters), offset


def parse_v2_request(body: bytes, header_length: int | None = None, *, max_rows: int | None = None) -> InferRequest:
    """Parse a V2 ``/infer`` body; ``header_length`` is the ``Inference-Header-Content-Length`` header.

    ``max_rows``: refuse tensors with more rows before converting their data.
    """
    if header_length is not None:
        if header_length < 0 or header_length > len(body):
            raise ProtocolError(f"{HEADER_LENGTH} {header_length} does not fit a body of {len(body)} bytes")
        document = _load_json(body[:header_length], "request header")
        binary = memoryview(body)[header_length:]
    else:
        document = _load_json(body, "request body")
        binary = memoryview(b"")
    if not isinstance(document, dict):
        raise ProtocolError("request body must be a JSON object with an 'inputs' list")
    raw_inputs = document.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise ProtocolError("request body needs a non-empty 'inputs' list")
    parameters = _parameters(document.get("parameters"), "request")
    inputs: list[Tensor] = []
    offset = 0
    for index, raw in enumerate(raw_inputs):
        tensor, offset = _tensor(raw, index, binary, offset, len(raw_inputs) > 1, max_rows)
        inputs.append(tensor)
    names = [tensor.name for tensor in inputs]
    if len(set(names)) != len(names):
        raise ProtocolError(f"input names must be unique, got {names}")
    binary_output = bool(parameters.get("binary_data_output", False))
    outputs = None
    raw_outputs = document.get("outputs")
    if raw_outputs is not None:
        if not isinstance(raw_outputs, list):
            raise ProtocolError("'outputs' must be a list of {name} objects")
        outputs = []
        for index, raw in enumerate(raw_outputs):
            if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
                raise ProtocolError(f"outputs[{index}] must be an object with a string 'name'")
            out_params = _parameters(raw.get("parameters"), f"outputs[{index}]")
            outputs.append(RequestedOutput(raw["name"], bool(out_params.get("binary_data", binary_output))))
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError("'id' must be a string")
    return InferRequest(inputs, outputs, request_id, parameters, binary_output)


def model_input(inputs: Sequence[Tensor], n_features: int | None, feature_names: Sequence[str] | None) -> np.ndarray:
    """The 2-D ``[rows, features]`` matrix the model gets.

    One input: ``[rows, features]`` (or ``[features]`` for one row). Several inputs: one column
    each (``[rows]`` or ``[rows, 1]``), ordered by the model's feature names when every input
    is named after one, otherwise in request order.
    """
    if len(inputs) == 1:
        tensor = inputs[0]
        array = tensor.data
        if array.ndim == 1:
            array = array.reshape(-1, 1) if n_features == 1 else array.reshape(1, -1)
        elif array.ndim != 2:
            raise ProtocolError(
                f"inputs[0] ({tensor.name!r}) must be 2-D [rows, features], got shape {list(tensor.data.shape)}"
            )
        if n_features is not None and array.shape[1] != n_features:
            raise ProtocolError(
                f"inputs[0] ({tensor.name!r}) has {array.shape[1]} features per row "
                f"(shape {list(tensor.data.shape)}); the model expects {n_features}"
            )
        return array
    columns: list[np.ndarray] = []
    for index, tensor in enumerate(inputs):
        column = tensor.data
        if column.ndim == 2 and column.shape[1] == 1:
            column = column[:, 0]
        if column.ndim != 1:
            raise ProtocolError(
                f"inputs[{index}] ({tensor.name!r}): with several inputs each is one feature column "
                f"of shape [rows] or [rows, 1], got {list(tensor.data.shape)}"
            )
        columns.append(column)
    rows = {len(column) for column in columns}
    if len(rows) != 1:
        raise ProtocolError(f"feature columns have different row counts: {sorted(rows)}")
    ordered = list(zip((t.name for t in inputs), columns, strict=True))
    if feature_names is not None and {name for name, _ in ordered} <= set(feature_names):
        missing = [name for name in feature_names if name not in dict(ordered)]
        if missing:
            raise ProtocolError(f"missing feature inputs: {', '.join(missing)}")
        by_name = dict(ordered)
        ordered = [(name, by_name[name]) for name in feature_names]
    if n_features is not None and len(ordered) != n_features:
        raise ProtocolError(f"got {len(ordered)} feature inputs; the model expects {n_features}")
    return np.column_stack([column for _, column in ordered])


def _datatype(array: np.ndarray) -> str:
    kind = array.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iu":
        return f"{'U' if kind == 'u' else ''}INT{array.dtype.itemsize * 8}"
    if kind == "f":
        return f"FP{array.dtype.itemsize * 8}"
    return "BYTES"


def _jsonable(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if isinstance(value, bytes):
            out.append(value.decode("utf-8", "replace"))
        elif isinstance(value, str | int | float | bool) or value is None:
            out.append(value)
        elif isinstance(value, np.generic):
            out.append(value.item())
        else:
            out.append(str(value))
    return out


def _binary(array: np.ndarray) -> bytes:
    if array.dtype.kind in "biuf":
        return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    parts: list[bytes] = []
    for value in array.ravel().tolist():
        raw = value if isinstance(value, bytes) else str(value).encode()
        parts.append(struct.pack("<I", len(raw)) + raw)
    return b"".join(parts)


def encode_v2_response(
    model_name: str,
    model_version: str | None,
    outputs: Sequence[tuple[str, np.ndarray]],
    request_id: str | None = None,
    binary: frozenset[str] | set[str] = frozenset(),
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header length when any output (named in ``binary``) is binary."""
    tensors: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array in outputs:
        datatype = _datatype(array)
        tensor: dict[str, Any] = {"name": name, "shape": list(array.shape), "datatype": datatype}
        if name in binary:
            blob = _binary(array)
            blobs.append(blob)
            tensor["parameters"] = {"binary_data_size": len(blob)}
        else:
            flat = array.ravel().tolist()
            tensor["data"] = flat if datatype != "BYTES" else _jsonable(flat)
        tensors.append(tensor)
    document: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        document["model_version"] = model_version
    if request_id is not None:
        document["id"] = request_id
    document["outputs"] = tensors
    header = json.dumps(document, separators=(",", ":")).encode()
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)


def parse_v1_request(body: bytes, feature_names: Sequence[str] | None, *, max_rows: int | None = None) -> np.ndarray:
    """``{"instances": [[...], ...]}`` (or ``"inputs"``) -> ``[rows, features]``.

    Instances may be lists of numbers or objects keyed by the model's feature names; more than
    ``max_rows`` instances are refused before any conversion.
    """
    document = _load_json(body, "request body")
    if not isinstance(document, dict):
        raise ProtocolError('request body must be a JSON object like {"instances": [[...], ...]}')
    key = "instances" if "instances" in document else "inputs" if "inputs" in document else None
    if key is None:
        raise ProtocolError('request body needs an "instances" list, e.g. {"instances": [[1.0, 2.0]]}')
    instances = document[key]
    if not isinstance(instances, list) or not instances:
        raise ProtocolError(f'"{key}" must be a non-empty list of rows')
    if max_rows is not None and len(instances) > max_rows:
        raise ProtocolError(
            f"{key} has {len(instances)} rows; this server takes at most {max_rows} per request (--max-rows): split it"
        )
    if isinstance(instances[0], dict):
        if feature_names is None:
            raise ProtocolError(f"{key} are objects but the model has no feature names; send lists of numbers")
        rows: list[list[Any]] = []
        for index, instance in enumerate(instances):
            if not isinstance(instance, dict):
                raise ProtocolError(f"{key}[{index}] must be an object like the others")
            missing = [name for name in feature_names if name not in instance]
            if missing:
                raise ProtocolError(f"{key}[{index}] is missing features: {', '.join(missing)}")
            rows.append([instance[name] for name in feature_names])
        instances = rows
    try:
        array = np.asarray(instances)
    except (ValueError, RecursionError):
        raise ProtocolError(f"{key} is ragged or nested too deeply: every row must be a list of numbers") from None
    if array.dtype.kind not in "biuf":
        raise ProtocolError(f"{key} must contain numbers only, found {_bad_item(instances)!r}")
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise ProtocolError(f"{key} must be a list of rows (2-D), got {array.ndim}-D data of shape {list(array.shape)}")
    return array


def encode_v1_response(predictions: np.ndarray, prediction_id: str | None = None) -> bytes:
    """``{"predictions": [...]}``, with ``"id"`` (the prediction id, for late labels) when given."""
    values = predictions.tolist()
    if predictions.dtype.kind not in "biuf":
        values = _jsonable(values)
    document: dict[str, Any] = {"predictions": values}
    if prediction_id is not None:
        document["id"] = prediction_id
    return json.dumps(document, separators=(",", ":")).encode()


def error_body(message: str) -> bytes:
    """``{"error": message}`` as bytes."""
    return json.dumps({"error": message}).encode()
