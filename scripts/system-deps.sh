#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (PostgreSQL server, Chromium) when they are missing.
# Idempotent. Without root or apt-get it installs nothing and says so; the tests that need a missing
# package then skip naming it (and fail under CI=true).
set -uo pipefail

PACKAGES=(postgresql chromium)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: system packages missing (${missing[*]}); run as root with apt-get to install them:" >&2
  echo "      apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 0
fi

echo "installing system packages for the tests: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
  apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || echo "note: could not install ${missing[*]}; the tests that need them will skip (fail under CI)" >&2
fi
exit 0
