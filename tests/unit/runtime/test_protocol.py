"""V2 / V1 request parsing and response encoding: shapes, datatypes, binary data, and the 400 messages."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from mlaiops.runtime.protocol import (
    ProtocolError,
    encode_v1_response,
    encode_v2_response,
    model_input,
    parse_v1_request,
    parse_v2_request,
)


def body(*inputs: dict, **extra: object) -> bytes:
    return json.dumps({"inputs": list(inputs), **extra}).encode()


def tensor(data: object, shape: list[int], datatype: str = "FP64", name: str = "x") -> dict:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def error_of(raw: bytes, header_length: int | None = None) -> str:
    with pytest.raises(ProtocolError) as caught:
        parse_v2_request(raw, header_length)
    return str(caught.value)


@pytest.mark.parametrize(
    ("datatype", "dtype"),
    [("FP32", np.float32), ("FP64", np.float64), ("INT32", np.int32), ("INT64", np.int64), ("BOOL", np.bool_)],
)
def test_flat_row_major_data_gets_shape_and_dtype(datatype: str, dtype: type) -> None:
    data = [1, 0, 1, 1, 0, 0] if datatype == "BOOL" else [1, 2, 3, 4, 5, 6]
    parsed = parse_v2_request(body(tensor(data, [2, 3], datatype)))
    array = parsed.inputs[0].data
    assert array.dtype == dtype
    assert array.shape == (2, 3)
    assert array.tolist()[1] == ([True, False, False] if datatype == "BOOL" else [4, 5, 6])


def test_nested_data_is_accepted_like_flat() -> None:
    flat = parse_v2_request(body(tensor([1.5, 2, 3, 4], [2, 2]))).inputs[0].data
    nested = parse_v2_request(body(tensor([[1.5, 2], [3, 4]], [2, 2]))).inputs[0].data
    assert np.array_equal(flat, nested)


def test_bytes_tensor_keeps_strings() -> None:
    array = parse_v2_request(body(tensor(["a", "bc"], [2], "BYTES"))).inputs[0].data
    assert array.tolist() == ["a", "bc"]


def test_id_outputs_and_parameters_are_parsed() -> None:
    raw = body(
        tensor([1, 2], [1, 2]),
        id="req-7",
        parameters={"binary_data_output": False, "trace": "x"},
        outputs=[{"name": "predict_proba"}, {"name": "predict", "parameters": {"binary_data": True}}],
    )
    parsed = parse_v2_request(raw)
    assert parsed.id == "req-7"
    assert parsed.parameters["trace"] == "x"
    assert [(o.name, o.binary) for o in parsed.outputs or []] == [("predict_proba", False), ("predict", True)]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "request body is not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"inputs": []}', "non-empty 'inputs' list"),
        (body(tensor([1, 2, 3], [2, 2])), "shape [2, 2] needs 4 values, data has 3"),
        (body(tensor([1, 2], [1, 2], "FP42")), "datatype 'FP42' is unknown"),
        (body(tensor([1, "a"], [1, 2])), "must be numbers for datatype FP64, found 'a'"),
        (body(tensor([1, None], [1, 2])), "found None"),
        (body(tensor([[1, 2], [3]], [2, 2])), "ragged"),
        (body(tensor([1.5, 2], [1, 2], "INT64")), "must be integers for datatype INT64"),
        (body(tensor([300], [1], "INT8")), "outside the range of INT8"),
        (body(tensor([2], [1], "BOOL")), "true/false"),
        (body(tensor([1], [-1])), "must not have negative dimensions"),
        (body(tensor([1], "1")), "shape must be a list of integers"),
        (body({"shape": [1], "datatype": "FP64", "data": [1]}), "inputs[0].name is required"),
        (body({"name": "x", "datatype": "FP64", "data": [1]}), "inputs[0] ('x').shape is required"),
        (body({"name": "x", "shape": [1], "datatype": "FP64"}), "data is required"),
        (body(tensor([1], [1]), tensor([2], [1])), "input names must be unique"),
        (body(tensor([1], [1]), outputs=[{"nom": "predict"}]), "outputs[0] must be an object with a string 'name'"),
    ],
)
def test_bad_requests_say_what_is_wrong(raw: bytes, message: str) -> None:
    assert message in error_of(raw)


def test_binary_inputs_follow_the_json_header() -> None:
    values = np.arange(6, dtype=np.float32)
    strings = [b"ab", b"c"]
    packed = b"".join(struct.pack("<I", len(s)) + s for s in strings)
    header = json.dumps(
        {
            "inputs": [
                {"name": "x", "shape": [2, 3], "datatype": "FP32", "parameters": {"binary_data_size": 24}},
                {"name": "s", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": len(packed)}},
            ]
        }
    ).encode()
    parsed = parse_v2_request(header + values.tobytes() + packed, len(header))
    assert parsed.inputs[0].data.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert parsed.inputs[1].data.tolist() == strings


def test_binary_size_must_match_shape() -> None:
    header = json.dumps(
        {"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "parameters": {"binary_data_size": 8}}]}
    ).encode()
    assert "needs 16 bytes, got 8" in error_of(header + b"\0" * 8, len(header))
    assert "runs past the end of the body" in error_of(header + b"\0" * 4, len(header))
    assert "does not fit a body" in error_of(header, len(header) + 100)


def test_model_input_single_matrix_checks_feature_count() -> None:
    x = parse_v2_request(body(tensor([1, 2, 3, 4, 5, 6], [2, 3]))).inputs
    assert model_input(x, 3, None).shape == (2, 3)
    with pytest.raises(ProtocolError, match=r"has 3 features per row \(shape \[2, 3\]\); the model expects 4"):
        model_input(x, 4, None)


def test_model_input_one_dimensional_is_one_row() -> None:
    x = parse_v2_request(body(tensor([1, 2, 3], [3]))).inputs
    assert model_input(x, 3, None).shape == (1, 3)
    column = parse_v2_request(body(tensor([1, 2, 3], [3]))).inputs
    assert model_input(column, 1, None).shape == (3, 1)


def test_model_input_rejects_three_dimensions() -> None:
    x = parse_v2_request(body(tensor([1] * 8, [2, 2, 2]))).inputs
    with pytest.raises(ProtocolError, match="must be 2-D"):
        model_input(x, None, None)


def test_model_input_columns_are_ordered_by_feature_names() -> None:
    inputs = parse_v2_request(
        body(tensor([10, 20], [2], name="b"), tensor([1, 2], [2, 1], name="a"), tensor([7, 8], [2], name="c"))
    ).inputs
    assert model_input(inputs, 3, ("a", "b", "c")).tolist() == [[1, 10, 7], [2, 20, 8]]
    assert model_input(inputs, 3, None).tolist() == [[10, 1, 7], [20, 2, 8]]
    with pytest.raises(ProtocolError, match="missing feature inputs: d"):
        model_input(inputs, 4, ("a", "b", "c", "d"))


def test_model_input_columns_must_have_equal_rows() -> None:
    inputs = parse_v2_request(body(tensor([1, 2], [2], name="a"), tensor([1], [1], name="b"))).inputs
    with pytest.raises(ProtocolError, match=r"different row counts: \[1, 2\]"):
        model_input(inputs, None, None)


def test_encode_v2_json_response() -> None:
    raw, header = encode_v2_response(
        "fraud",
        "v3",
        [("predict", np.array([0, 1])), ("predict_proba", np.array([[0.9, 0.1], [0.2, 0.8]]))],
        "req-1",
    )
    assert header is None
    document = json.loads(raw)
    assert document["model_name"] == "fraud"
    assert document["model_version"] == "v3"
    assert document["id"] == "req-1"
    assert document["outputs"][0] == {"name": "predict", "shape": [2], "datatype": "INT64", "data": [0, 1]}
    assert document["outputs"][1]["shape"] == [2, 2]
    assert document["outputs"][1]["datatype"] == "FP64"
    assert document["outputs"][1]["data"] == [0.9, 0.1, 0.2, 0.8]


def test_encode_v2_string_labels_are_bytes() -> None:
    raw, _ = encode_v2_response("m", None, [("predict", np.array(["fraud", "ok"], dtype=object))])
    output = json.loads(raw)["outputs"][0]
    assert output["datatype"] == "BYTES"
    assert output["data"] == ["fraud", "ok"]


def test_encode_v2_binary_output() -> None:
    proba = np.array([[0.25, 0.75]])
    raw, header = encode_v2_response(
        "m", "1", [("predict", np.array([1])), ("predict_proba", proba)], None, {"predict_proba"}
    )
    assert header is not None
    document = json.loads(raw[:header])
    assert document["outputs"][0]["data"] == [1]
    assert document["outputs"][1]["parameters"] == {"binary_data_size": 16}
    assert "data" not in document["outputs"][1]
    assert np.frombuffer(raw[header:], dtype="<f8").tolist() == [0.25, 0.75]


def test_v1_instances_lists_and_objects() -> None:
    assert parse_v1_request(b'{"instances": [[1, 2], [3, 4]]}', None).tolist() == [[1, 2], [3, 4]]
    rows = parse_v1_request(b'{"instances": [{"b": 2, "a": 1}]}', ("a", "b"))
    assert rows.tolist() == [[1, 2]]
    assert parse_v1_request(b'{"inputs": [[5, 6]]}', None).tolist() == [[5, 6]]


@pytest.mark.parametrize(
    ("raw", "names", "message"),
    [
        (b'{"rows": [[1]]}', None, 'needs an "instances" list'),
        (b'{"instances": []}', None, "non-empty list"),
        (b'{"instances": [[1, 2], [3]]}', None, "ragged"),
        (b'{"instances": [[1, "x"]]}', None, "numbers only, found 'x'"),
        (b'{"instances": [{"a": 1}]}', ("a", "b"), "instances[0] is missing features: b"),
        (b'{"instances": [{"a": 1}]}', None, "no feature names"),
        (b'{"instances": [[[1]]]}', None, "2-D"),
    ],
)
def test_v1_bad_requests(raw: bytes, names: tuple[str, ...] | None, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_v1_request(raw, names)
    assert message in str(caught.value)


def test_v1_response() -> None:
    assert json.loads(encode_v1_response(np.array([0, 1]))) == {"predictions": [0, 1]}
    assert json.loads(encode_v1_response(np.array(["a"], dtype=object))) == {"predictions": ["a"]}
    assert json.loads(encode_v1_response(np.array([1]), "p-1")) == {"predictions": [1], "id": "p-1"}


# --- abuse: every malformed body is a ProtocolError (a 400), never another exception (a 500) ---------


@pytest.mark.parametrize("key", ["inputs", "instances"])
def test_deep_nesting_is_a_protocol_error(key: str) -> None:
    body = f'{{"{key}": {"[" * 100_000}{"]" * 100_000}}}'.encode()
    parse = parse_v2_request if key == "inputs" else (lambda raw: parse_v1_request(raw, None))
    with pytest.raises(ProtocolError, match="nested too deeply"):
        parse(body)


def test_nesting_deeper_than_numpy_takes_is_a_protocol_error() -> None:
    nested: object = [0.0]
    for _ in range(100):
        nested = [nested]
    with pytest.raises(ProtocolError, match="nested too deeply"):
        parse_v2_request(
            json.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": nested}]}).encode()
        )
    with pytest.raises(ProtocolError, match="nested too deeply"):
        parse_v1_request(json.dumps({"instances": nested}).encode(), None)


def test_huge_rank_and_huge_integers_are_protocol_errors() -> None:
    rank = {"inputs": [{"name": "x", "shape": [1] * 1000, "datatype": "FP64", "data": [0.0]}]}
    with pytest.raises(ProtocolError, match=r"inputs\[0\] \('x'\)\.shape has 1000 dimensions; at most 8"):
        parse_v2_request(json.dumps(rank).encode())
    with pytest.raises(ProtocolError, match="not valid JSON"):
        parse_v1_request(b'{"instances": [[' + b"9" * 5000 + b"]]}", None)


def test_bytes_must_be_strings() -> None:
    body = {"inputs": [{"name": "x", "shape": [2], "datatype": "BYTES", "data": ["ok", {"a": 1}]}]}
    with pytest.raises(ProtocolError, match="must be strings for datatype BYTES, found dict"):
        parse_v2_request(json.dumps(body).encode())


def test_rows_over_the_limit_are_refused_before_conversion() -> None:
    matrix = {"inputs": [{"name": "x", "shape": [11, 2], "datatype": "FP64", "data": [0.0] * 22}]}
    with pytest.raises(ProtocolError, match=r"11 rows; this server takes at most 10 per request \(--max-rows\)"):
        parse_v2_request(json.dumps(matrix).encode(), max_rows=10)
    assert parse_v2_request(json.dumps(matrix).encode(), max_rows=11).inputs[0].data.shape == (11, 2)
    columns = {"inputs": [{"name": n, "shape": [11], "datatype": "FP64", "data": [0.0] * 11} for n in "ab"]}
    with pytest.raises(ProtocolError, match="11 rows"):
        parse_v2_request(json.dumps(columns).encode(), max_rows=10)
    one_row = {"inputs": [{"name": "x", "shape": [11], "datatype": "FP64", "data": [0.0] * 11}]}
    assert parse_v2_request(json.dumps(one_row).encode(), max_rows=10).inputs[0].data.shape == (11,)
    with pytest.raises(ProtocolError, match="instances has 3 rows"):
        parse_v1_request(json.dumps({"instances": [[1.0]] * 3}).encode(), None, max_rows=2)
