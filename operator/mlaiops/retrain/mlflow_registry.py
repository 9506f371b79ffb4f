"""The operator's side of MLflow: register each candidate as a model version and move the aliases.

mlflow is imported lazily (the ``mlflow`` extra), so the operator runs without it. Any MLflow
failure is reported in the MLflowSynced condition and an Event and retried on the next pass;
it never holds up training, the gate or promotion.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Protocol

from mlaiops.api.retrainpolicy import MlflowSpec, MlflowStatus, RetrainPolicyStatus, RunRecord
from mlaiops.retrain import mlflow_lineage as lineage

Event = tuple[str, str, str]


class MlflowRegistryError(Exception):
    """MLflow is missing, unreachable or refused a request; the message says which."""


class RegistryClient(Protocol):
    """What sync needs from a Model Registry."""

    def ensure_model(self, name: str) -> None: ...

    def register(self, name: str, run: RunRecord, tags: dict[str, str]) -> str: ...

    def set_alias(self, name: str, alias: str, version: str) -> None: ...


class Registry:
    """A Model Registry client for one tracking server, with short timeouts (it runs inside a handler)."""

    def __init__(self, tracking_uri: str) -> None:
        for name, value in lineage.OPERATOR_CLIENT_ENV.items():
            os.environ.setdefault(name, value)  # read by mlflow per request; an operator's own setting wins
        try:
            from mlflow import MlflowClient
        except ImportError:
            raise MlflowRegistryError("the mlflow package is not installed; install mlaiops[mlflow]") from None
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def _call(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return function(*args, **kwargs)
        except MlflowException as error:
            raise MlflowRegistryError(f"{what}: {error.message}") from None
        except Exception as error:  # requests' connection errors and timeouts
            raise MlflowRegistryError(f"{what}: {type(error).__name__}: {error}") from None

    def ensure_model(self, name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(name, description="Candidates of an mlaiops RetrainPolicy.")
        except MlflowException as error:
            if error.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise MlflowRegistryError(f"creating registered model {name}: {error.message}") from None
        except Exception as error:
            raise MlflowRegistryError(f"creating registered model {name}: {type(error).__name__}: {error}") from None

    def register(self, name: str, run: RunRecord, tags: dict[str, str]) -> str:
        """The version of ``name`` for the run's logged model; an existing one is reused (restart-safe)."""
        assert run.mlflow is not None and run.mlflow.model_uri and run.mlflow.run_id
        existing = self._call(
            f"looking up versions of run {run.mlflow.run_id}",
            self.client.search_model_versions,
            f"run_id='{run.mlflow.run_id}'",
        )
        for version in existing:
            if version.name == name:
                return str(version.version)
        model_uri = run.mlflow.model_uri
        model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
        created = self._call(
            f"registering {model_uri} as a version of {name}",
            self.client.create_model_version,
            name,
            model_uri,
            run_id=run.mlflow.run_id,
            tags=tags,
            description=run.decision or None,
            await_creation_for=0,
            model_id=model_id,
        )
        return str(created.version)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._call(
            f"moving alias {alias} of {name} to version {version}",
            self.client.set_registered_model_alias,
            name,
            alias,
            version,
        )


def version_tags(run: RunRecord, namespace: str, policy: str) -> dict[str, str]:
    """What links a version to the artifact a ModelDeployment serves."""
    tags = lineage.run_tags(namespace, policy, run.id)
    if run.model_uri:
        tags["mlaiops.dev/model-uri"] = run.model_uri
    if run.model_sha256:
        tags["mlaiops.dev/sha256"] = run.model_sha256
    return tags


def sync(
    spec: MlflowSpec,
    status: RetrainPolicyStatus,
    namespace: str,
    policy: str,
    now: datetime,
    generation: int,
    registry: RegistryClient | None = None,
) -> list[Event]:
    """Register finished candidates, point ``challenger`` at the newest and ``champion`` at the promoted one."""
    name = lineage.registered_model_name(spec, policy)
    if status.mlflow is None or status.mlflow.registered_model != name:
        status.mlflow = MlflowStatus(registered_model=name)
    events: list[Event] = []
    pending = lineage.pending_registrations(status)
    champion = lineage.champion_version(status)
    challenger = lineage.challenger_version(status)
    failure: str | None = None
    needs_registry = pending or (champion and champion != status.mlflow.champion_version)
    try:
        if needs_registry or (challenger and challenger != status.mlflow.challenger_version):
            registry = registry or Registry(spec.tracking_uri)
            if pending:
                registry.ensure_model(name)
            for run in pending:
                assert run.mlflow is not None
                run.mlflow.model_version = registry.register(name, run, version_tags(run, namespace, policy))
                events.append(
                    (
                        "Normal",
                        "MLflowRegistered",
                        f"run {run.id} registered as version {run.mlflow.model_version} of {name}",
                    )
                )
            champion, challenger = lineage.champion_version(status), lineage.challenger_version(status)
            if challenger and challenger != status.mlflow.challenger_version:
                registry.set_alias(name, lineage.CHALLENGER_ALIAS, challenger)
                status.mlflow.challenger_version = challenger
            if champion and champion != status.mlflow.champion_version:
                registry.set_alias(name, lineage.CHAMPION_ALIAS, champion)
                status.mlflow.champion_version = champion
                events.append(("Normal", "MLflowChampion", f"alias champion of {name} moved to version {champion}"))
    except MlflowRegistryError as error:
        failure = f"MLflow registry at {spec.tracking_uri}: {error}"
    if status.promoted is not None and champion:
        status.promoted.mlflow_model_version = champion
    problem = failure or lineage.logging_problem(status)
    if problem is None:
        where = (
            f"champion is version {status.mlflow.champion_version}"
            if status.mlflow.champion_version
            else "no champion yet"
        )
        change = lineage.set_condition(status, True, "Synced", f"{name}: {where}", now, generation)
        if change.became_true:
            events.append(("Normal", "MLflowSynced", f"MLflow is in step again: {name}: {where}"))
    else:
        reason = "RegistryFailed" if failure else "LoggingFailed"
        change = lineage.set_condition(status, False, reason, problem, now, generation)
        if change.became_false:
            events.append(("Warning", "MLflowFailed", problem))
    return events
