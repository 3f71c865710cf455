#!/usr/bin/env bash
# image: the servebench container image from the repository's Dockerfile, with or without a
# registry to pull from.
#   1. The base (BASE_IMAGE, debian:bookworm-slim): used when the engine has it, else pulled,
#      else made here: `debootstrap --variant=minbase` of Debian bookworm (with ca-certificates)
#      from DEBIAN_MIRROR, trimmed as the slim image is, `docker import`ed under BASE_IMAGE so the
#      Dockerfile's FROM finds it. The root file system is cached as target/image/*.tar.
#   2. The tools. By default the binaries of this machine: SB_BIN, or `cargo build --release
#      --workspace --bins` first, staged in target/image/context/bin/ and copied in by the
#      Dockerfile's `prebuilt` target (no Rust image needed, no second compile). With
#      FROM_SOURCE=1 they are compiled inside Docker (the default target; needs RUST_IMAGE).
#   3. A check that the image runs: `docker run --rm IMAGE sb-load --version`.
#
# Variables: IMAGE (servebench:<crate version>), SB_BIN, FROM_SOURCE=1, STRIP=0 (keep the
# binaries' debug line tables), BASE_IMAGE, RUST_IMAGE,
# DEBIAN_SUITE (bookworm), DEBIAN_MIRROR (http://deb.debian.org/debian), SOURCE (the
# org.opencontainers.image.source label; default: the git remote).
# `image.sh base` does step 1 only (CI's setup prepares the base with it).
TARGET=image
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

VERSION=$SB_VERSION
[ -n "$VERSION" ] || die "no version = \"...\" in $ROOT/Cargo.toml"
IMAGE=${IMAGE:-servebench:$VERSION}
BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
RUST_IMAGE=${RUST_IMAGE:-rust:1.95-slim-bookworm}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
FROM_SOURCE=${FROM_SOURCE:-0}
STRIP=${STRIP:-1}
CACHE=$ROOT/target/image
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

need_cmd docker
docker info >/dev/null 2>&1 || die "'docker info' failed: is the Docker daemon running, and may this user use it?"

have_image() { docker image inspect "$1" >/dev/null 2>&1; }
elapsed() { echo "$((SECONDS - $1)) s"; }

# Step 1: the base image.
prepare_base() {
  if have_image "$BASE_IMAGE"; then
    log "base $BASE_IMAGE: present"
    return
  fi
  if docker pull -q "$BASE_IMAGE" >/dev/null 2>"$TMP/pull.err"; then
    log "base $BASE_IMAGE: pulled"
    return
  fi
  log "base $BASE_IMAGE: cannot be pulled ($(tail -n 1 "$TMP/pull.err")); making it with debootstrap"
  local tar=$CACHE/debian-$DEBIAN_SUITE-minbase.tar
  if [ -s "$tar" ]; then
    log "root file system from the cache: ${tar#"$ROOT"/}"
  else
    command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] ||
      die "debootstrap is needed to make the base without a registry (apt-get install debootstrap; .ci/setup does)"
    mkdir -p "$CACHE"
    local rootfs=$CACHE/rootfs-$$ t0=$SECONDS
    # debootstrap needs root; the cleanup removes a half-made tree.
    PARTIAL_ROOTFS=$rootfs
    log "debootstrap --variant=minbase $DEBIAN_SUITE from $DEBIAN_MIRROR (a minute or two)"
    $SUDO env PATH="$PATH:/usr/sbin:/sbin" debootstrap --variant=minbase --include=ca-certificates \
      "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$TMP/debootstrap.log" 2>&1 || {
      tail -n 20 "$TMP/debootstrap.log" >&2
      $SUDO rm -rf "$rootfs"
      die "debootstrap failed (log above); DEBIAN_MIRROR=$DEBIAN_MIRROR"
    }
    # What the slim image leaves out: package caches and lists, documentation but the
    # copyright files, manual pages, translations.
    $SUDO sh -c "cd '$rootfs' && rm -rf var/cache/apt/archives/*.deb var/cache/apt/*.bin var/lib/apt/lists/* \
      usr/share/man/* usr/share/info/* var/log/*.log var/log/apt/* var/cache/debconf/*-old \
      && find usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + \
      && find usr/share/doc -type f ! -name copyright -delete"
    $SUDO tar --numeric-owner -C "$rootfs" --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' \
      -cf "$tar.tmp" .
    $SUDO chown "$(id -u):$(id -g)" "$tar.tmp"
    mv "$tar.tmp" "$tar"
    $SUDO rm -rf "$rootfs"
    PARTIAL_ROOTFS=""
    log "root file system made in $(elapsed "$t0"): ${tar#"$ROOT"/} ($(du -h "$tar" | cut -f1))"
  fi
  docker import --change 'CMD ["bash"]' \
    --message "debootstrap --variant=minbase --include=ca-certificates $DEBIAN_SUITE (servebench pipelines/image.sh)" \
    "$tar" "$BASE_IMAGE" >/dev/null
  log "base $BASE_IMAGE: imported"
}

