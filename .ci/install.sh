#!/usr/bin/env bash
# Install what ml-ci's pipeline and tests need on a fresh Debian 12 machine (root):
# system packages and a virtual environment at .venv with ml-ci[dev] in it. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v dockerd >/dev/null || need_apt+=(docker.io)
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
command -v shellcheck >/dev/null || need_apt+=(shellcheck)
command -v node >/dev/null || need_apt+=(nodejs)  # act runs the node stand-ins of tests/actstandins
command -v git >/dev/null || need_apt+=(git)
[ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.ml-ci-install
# The cpu lock (the torch jobs') and the build lock (serve, deploy, supply: the rest of what the tests run); their
# shared packages carry the same pins and hashes (tests/unit/lock/test_published.py holds them to it).
locks=(actions/setup/locks/cpu.txt actions/setup/locks/build.txt)
want="$(cat pyproject.toml "${locks[@]}" | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== pip install the locked environment (ml-ci's cpu and build locks, hashes checked), then -e .[dev]"
  .venv/bin/python -m pip install -q --upgrade pip
  # The same lock the generated workflows' CPU jobs install (torch's CPU build, 2.13.0+cpu, pinned by hash; pip
  # finds it on this disk), so that CI tests the versions users get and the act jobs find them installed.
  for lock in "${locks[@]}"; do
    .venv/bin/python -m pip install -q --require-hashes --no-deps -r "$lock"
  done
  # The dev tools on top, held to the lock's versions (a constraints file carries no hashes).
  constraints="$(mktemp)"
  sed -e 's/ *\\$//' -e '/^ *--hash/d' "${locks[@]}" > "$constraints"
  .venv/bin/python -m pip install -q -e ".[dev]" -c "$constraints"
  rm -f "$constraints"
  .venv/bin/python -m pip check
  echo "$want" > "$stamp"
fi
