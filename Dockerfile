# syntax=docker/dockerfile:1
# The Elbatt backend as a container image (linux/amd64: Scaleway Serverless Containers, Jobs,
# Kubernetes).
#
#   docker build --platform linux/amd64 -t elbatt-api .
#       every function on one port: `local-dev` on 0.0.0.0:8000 (the `elbatt-api` container)
#   docker build --platform linux/amd64 --build-arg FUNCTION=plate-lookup -t elbatt-plate-lookup .
#       one function alone on 0.0.0.0:$PORT (default 8080); plate-lookup's image is also the
#       plate batch job (`PLATE=EH91427`, see docs/deployment.md#batch-jobs-scaleway-jobs)
#
# Both honour $PORT, which Scaleway sets to the container's configured port. The image holds the
# one binary, CA certificates and a non-root user (uid 10001), nothing else.
# scripts/test-dockerfile.sh checks this file statically (no Docker engine in CI).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm
# Base images are pinned by digest: a tag moves, a digest names one image. Each *_DIGEST is
# `@sha256:<digest of the multi-arch index>` (`docker buildx imagetools inspect <image:tag>`), or
# empty for the tag alone. The digest wins over the tag, so change the two together: the comment
# above each digest names the tag it belongs to (scripts/tests/check_dockerfile.py checks it).
#
# rust:1.95-slim-bookworm: the index digest published for this tag in several independent public
# Dockerfiles; it could not be checked against Docker Hub here.
ARG RUST_DIGEST=@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082
# debian:bookworm-slim: unpinned: no digest of it could be checked against the registry when the
# pins were added (the tag is rebuilt often), so the tag alone is the fallback. Pin it with
# `--build-arg DEBIAN_DIGEST=@sha256:…`, and record the digest here once checked.
ARG DEBIAN_DIGEST=

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE}${RUST_DIGEST} AS builder
# Empty: the all-in-one server (local-dev). Else a name in functions/list.txt.
ARG FUNCTION=
WORKDIR /src
COPY . .
# The cache mounts keep the registry and compiled dependencies between local builds; the
# binary is copied out of them in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    set -eu; \
    bin="${FUNCTION:-local-dev}"; \
    if [ -n "${FUNCTION}" ] && ! grep -q "^${FUNCTION} " functions/list.txt; then \
      echo "FUNCTION must be empty or a name in functions/list.txt, not '${FUNCTION}'" >&2; exit 1; \
    fi; \
    cargo build --release --locked -p "$bin" --bin "$bin"; \
    install -D -m 0755 "target/release/$bin" "/out/usr/local/bin/$bin"; \
    ln -s "$bin" /out/usr/local/bin/elbatt

FROM debian:${DEBIAN_RELEASE}-slim${DEBIAN_DIGEST} AS runtime
ARG FUNCTION=
# CA certificates for the HTTPS upstreams (Statens vegvesen, the LLM provider); nothing else.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 elbatt \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin elbatt
COPY --from=builder /out/ /
LABEL org.opencontainers.image.title="elbatt-${FUNCTION:-api}" \
      org.opencontainers.image.source="elbatt-chatbot backend" \
      org.opencontainers.image.licenses="MIT"
# HOST only: the port stays each binary's default (8000 for local-dev, 8080 for a single
# function) unless the platform sets PORT. LOG_FORMAT=json: flat JSON lines for Cockpit/Loki.
# DATABASE_PATH: the SQLite store on the /data volume (k8s/app.yaml); set DATABASE_URL for
# PostgreSQL, or STORE=memory where no disk persists (docs/state.md).
ENV HOST=0.0.0.0 \
    LOG_FORMAT=json \
    RUST_LOG=info \
    DATABASE_PATH=/data/elbatt.db
WORKDIR /
USER 10001:10001
EXPOSE 8000
# `elbatt` links to the binary built above: `local-dev` (then: local-dev on 0.0.0.0:8000, the
# same as `local-dev --host 0.0.0.0 --port 8000` while PORT is unset) or the single function.
CMD ["/usr/local/bin/elbatt"]
