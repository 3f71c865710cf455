# The servebench image: every tool (sb-sample sb-load sb-report sb-scrape sb-deploy sb-sim, and
# any other sb-* binary of the workspace) on Debian bookworm, run as a non-root user, with
# /bin/sh (the load Job's command) and CA certificates (https servers). No compiler.
#
#   docker build -t servebench:0.1.0 .                       # compiles inside Docker (the default)
#   make -C pipelines image IMAGE=servebench:0.1.0           # the same file, from binaries built
#                                                            # on this machine, no registry needed
#
# Two ways to the same final layers, in one file:
#   - the last stage, `image` (the default target): `build` compiles the release binaries in
#     the Rust image, `image` copies them onto the runtime base.
#   - `--target prebuilt`: the runtime base plus `bin/` of the build context, binaries built
#     outside (pipelines/image.sh stages `bin/` from target/release or SB_BIN). It comes before
#     `build` in this file, so Docker's classic builder, which runs every stage up to the
#     target, never starts a compile for it.
# Where no registry can be reached, pipelines/image.sh first makes BASE_IMAGE locally
# (debootstrap --variant=minbase, docker import under the same name).
#
# Labels: VERSION (the crate version; tests/containers.rs checks this default matches
# Cargo.toml), REVISION (git commit), SOURCE (repository URL); pipelines/image.sh passes them.

ARG BASE_IMAGE=debian:bookworm-slim
ARG RUST_IMAGE=rust:1.95-slim-bookworm

# ---- the runtime base: what every variant of the image holds besides the tools ----
FROM ${BASE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=
LABEL org.opencontainers.image.title="servebench" \
      org.opencontainers.image.description="Benchmark LLM serving stacks end to end: sb-sample, sb-load, sb-report, sb-scrape, sb-deploy, sb-sim" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
# debian:bookworm-slim has no CA certificates; the locally prepared base already has them (apt
# cannot reach a mirror from every build). The user has a fixed uid so a pod's securityContext
# (runAsNonRoot) and volume permissions can name it.
RUN set -eu; \
    if [ ! -s /etc/ssl/certs/ca-certificates.crt ]; then \
      apt-get update; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    groupadd --system --gid 10001 servebench; \
    useradd --system --uid 10001 --gid servebench --create-home --home-dir /home/servebench \
      --shell /usr/sbin/nologin servebench
ENV HF_HOME=/home/servebench/.cache/huggingface
WORKDIR /home/servebench
USER 10001:10001
CMD ["sb-load", "--help"]

# ---- binaries built outside Docker (pipelines/image.sh) ----
FROM runtime AS prebuilt
COPY bin/ /usr/local/bin/
RUN sb-load --version

# ---- the compile: release binaries of the whole workspace ----
FROM ${RUST_IMAGE} AS build
# ring (TLS) compiles a little C, and the binaries lose their debug line tables (80% of their
# size) to strip: the slim Rust images have gcc and binutils, other bases may not.
RUN command -v cc >/dev/null && command -v strip >/dev/null || \
    { apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev binutils; }
WORKDIR /src
COPY . .
RUN set -eu; \
    cargo build --release --locked --workspace --bins; \
    mkdir -p /out/bin; \
    for f in target/release/sb-*; do \
      if [ -f "$f" ] && [ -x "$f" ]; then strip --strip-debug -o "/out/bin/${f##*/}" "$f"; fi; \
    done; \
    script=pipelines/llm-d/servebench-llm-d-benchmark.sh; \
    if [ -f "$script" ]; then install -m 0755 "$script" /out/bin/; fi; \
    ls -l /out/bin

# ---- the default target: the compiled tools on the runtime base ----
FROM runtime AS image
COPY --from=build /out/bin/ /usr/local/bin/
RUN sb-load --version
