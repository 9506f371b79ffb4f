"""The built-in model server: an aiohttp app speaking Open Inference (V2) and KServe V1, with /metrics.

The process serves one model. It starts listening at once (``/v2/health/live`` answers 200) and
loads the model in the background; ``/v2/health/ready`` turns 200 only once the model is loaded.
A model that cannot load (missing file, sha256 mismatch, unloadable artifact) leaves the server
live but never ready, with the reason in the log, in the readiness body and in
``mlaiops_model_load_errors_total``: Kubernetes then keeps the pod out of the Service, the
Deployment's rollout stalls where the operator can see it, and the canary analysis rolls back,
instead of a CrashLoopBackOff that re-downloads the artifact on every restart and hides the log
behind ``--previous``. Network errors while downloading are retried with backoff.
``--exit-on-load-failure`` (what the operator's Deployments ask for) exits with code 3 instead, after
writing ``<Reason>: <message>`` to the container's termination message file (``--termination-log``,
``/dev/termination-log``): the kubelet puts it in the pod's ``lastState.terminated.message``, where
the operator reads why a model cannot load and says so in the ModelDeployment's conditions.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import hashlib
import json
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from aiohttp import web

from mlaiops import __version__
from mlaiops.detection import profile as reference
from mlaiops.runtime import loaders, storage
from mlaiops.runtime.batching import Batcher
from mlaiops.runtime.feedback import FeedbackStats, LabelKind, NothingHeld, apply, parse_feedback
from mlaiops.runtime.loaders import PREDICT, PREDICT_PROBA, LoadedModel
from mlaiops.runtime.metrics import PREDICTION_BUCKETS, ServerMetrics
from mlaiops.runtime.predictions import DEFAULT_CAPACITY, DEFAULT_TTL, MAX_ID_LENGTH, PredictionStore, row_ids
from mlaiops.runtime.protocol import (
    HEADER_LENGTH,
    ProtocolError,
    encode_v1_response,
    encode_v2_response,
    error_body,
    model_input,
    parse_v1_request,
    parse_v2_request,
)

log = logging.getLogger("mlaiops.serve")

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JSON_TYPE = "application/json"
PREDICTION_ID_HEADER = "Prediction-Id"
"""Response header with the prediction id (V2 and V1); rows of a multi-row request are ``<id>:<row>``."""
EXIT_LOAD_FAILED = 3


@dataclass(frozen=True)
class ServeConfig:
    """Everything `mlaiops serve` is told from outside (flags over ``MLAIOPS_*`` variables)."""

    model_uri: str
    model_name: str = "model"
    model_version: str = ""
    """Empty: a short hash of the URI, as the ModelDeployment API documents."""
    model_format: str = "sklearn"
    sha256: str | None = None
    profile_uri: str | None = None
    """The reference profile; None: ``profile.json`` beside a local (file://, pvc://) model when present;
    ``none``: no profile."""
    track: str = "stable"
    host: str = "0.0.0.0"
    port: int = 8080
    pvc_root: Path = Path("/mnt/pvc")
    file_root: Path = Path("/models")
    """Where file:// URIs may point: a model baked into the image or mounted there."""
    download_dir: Path | None = None
    max_feature_metrics: int = 20
    prediction_buckets: tuple[float, ...] = PREDICTION_BUCKETS
    metrics_port: int | None = None
    """Serve /metrics on its own port too (None: only on ``port``)."""
    metrics_path: str = "/metrics"
    max_request_bytes: int = 8 * 1024 * 1024
    """Largest inference body accepted (413 beyond): bounds the memory and the parsing time of one request."""
    max_rows: int = 10_000
    """Most rows in one inference request (400 beyond): bounds the prediction time of one request."""
    max_concurrent_requests: int = 4
    """Inference requests read, decoded and predicted at once; the others wait their turn unread."""
    max_batch_size: int = 1
    """Adaptive batching: most rows in one model call shared by concurrent requests (1: no batching)."""
    max_batch_latency: float = 0.005
    """Adaptive batching: most seconds a request waits for others to share its model call."""
    header_timeout: float = 15.0
    """Seconds a connection may take to send a request's headers (and idle between requests)."""
    body_timeout: float = 30.0
    """Seconds a client may take to send an inference body once the server starts reading it (408 beyond)."""
    access_log: bool = False
    feedback_capacity: int = DEFAULT_CAPACITY
    """Predictions (rows) kept for joining late labels; 0 keeps none. Bounds the store's memory."""
    feedback_ttl: float = DEFAULT_TTL
    """Seconds a prediction waits for its label."""
    exit_on_load_failure: bool = False
    termination_log: Path | None = None
    """Where the reason of a load failure goes before exiting (the container's terminationMessagePath)."""

    @property
    def version(self) -> str:
        return self.model_version or default_version(self.model_uri)


def beside(uri: str, filename: str) -> str:
    """The URI of ``filename`` in the same folder as the artifact ``uri`` names (or inside it, for a folder)."""
    parts = urlsplit(uri)
    path = parts.path
    folder = path if path.endswith("/") or "." not in path.rsplit("/", 1)[-1] else path.rsplit("/", 1)[0] + "/"
    return urlunsplit(parts._replace(path=folder.rstrip("/") + "/" + filename, query="", fragment=""))


def default_version(uri: str) -> str:
    """A short, stable hash of the URI: the version label when none is given."""
    return hashlib.sha256(uri.encode()).hexdigest()[:12]


class InvalidProfile(loaders.LoadError):
    """The reference profile cannot be read or does not describe the model's features."""

    reason = "InvalidProfile"


class HttpError(Exception):
    """A request the server answers with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


INFERENCE_ROUTES = frozenset({"v2-infer", "v2-infer-version", "v1-predict"})
"""Routes counted in ``mlaiops_model_requests_total`` (by their real status code)."""


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(payload).encode(), status=status, content_type=JSON_TYPE)


def _error(status: int, message: str) -> web.Response:
    return web.Response(body=error_body(message), status=status, content_type=JSON_TYPE)


@dataclass(frozen=True)
class _V2Input:
    """A decoded V2 request: the model's matrix and which outputs to send back, and how."""

    id: str | None
    features: np.ndarray
    wanted: list[str]
    binary: set[str]


_V2_DATATYPE = {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64"}


class ModelServer:
    """One model behind the V2 and V1 endpoints. Build the app with :meth:`app`, load with :meth:`load`."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.name = config.model_name
        self.version = config.version
        self.metrics = ServerMetrics(
            config.model_name,
            self.version,
            config.track,
            config.model_format,
            max_features=config.max_feature_metrics,
            prediction_buckets=config.prediction_buckets,
        )
        self.predictions = PredictionStore(config.feedback_capacity, config.feedback_ttl)
        self.label_kind = LabelKind(None)
        self.feedback_stats = FeedbackStats(
            (config.model_name, self.version, config.track),
            self.predictions,
            self.label_kind,
            config.prediction_buckets,
        )
        self.metrics.registry.register(self.feedback_stats)
        self.model: LoadedModel | None = None
        self.artifact: storage.Artifact | None = None
        self.load_error: str | None = None
        self._predictor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self._codec = ThreadPoolExecutor(max_workers=1, thread_name_prefix="codec")
        # A batch can only hold requests that are let in at once: batching lets in at least a batch of them.
        self._slots = asyncio.Semaphore(max(config.max_concurrent_requests, config.max_batch_size))
        self._batcher = (
            Batcher(self._call_model, config.max_batch_size, config.max_batch_latency, self.metrics.observe_call)
            if config.max_batch_size > 1
            else None
        )

    # --- loading -----------------------------------------------------------------------------

    async def load_once(self) -> None:
        started = perf_counter()
        loader = loaders.loader_for(self.config.model_format)
        artifact = await storage.fetch(
            self.config.model_uri,
            pvc_root=self.config.pvc_root,
            file_root=self.config.file_root,
            filenames=loader.filenames,
            download_dir=self.config.download_dir,
            sha256=self.config.sha256,
        )
        model = await asyncio.to_thread(loaders.load, self.config.model_format, artifact.path)
        if model.n_features:
            try:  # warm up caches so the first request is not the slow one; not a readiness gate
                model.run(np.zeros((1, model.n_features)), model.output_names)
            except Exception as error:
                log.warning("warm-up prediction on a row of zeros failed (%s); serving anyway", error)
        seconds = perf_counter() - started
        features = model.feature_names or [str(i) for i in range(model.n_features or 0)]
        profile = await self._load_profile(artifact, features)
        self.metrics.loaded(seconds, artifact.sha256, features)
        self.metrics.set_profile(*(profile or (None, "")))
        self.label_kind = LabelKind(model.classes)
        self.feedback_stats.set_kind(self.label_kind)
        self.model, self.artifact, self.load_error = model, artifact, None
        # The model lives as long as the process: keep its objects out of every future GC scan.
        gc.collect()
        gc.freeze()
        log.info(
            "model %r version %r (track %s) loaded from %s (sha256 %s) in %.3fs: %s, %s features, outputs %s",
            self.name,
            self.version,
            self.config.track,
            artifact.path,
            artifact.sha256,
            seconds,
            type(model.estimator).__name__,
            model.n_features if model.n_features is not None else "unknown",
            ", ".join(model.output_names),
        )

    async def _load_profile(
        self, artifact: storage.Artifact, features: Sequence[str]
    ) -> tuple[reference.Profile, str] | None:
        """The reference profile and its sha256, checked against the model's features; None without one.

        A profile that cannot be read or describes other features fails the load (InvalidProfile): the
        server never gets ready, so a wrong profile is found at rollout, not when a drift rule fires on it.
        """
        uri = self.config.profile_uri
        if uri is not None and uri.lower() == "none":
            return None
        try:
            if uri is None:
                local = storage.local_path(self.config.model_uri, self.config.pvc_root, self.config.file_root)
                if local is None:
                    return await self._remote_profile(features)
                candidate = artifact.path.parent / reference.FILENAME
                if not candidate.is_file():
                    return None
                path, digest = candidate, await asyncio.to_thread(storage.sha256_file, candidate)
            else:
                fetched = await storage.fetch(
                    uri,
                    pvc_root=self.config.pvc_root,
                    file_root=self.config.file_root,
                    filenames=(reference.FILENAME,),
                    download_dir=self.config.download_dir,
                )
                path, digest = fetched.path, fetched.sha256
            profile = reference.Profile.from_json(await asyncio.to_thread(path.read_bytes))
        except reference.ProfileError as error:
            raise InvalidProfile(f"profile {uri or reference.FILENAME}: {error}") from None
        problem = profile.mismatch(features)
        if problem is not None:
            raise InvalidProfile(f"profile {uri or path}: {problem}")
        return profile, digest

    async def _remote_profile(self, features: Sequence[str]) -> tuple[reference.Profile, str] | None:
        """``profile.json`` beside an http(s):// or s3:// model, if there is one.

        It is optional there: failing to fetch it, or fetching something that is not a profile, leaves the
        server without drift sketches (and says so in the log) rather than unready; a profile of other
        features than the model's still fails the load.
        """
        uri = beside(self.config.model_uri, reference.FILENAME)
        try:
            fetched = await storage.fetch(
                uri,
                pvc_root=self.config.pvc_root,
                file_root=self.config.file_root,
                download_dir=self.config.download_dir,
            )
        except storage.StorageError as error:
            level = logging.INFO if isinstance(error, storage.ArtifactNotFound) else logging.WARNING
            log.log(level, "no reference profile beside the model (%s): no drift sketches", error)
            return None
        try:
            profile = reference.Profile.from_json(await asyncio.to_thread(fetched.path.read_bytes))
        except reference.ProfileError as error:  # whatever answered that URL, it is not a profile
            log.warning("%s is not a reference profile (%s): no drift sketches", uri, error)
            return None
        problem = profile.mismatch(features)
        if problem is not None:
            raise InvalidProfile(f"profile {uri}: {problem}")
        return profile, fetched.sha256

    async def load(self) -> bool:
        """Load the model, retrying transient download errors; False when it can never load."""
        delay = 1.0
        while True:
            try:
                await self.load_once()
                return True
            except (storage.StorageError, loaders.LoadError) as error:
                reason, transient = error.reason, getattr(error, "transient", False)
                message = str(error)
            except Exception as error:  # a bug or an OS error: say so, stay up
                log.exception("unexpected error while loading the model")
                reason, transient, message = "Error", False, f"{type(error).__name__}: {error}"
            self.metrics.load_failed(reason)
            self.load_error = f"{reason}: {message}"
            if transient:
                log.warning("model %r: %s; retrying in %.0fs", self.name, self.load_error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
                continue
            log.error(
                "model %r version %r cannot be loaded from %s: %s. %s; fix the model (storageUri, sha256 or "
                "format) and roll out again.",
                self.name,
                self.version,
                self.config.model_uri,
                self.load_error,
                f"Exiting with code {EXIT_LOAD_FAILED}"
                if self.config.exit_on_load_failure
                else "The server stays live but will never be ready",
            )
            return False

    # --- helpers -----------------------------------------------------------------------------

    def _require(self, name: str, version: str | None) -> LoadedModel:
        if name != self.name:
            raise HttpError(404, f"model {name!r} not found; this server serves {self.name!r}")
        if version is not None and version != self.version:
            raise HttpError(404, f"model {name!r} has no version {version!r}; it serves version {self.version!r}")
        if self.model is None:
            raise HttpError(503, f"model {name!r} is not ready: {self.load_error or 'still loading'}")
        return self.model

    async def _predict(self, model: LoadedModel, features: np.ndarray) -> dict[str, np.ndarray]:
        """All outputs, computed on the one prediction thread; requests wait their turn there.

        Not on the event loop: while a model is busy, the loop still answers health probes and
        Prometheus scrapes (a saturated server must not look dead or go dark), and the request's
        duration, measured from when its handler started, includes the time it queued for the model
        (what a client sees, and what a latency rule must see under a load surge).
        """
        if self._batcher is not None:
            return await self._batcher.predict(model, features)
        results = await self._call_model(model, features)
        self.metrics.observe_call(len(features), 1)
        return results

    async def _call_model(self, model: LoadedModel, features: np.ndarray) -> dict[str, np.ndarray]:
        """One model call on the prediction thread."""
        return await asyncio.get_running_loop().run_in_executor(self._predictor, self._run_model, model, features)

    async def _offload(self, function: Callable[..., T], *args: Any) -> T:
        """Run JSON decoding or encoding on the codec thread, never on the event loop.

        One thread: a burst of large bodies is decoded one at a time, so only one request's
        Python objects exist at once (RSS stays bounded) and the loop gets the GIL between them.
        """
        return await asyncio.get_running_loop().run_in_executor(
            self._codec, functools.partial(_detached, function, *args)
        )

    async def _body(self, request: web.Request) -> bytes:
        """The request body within the size and time limits (413 and 408 otherwise)."""
        limit = self.config.max_request_bytes
        if request.content_length is not None and request.content_length > limit:
            raise HttpError(
                413,
                f"request body of {request.content_length} bytes exceeds the limit of {limit} bytes "
                "(--max-request-bytes); send fewer rows per request",
            )
        try:
            async with asyncio.timeout(self.config.body_timeout):
                return await request.read()
        except TimeoutError:
            raise HttpError(
                408, f"the request body was not received within {self.config.body_timeout:g}s (--body-timeout)"
            ) from None

    def _check_rows(self, rows: int) -> None:
        if rows > self.config.max_rows:
            raise ProtocolError(
                f"the request has {rows} rows; this server takes at most {self.config.max_rows} per request "
                "(--max-rows): split it"
            )

    @staticmethod
    def _run_model(model: LoadedModel, features: np.ndarray) -> dict[str, np.ndarray]:
        """The prediction histogram needs ``predict_proba`` even when not asked for.

        ValueError is scikit-learn's answer to inputs it cannot take (NaN, strings, ...): the
        client's fault, a 400. So is a TypeError on BYTES (object) input; on numeric input a
        TypeError is the model's own bug and stays a 500.
        """
        try:
            results = model.run(features, model.output_names)
        except ValueError as error:
            raise ProtocolError(f"the model rejected the input: {error}") from None
        except TypeError as error:
            if features.dtype.kind != "O":
                raise
            raise ProtocolError(f"the model rejected the input: {error}") from None
        return dict(results)

    def _metadata(self) -> dict[str, Any]:
        model = self.model
        metadata: dict[str, Any] = {
            "name": self.name,
            "versions": [self.version],
            "platform": self.config.model_format,
        }
        if model is None:
            return metadata
        metadata["inputs"] = _input_tensors(model)
        outputs = [{"name": PREDICT, "datatype": _predict_datatype(model), "shape": [-1]}]
        if model.has_proba:
            classes = len(model.classes) if model.classes is not None else -1
            outputs.append({"name": PREDICT_PROBA, "datatype": "FP64", "shape": [-1, classes]})
        metadata["outputs"] = outputs
        parameters: dict[str, Any] = {}
        if model.feature_names is not None:
            parameters["content_type"] = "pd"  # MLServer's tabular convention: one column per named input
            parameters["feature_names"] = list(model.feature_names)
        if model.classes is not None:
            parameters["classes"] = list(model.classes)
        if parameters:
            metadata["parameters"] = parameters
        return metadata

    # --- handlers ----------------------------------------------------------------------------

    async def live(self, _: web.Request) -> web.Response:
        return _json({"live": True})

    async def ready(self, _: web.Request) -> web.Response:
        if self.model is None:
            return _json({"ready": False, "reason": self.load_error or "model is loading"}, 503)
        return _json({"ready": True})

    async def server_metadata(self, _: web.Request) -> web.Response:
        return _json({"name": "mlaiops", "version": __version__, "extensions": ["binary_tensor_data"]})

    async def model_metadata(self, request: web.Request) -> web.Response:
        name, version = request.match_info["name"], request.match_info.get("version")
        if name != self.name or (version is not None and version != self.version):
            raise HttpError(404, f"model {name!r} version {version!r} not found; this server serves {self.name!r}")
        return _json(self._metadata())

    async def model_ready(self, request: web.Request) -> web.Response:
        try:
            self._require(request.match_info["name"], request.match_info.get("version"))
        except HttpError as error:
            if error.status == 404:
                raise
            return _json({"name": self.name, "ready": False, "reason": self.load_error or "model is loading"}, 503)
        return _json({"name": self.name, "ready": True})

    def _decode_v2(self, model: LoadedModel, body: bytes, header_length: int | None) -> _V2Input:
        """Parse a V2 body into the model's matrix (on the codec thread)."""
        parsed = parse_v2_request(body, header_length, max_rows=self.config.max_rows)
        if parsed.outputs is not None:
            unknown = [out.name for out in parsed.outputs if out.name not in model.output_names]
            if unknown:
                raise ProtocolError(
                    f"unknown output {', '.join(map(repr, unknown))}; this model has {', '.join(model.output_names)}"
                )
            wanted = [out.name for out in parsed.outputs]
            binary = {out.name for out in parsed.outputs if out.binary}
        else:
            wanted = list(model.output_names)
            binary = set(wanted) if parsed.binary_output else set()
        if parsed.id is not None and len(parsed.id) > MAX_ID_LENGTH:
            raise ProtocolError(f"'id' has {len(parsed.id)} characters; at most {MAX_ID_LENGTH} are accepted")
        features = model_input(parsed.inputs, model.n_features, model.feature_names)
        self._check_rows(features.shape[0])
        return _V2Input(parsed.id or None, features, wanted, binary)

    def _decode_v1(self, model: LoadedModel, body: bytes) -> np.ndarray:
        features = parse_v1_request(body, model.feature_names, max_rows=self.config.max_rows)
        if model.n_features is not None and features.shape[1] != model.n_features:
            raise ProtocolError(
                f"instances have {features.shape[1]} features per row; the model expects {model.n_features}"
            )
        self._check_rows(features.shape[0])
        return features

    async def infer(self, request: web.Request) -> web.Response:
        model = self._require(request.match_info["name"], request.match_info.get("version"))
        header = request.headers.get(HEADER_LENGTH)
        try:
            header_length = int(header) if header is not None else None
        except ValueError:
            raise ProtocolError(f"{HEADER_LENGTH} must be an integer, got {header!r}") from None
        async with self._slots:
            decoded = await self._offload(self._decode_v2, model, await self._body(request), header_length)
            results = await self._predict(model, decoded.features)
            request_id = self._remember(model, decoded.id, decoded.features, results)
            outputs = [(name, results[name]) for name in decoded.wanted]
            body, header_length = await self._offload(
                encode_v2_response, self.name, self.version, outputs, request_id, decoded.binary
            )
        headers = {PREDICTION_ID_HEADER: request_id}
        if header_length is None:
            return web.Response(body=body, content_type=JSON_TYPE, headers=headers)
        headers[HEADER_LENGTH] = str(header_length)
        return web.Response(body=body, content_type="application/octet-stream", headers=headers)

    def _remember(
        self, model: LoadedModel, request_id: str | None, features: np.ndarray, results: dict[str, np.ndarray]
    ) -> str:
        """Count the batch in the metrics and keep its rows for late labels; returns the request's id.

        The id is the client's (V2 ``id``) or a new one; rows of a multi-row request are ``<id>:<row>``.
        """
        scores = model.scores(results)
        predicted = results.get(PREDICT)
        self.metrics.observe_batch(features, scores, predicted)
        request_id = request_id or self.predictions.new_id()
        if self.predictions.capacity:
            rows = features.shape[0]
            try:  # the label store is an aid: it must never turn an answered prediction into a 500
                classes = self.label_kind.predicted_indices(predicted)
                self.predictions.add(
                    row_ids(request_id, rows),
                    classes if classes is not None and classes.size == rows else None,  # multi-output: no class
                    scores if scores is not None and scores.size == rows else None,
                )
            except Exception:
                log.exception("could not keep request %r for late labels", request_id)
        return request_id

    async def v1_model(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name != self.name:
            raise HttpError(404, f"model {name!r} not found; this server serves {self.name!r}")
        return _json({"name": self.name, "ready": self.model is not None}, 200 if self.model is not None else 503)

    async def v1_predict(self, request: web.Request) -> web.Response:
        model = self._require(request.match_info["name"], None)
        async with self._slots:
            features = await self._offload(self._decode_v1, model, await self._body(request))
            results = await self._predict(model, features)
            request_id = self._remember(model, None, features, results)
            body = await self._offload(encode_v1_response, results[PREDICT], request_id)
        return web.Response(body=body, content_type=JSON_TYPE, headers={PREDICTION_ID_HEADER: request_id})

    async def feedback(self, request: web.Request) -> web.Response:
        """Ground-truth labels for earlier predictions, by id: checked whole (400 naming the field), then joined;
        404 when no id is held here (docs/feedback.md says why some ids may miss and others join)."""
        self._require(request.match_info["name"], request.match_info.get("version"))
        async with self._slots:
            parsed = await self._offload(
                parse_feedback, await self._body(request), self.label_kind, self.config.max_rows
            )
        answer = {"model_name": self.name, "model_version": self.version}
        try:
            result = apply(parsed, self.predictions, self.feedback_stats)
        except NothingHeld as error:  # not one id is held here: 404, with the reason of each and nothing joined
            return _json({"error": str(error), **answer, **error.outcome}, 404)
        return _json({**answer, **result})

    async def prometheus(self, _: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4"})

    @web.middleware
    async def errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The one place errors become responses, and inference requests are counted.

        HTTP errors keep their status (404, 405, 408, 413, ...), malformed requests are 400s, and
        only what escapes as another exception is a 500: the model's or the server's fault. Only
        5xx are model errors for the canary analysis, so a client can never manufacture one.
        """
        started = perf_counter()
        try:
            response = await handler(request)
            status = response.status
        except web.HTTPException as error:
            if error.status < 400:
                raise
            status = error.status
            response = _error(status, error.text or error.reason)
            if "Allow" in error.headers:
                response.headers["Allow"] = error.headers["Allow"]
        except ProtocolError as error:
            status, response = 400, _error(400, str(error))
        except HttpError as error:
            status, response = error.status, _error(error.status, str(error))
        except Exception as error:
            log.exception("%s %s failed", request.method, request.path)
            status, response = 500, _error(500, f"request failed: {type(error).__name__}: {error}")
        if status in (408, 413) and isinstance(response, web.Response):
            response.force_close()  # the rest of the body is never read: the connection cannot be reused
        route = request.match_info.route
        if route.name in INFERENCE_ROUTES:
            self.metrics.observe_request(status, perf_counter() - started)
        return response

    def app(self) -> web.Application:
        """The aiohttp application with every route."""
        # aiohttp's own limit is the backstop for chunked bodies without a Content-Length.
        app = web.Application(client_max_size=self.config.max_request_bytes, middlewares=[self.errors])
        name = "{name:[^/:]+}"
        version = "{version:[^/]+}"
        routes = [
            web.get("/v2/health/live", self.live),
            web.get("/v2/health/ready", self.ready),
            web.get("/v2", self.server_metadata),
            web.get(f"/v2/models/{name}", self.model_metadata),
            web.get(f"/v2/models/{name}/versions/{version}", self.model_metadata),
            web.get(f"/v2/models/{name}/ready", self.model_ready),
            web.get(f"/v2/models/{name}/versions/{version}/ready", self.model_ready),
            web.post(f"/v2/models/{name}/infer", self.infer, name="v2-infer"),
            web.post(f"/v2/models/{name}/versions/{version}/infer", self.infer, name="v2-infer-version"),
            web.post(f"/v2/models/{name}/feedback", self.feedback, name="v2-feedback"),
            web.post(f"/v2/models/{name}/versions/{version}/feedback", self.feedback, name="v2-feedback-version"),
            web.post(f"/v1/models/{name}:predict", self.v1_predict, name="v1-predict"),
            web.get(f"/v1/models/{name}", self.v1_model),
            web.get(self.config.metrics_path, self.prometheus),
        ]
        app.add_routes(routes)
        return app

    def metrics_app(self) -> web.Application:
        """Just the metrics endpoint, for a separate metrics port."""
        app = web.Application()
        app.router.add_get(self.config.metrics_path, self.prometheus)
        return app


def _detached(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``; a ProtocolError comes out without its traceback, whose frames would keep
    the parsed document of a refused request alive while the next one is parsed."""
    message = None
    try:
        return function(*args)
    except ProtocolError as error:
        message = str(error)
    raise ProtocolError(message)


def _input_tensors(model: LoadedModel) -> list[dict[str, Any]]:
    """The inputs of the model's metadata: one ``[-1, 1]`` tensor per feature, in the model's order, when its
    features have names (as MLServer describes a tabular model); else one ``[-1, features]`` matrix.

    Either request form is accepted: named columns (in any order, matched by name) or one matrix whose
    columns follow the order listed here.
    """
    if model.feature_names is not None:
        return [{"name": name, "datatype": "FP64", "shape": [-1, 1]} for name in model.feature_names]
    shape = [-1, model.n_features if model.n_features is not None else -1]
    return [{"name": "input-0", "datatype": "FP64", "shape": shape}]


def _predict_datatype(model: LoadedModel) -> str:
    if model.classes is not None:
        return _V2_DATATYPE.get(np.asarray(model.classes).dtype.kind, "BYTES")
    return "FP64"


TERMINATION_LIMIT = 4096
"""Bytes of a termination message the kubelet keeps."""


def write_termination_message(path: Path, message: str) -> None:
    """The reason the server exits, where the kubelet reads it (trimmed to what it keeps)."""
    data = message.encode()[:TERMINATION_LIMIT]
    try:
        path.write_bytes(data)
    except OSError as error:  # outside a pod there may be no /dev/termination-log
        log.warning("could not write the termination message to %s: %s", path, error)


async def serve(config: ServeConfig) -> int:
    """Listen, load the model in the background and serve until SIGTERM/SIGINT; returns the exit code."""
    from prometheus_client import disable_created_metrics

    disable_created_metrics()  # process-wide; this process serves only the model's metrics
    server = ModelServer(config)
    # keepalive_timeout also closes a connection that has not sent a whole request's headers in time.
    runner = web.AppRunner(
        server.app(),
        access_log=log if config.access_log else None,
        handle_signals=False,
        keepalive_timeout=config.header_timeout,
    )
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    runners = [runner]
    if config.metrics_port is not None and config.metrics_port != config.port:
        metrics_runner = web.AppRunner(
            server.metrics_app(), access_log=None, handle_signals=False, keepalive_timeout=config.header_timeout
        )
        await metrics_runner.setup()
        await web.TCPSite(metrics_runner, config.host, config.metrics_port).start()
        runners.append(metrics_runner)
    log.info(
        "serving model %r version %r (track %s) on http://%s:%s",
        server.name,
        server.version,
        config.track,
        config.host,
        config.port,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    exit_code = 0
    loading = asyncio.create_task(server.load())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({loading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if loading.done() and not loading.result() and config.exit_on_load_failure:
        exit_code = EXIT_LOAD_FAILED
        if config.termination_log is not None:
            write_termination_message(config.termination_log, server.load_error or "Error: the model cannot load")
    else:
        await stopping
    loading.cancel()
    stopping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loading
    log.info("shutting down")
    for each in runners:
        await each.cleanup()
    return exit_code
