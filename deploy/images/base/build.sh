#!/usr/bin/env bash
# The local Debian base image: what `make images` builds on when no registry image can be pulled
# (this machine, an air-gapped CI runner). mmdebstrap assembles Debian bookworm from Debian's
# own packages, `podman import` turns the tarball into an image.
#
# It holds what python:3.11-slim-bookworm gives the Containerfiles on a machine with Docker
# (Debian's python3 is 3.11 in bookworm, with venv and pip, plus ca-certificates), so one
# Containerfile serves both bases: each image's own packages (git, tini, nodejs for the build
# stage, ...) are apt-get installed by its Containerfile, as they would be on the public base.
# Keeping python3 here rather than in each Containerfile means both images share the layer.
#
# Idempotent: the image carries a label with the hash of this script (its package list, suite
# and mirrors are all in here); when the tagged image exists with that label the build is
# skipped. Usage: build.sh [IMAGE] [--force]
set -euo pipefail

IMAGE=${1:-localhost/gastown/debian-base:bookworm}
FORCE=${2:-}
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
SECURITY=http://deb.debian.org/debian-security
PACKAGES=python3,python3-venv,ca-certificates
LABEL=io.gastown.base.inputs

die() { echo "base image: $*" >&2; exit 1; }

command -v podman >/dev/null || die "podman is missing: run 'make container-tools' (as root)"
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: run 'make container-tools' (as root)"

inputs=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
if [ "$FORCE" != --force ] && podman image exists "$IMAGE"; then
  have=$(podman image inspect --format "{{index .Labels \"$LABEL\"}}" "$IMAGE")
  if [ "$have" = "$inputs" ]; then
    echo "base image: $IMAGE is up to date"
    exit 0
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# minbase: Essential packages and apt only; no Recommends (mmdebstrap's default). Documentation,
# man pages and translations are left out, as in Debian's slim images; the exclusions stay in
# /etc/dpkg/dpkg.cfg.d, so packages the Containerfiles add are slim too. mmdebstrap removes the
# apt lists itself.
mmdebstrap --variant=minbase --include="$PACKAGES" \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --customize-hook='rm -f "$1"/var/cache/ldconfig/aux-cache "$1"/var/log/dpkg.log "$1"/var/log/apt/*.log' \
  "$SUITE" "$work/base.tar" \
  "deb $MIRROR $SUITE main" \
  "deb $MIRROR $SUITE-updates main" \
  "deb $SECURITY $SUITE-security main"

podman import --quiet \
  --change "LABEL $LABEL=$inputs" \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  "$work/base.tar" "$IMAGE" >/dev/null
echo "base image: built $IMAGE ($(podman image inspect --format '{{.Id}}' "$IMAGE" | cut -c1-12))"
