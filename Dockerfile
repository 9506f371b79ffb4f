# One image runs the operator (`mlaiops run`), the model server (`mlaiops serve`) and the trainer (`mlaiops train`).
# BASE: any Debian-based Python 3.11 image (`make image` passes one it builds locally, with no registry).
ARG BASE=python:3.11-slim

# The dependency list alone: the stage below is keyed on its content, so a change of code (or of any other
# line of pyproject.toml) reuses the installed dependencies instead of installing 300 MiB again.
FROM ${BASE} AS requirements
COPY pyproject.toml /src/
RUN python -c "import tomllib; print(*tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
      > /requirements.txt

# Only what runs: no pip or setuptools in the venv, no test suites of the dependencies, and not the
# kubernetes client's second, asyncio copy (kubernetes.aio: the operator uses kopf and the synchronous
# client). Bytecode stays: compiled here, it halves every process's start (the root filesystem is
# read-only, so nothing could be cached at run time).
FROM ${BASE} AS dependencies
COPY --from=requirements /requirements.txt /
RUN python -m venv --without-pip /venv \
 && pip --python /venv/bin/python install --no-cache-dir -r /requirements.txt \
 && find /venv -depth -type d -name tests -exec rm -rf {} + \
 && rm -rf /venv/lib/python3.11/site-packages/kubernetes/aio

# The project's wheel on top (no dependency resolution left to do), and its files alone in /overlay: the
# final image's last layer is the project, a few MiB, not a copy of the whole venv.
FROM dependencies AS project
RUN pip install --no-cache-dir --upgrade pip build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python -m build --wheel --outdir /dist . \
 && pip --python /venv/bin/python install --no-cache-dir --no-deps /dist/*.whl \
 && site=lib/python3.11/site-packages \
 && mkdir -p /overlay/venv/bin /overlay/venv/$site \
 && cp -a /venv/bin/mlaiops /venv/bin/kubectl-mlaiops /overlay/venv/bin/ \
 && cp -a /venv/$site/mlaiops /venv/$site/mlaiops-*.dist-info /overlay/venv/$site/

FROM ${BASE}
RUN groupadd --gid 10001 mlaiops && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin mlaiops
COPY --from=dependencies /venv /venv
COPY --from=project /overlay/ /
ENV PATH=/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 10001:10001
ENTRYPOINT ["mlaiops"]
CMD ["run", "--all-namespaces"]
