#!/usr/bin/env bash
# Installs moto's S3-compatible server (`moto_server`, from PyPI, every package pinned by
# scripts/moto-requirements.txt) into a venv of its own and prints the program's path: the
# value for JEKCMS_TEST_S3, which turns the S3 leg of the tests on. Fails if it cannot.
#   JEKCMS_TEST_S3=$(scripts/moto.sh) cargo test --workspace
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

version=5.2.5
venv=${MOTO_VENV:-$root/.ci/.venv-moto}

. scripts/lib/real-server.sh
pinned_venv "$venv" "$root/scripts/moto-requirements.txt" >&2
[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))')" = "$version" ] \
  || { echo "scripts/moto-requirements.txt does not pin moto $version" >&2; exit 1; }
[ -x "$venv/bin/moto_server" ] || { echo "$venv/bin/moto_server is missing" >&2; exit 1; }
echo "$venv/bin/moto_server"