PARTIAL_ROOTFS=""
ctx=""
remove_partial() {
  [ -z "$PARTIAL_ROOTFS" ] || $SUDO rm -rf "$PARTIAL_ROOTFS"
  [ -z "$ctx" ] || rm -rf "$ctx"
}
ON_EXIT=remove_partial

t_all=$SECONDS
prepare_base
if [ "${1:-}" = base ]; then exit 0; fi

revision=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$revision" != unknown ] && [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  revision="$revision-dirty"
fi
SOURCE=${SOURCE:-$(git -C "$ROOT" remote get-url origin 2>/dev/null || true)}
build_args=(--build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "VERSION=$VERSION" --build-arg "REVISION=$revision"
  --build-arg "SOURCE=$SOURCE")

t0=$SECONDS
if [ "$FROM_SOURCE" = 1 ]; then
  have_image "$RUST_IMAGE" || docker pull -q "$RUST_IMAGE" >/dev/null ||
    die "RUST_IMAGE=$RUST_IMAGE is neither present nor pullable: leave FROM_SOURCE unset to copy in binaries built here"
  log "docker build $IMAGE: compiling inside Docker ($RUST_IMAGE; several minutes)"
  docker build -f "$ROOT/Dockerfile" "${build_args[@]}" --build-arg "RUST_IMAGE=$RUST_IMAGE" -t "$IMAGE" "$ROOT" >&2
else
  if [ -n "${SB_BIN:-}" ]; then
    case $SB_BIN in /*) ;; *) SB_BIN="$ROOT/$SB_BIN" ;; esac
  else
    log "building every tool (cargo build --release --workspace --bins; SB_BIN=dir to use built ones)"
    (cd "$ROOT" && cargo build --release --workspace --bins) || die "cargo build failed"
    SB_BIN=$ROOT/target/release
  fi
  # This build's own context (next to the binaries, so they are hard-linked, not copied).
  ctx=$CACHE/context.$$
  rm -rf "$ctx"
  mkdir -p "$ctx/bin"
  # Every tool the workspace builds (sb-*, no dep-info files), and llm-d-benchmark's harness
  # entry script when the repository has it.
  tools=()
  for f in "$SB_BIN"/sb-*; do
    case ${f##*/} in *.*) continue ;; esac
    [ -f "$f" ] && [ -x "$f" ] || continue
    # The line tables of a release build are 80% of its size: left out unless STRIP=0.
    if [ "$STRIP" != 0 ] && command -v strip >/dev/null; then
      strip --strip-debug -o "$ctx/bin/${f##*/}" "$f"
    else
      ln -f "$f" "$ctx/bin/" 2>/dev/null || cp "$f" "$ctx/bin/"
    fi
    tools+=("${f##*/}")
  done
  [ -x "$ctx/bin/sb-load" ] || die "no sb-load in $SB_BIN (cargo build --workspace --bins)"
  harness=$ROOT/pipelines/llm-d/servebench-llm-d-benchmark.sh
  if [ -f "$harness" ]; then
    install -m 0755 "$harness" "$ctx/bin/"
    tools+=("${harness##*/}")
  fi
  t0=$SECONDS
  log "docker build $IMAGE: ${tools[*]} from ${SB_BIN#"$ROOT"/} on $BASE_IMAGE"
  docker build -f "$ROOT/Dockerfile" --target prebuilt "${build_args[@]}" -t "$IMAGE" "$ctx" >"$TMP/build.log" 2>&1 || {
    tail -n 30 "$TMP/build.log" >&2
    die "docker build failed (log above)"
  }
fi
build_s=$((SECONDS - t0))

# Step 3: the image runs (a binary built on a newer glibc than the base's fails here).
version=$(docker run --rm "$IMAGE" sb-load --version 2>&1) ||
  die "the image does not run sb-load: $version (binaries built on a newer system than $BASE_IMAGE? try FROM_SOURCE=1)"
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
log "built $IMAGE: docker build ${build_s} s ($((SECONDS - t_all)) s in all): $version, $((size / 1000000)) MB"
echo "$IMAGE"
