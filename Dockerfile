# One image runs the operator (`mlaiops run`), the model server (`mlaiops serve`) and the trainer (`mlaiops train`).
# BASE: any Debian-based Python 3.11 image (`make image` passes one it builds locally, with no registry).
ARG BASE=python:3.11-slim
FROM ${BASE} AS build
RUN pip install --no-cache-dir --upgrade pip build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
# Only what runs: no pip or setuptools in the venv, no test suites of the dependencies, and not the
# kubernetes client's second, asyncio copy (kubernetes.aio: the operator uses kopf and the synchronous
# client). Bytecode stays: compiled here, it halves every process's start (the root filesystem is
# read-only, so nothing could be cached at run time).
RUN python -m build --wheel --outdir /dist . \
 && python -m venv --without-pip /venv \
 && pip --python /venv/bin/python install --no-cache-dir /dist/*.whl \
 && find /venv -depth -type d -name tests -exec rm -rf {} + \
 && rm -rf /venv/lib/python3.11/site-packages/kubernetes/aio

FROM ${BASE}
RUN groupadd --gid 10001 mlaiops && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin mlaiops
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 10001:10001
ENTRYPOINT ["mlaiops"]
CMD ["run", "--all-namespaces"]
