"""A V2 client we did not write (Triton's ``tritonclient.http``) against `mlaiops serve`, binary and JSON."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import tritonclient.http as httpclient  # a test extra: a V2 client we did not write
from serve_support import N_FEATURES, ModelFile, ServeProcess, Servers
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_file: ModelFile) -> Iterator[ServeProcess]:
    group = Servers(tmp_path_factory)
    started = group.start("--model-uri", model_file.uri, "--model-name", "fraud", "--model-version", "3")
    try:
        started.wait_ready()
        yield started
    finally:
        group.stop_all()


@pytest.fixture
def client(server: ServeProcess) -> Iterator[object]:
    triton = httpclient.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    yield triton
    triton.close()


def test_health_and_metadata(client: httpclient.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("fraud")
    assert client.is_model_ready("fraud", "3")
    assert client.get_server_metadata()["name"] == "mlaiops"
    metadata = client.get_model_metadata("fraud")
    assert metadata["versions"] == ["3"]
    assert metadata["inputs"][0]["shape"] == [-1, N_FEATURES]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer(client: httpclient.InferenceServerClient, model_file: ModelFile, binary: bool) -> None:
    rows = model_file.rows[:6]
    tensor = httpclient.InferInput("input-0", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    outputs = [
        httpclient.InferRequestedOutput("predict", binary_data=binary),
        httpclient.InferRequestedOutput("predict_proba", binary_data=binary),
    ]
    result = client.infer("fraud", [tensor], outputs=outputs, request_id="abc")
    response = result.get_response()
    assert response["id"] == "abc"
    sizes = [output.get("parameters", {}).get("binary_data_size") for output in response["outputs"]]
    assert sizes == ([6 * 8, 6 * 2 * 8] if binary else [None, None])
    np.testing.assert_array_equal(result.as_numpy("predict"), model_file.estimator.predict(rows))
    np.testing.assert_allclose(result.as_numpy("predict_proba"), model_file.estimator.predict_proba(rows))


def test_infer_fp32_without_named_outputs(client: httpclient.InferenceServerClient, model_file: ModelFile) -> None:
    rows = model_file.rows[:3].astype(np.float32)
    tensor = httpclient.InferInput("input-0", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    result = client.infer("fraud", [tensor], model_version="3")
    assert result.as_numpy("predict").shape == (3,)
    assert result.as_numpy("predict_proba").shape == (3, 2)


def test_errors_reach_the_client(client: httpclient.InferenceServerClient) -> None:
    tensor = httpclient.InferInput("input-0", [1, 3], "FP64")
    tensor.set_data_from_numpy(np.zeros((1, 3)))
    with pytest.raises(InferenceServerException, match=f"the model expects {N_FEATURES}"):
        client.infer("fraud", [tensor])
    with pytest.raises(InferenceServerException, match="model 'other' not found"):
        client.infer("other", [tensor])
