#!/usr/bin/env bash
# Installs graphbot into ./.venv, with the Debian packages it needs.
# With --test it also installs what the test suite runs for real: Docker Engine,
# busybox (the tiny image the tests import), openssl and Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

# openssh-client serves hosts given as ssh://user@host.
packages=(graphviz fonts-dejavu-core python3-venv python3-pip openssh-client)
extra=""
if [ "${1:-}" = "--test" ]; then
    packages+=(busybox-static openssl iproute2 chromium ca-certificates)
    # Docker CE (docker-ce) conflicts with Debian's docker.io; either will do.
    command -v dockerd >/dev/null || packages+=(docker.io)
    extra="[test]"
fi

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "graphbot needs Python 3.11 or newer; python3 here is older" \
         "(Debian 12 has 3.11)." >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check --editable ".${extra}"
echo "graphbot is installed in .venv; run .venv/bin/graphbot --help"
