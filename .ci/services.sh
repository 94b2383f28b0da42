#!/usr/bin/env bash
# Start the services the tests and the example use, all on 127.0.0.1: a Docker engine without
# a bridge network, an OCI registry on :5000, PostgreSQL on :5432, and a base image made with
# debootstrap (Docker Hub is not reachable). Idempotent.
# Standard output carries only the `export` lines that .ci/test and .ci/example eval; everything
# else (progress, and whatever a tool it runs prints) goes to standard error.
# Those callers read standard output to its end (`$(...)`), so nothing started here may keep it
# open: every daemon is started with fd 3 (the saved standard output) closed. A daemon that kept
# it would make the caller wait for as long as the daemon runs, that is forever.
set -euo pipefail
exec 3>&1 1>&2
cd "$(dirname "$0")/.."
state=${ML_CI_STATE:-/var/tmp/ml-ci-services}
mkdir -p "$state"

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local n=$1 what=$2; shift 2
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "error: $what did not come up; see $state/*.log" >&2; return 1
}

if ! docker info >/dev/null 2>&1; then
  ip link delete docker0 2>/dev/null || true
  setsid dockerd --bridge=none --iptables=false --ip-masq=false \
    --host unix:///var/run/docker.sock >"$state/dockerd.log" 2>&1 < /dev/null 3>&- &
  wait_for 60 "dockerd" docker info
fi

if ! curl -fsS http://127.0.0.1:5000/v2/ >/dev/null 2>&1; then
  cat > "$state/registry.yml" <<YML
version: 0.1
storage: {filesystem: {rootdirectory: $state/registry-data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:5000}
YML
  setsid docker-registry serve "$state/registry.yml" >"$state/registry.log" 2>&1 < /dev/null 3>&- &
  wait_for 30 "registry" curl -fsS http://127.0.0.1:5000/v2/
fi

# ML_CI_PG_BIN: another PostgreSQL installation (tests point it at stand-ins).
pgbin=${ML_CI_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
pgdata="$state/pgdata"
if ! "$pgbin/pg_isready" -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if [ ! -s "$pgdata/PG_VERSION" ]; then
    mkdir -p "$pgdata"; chown postgres: "$pgdata"
    su postgres -c "$pgbin/initdb -D $pgdata -A trust -U postgres" >"$state/initdb.log"
  fi
  chown postgres: "$state"
  su postgres -c "$pgbin/pg_ctl -D $pgdata -l $state/postgres.log -o '-c listen_addresses=127.0.0.1 -p 5432 -k /tmp' -w start" \
    </dev/null >"$state/pg_ctl.log" 2>&1 3>&- || { cat "$state/pg_ctl.log" >&2; exit 1; }
  wait_for 30 "postgres" "$pgbin/pg_isready" -h 127.0.0.1 -p 5432
fi
"$pgbin/psql" -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='mlci'" | grep -q 1 || \
  "$pgbin/createdb" -h 127.0.0.1 -U postgres mlci

base=ml-ci-base:bookworm
# Bump when the recipe below changes: an image made by an older recipe is made again.
recipe=2
if [ "$(docker image inspect -f '{{index .Config.Labels "org.ml-ci.base-recipe"}}' "$base" 2>/dev/null)" != "$recipe" ]; then
  echo "== making base image $base with debootstrap (about a minute)" >&2
  rootfs="$state/rootfs"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" http://deb.debian.org/debian >"$state/debootstrap.log" 2>&1
  # pip inside `docker build` needs this machine's CA bundle to reach the package index.
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  # pip config of the host (index and constraints) so that builds use the same registry.
  if [ -d /etc/xdg/pip ]; then mkdir -p "$rootfs/etc/xdg"; cp -r /etc/xdg/pip "$rootfs/etc/xdg/"; fi
  [ -f /etc/pip.conf ] && cp /etc/pip.conf "$rootfs/etc/pip.conf"
  # Slim as Debian's own -slim images are (debuerreotype's slimify): no package caches or lists,
  # no docs but copyright, no man pages or translations, now and for any later apt-get in a build.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/ml-ci-slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
DPKG
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/groff/* \
    "$rootfs"/usr/share/info/* "$rootfs"/usr/share/lintian/* "$rootfs"/usr/share/linda/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/man/*
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  # Debian marks its Python "externally managed"; images install into their own venv anyway.
  tar -C "$rootfs" -c . | docker import --change "LABEL org.ml-ci.base-recipe=$recipe" - "$base" >/dev/null
  rm -rf "$rootfs"
fi

cat >&3 <<VARS
export ML_CI_TEST_REGISTRY=127.0.0.1:5000
export ML_CI_TEST_BASE_IMAGE=$base
export ML_CI_TEST_POSTGRES=postgresql://postgres@127.0.0.1:5432/mlci
VARS
