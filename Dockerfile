# One image runs the operator (`mlaiops run`), the model server (`mlaiops serve`) and the trainer (`mlaiops train`).
FROM python:3.11-slim AS build
RUN pip install --no-cache-dir --upgrade pip build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python -m build --wheel --outdir /dist . \
 && python -m venv /venv \
 && /venv/bin/pip install --no-cache-dir /dist/*.whl

FROM python:3.11-slim
RUN groupadd --gid 10001 mlaiops && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin mlaiops
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 10001:10001
ENTRYPOINT ["mlaiops"]
CMD ["run", "--all-namespaces"]
