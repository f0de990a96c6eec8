#!/usr/bin/env bash
# Installs everything the tests need into the project venv .venv/ (made with ${PYTHON:-python3}
# if it is not there yet), builds ferrotel (release) into it, and runs every check: rustfmt,
# clippy, cargo test, ruff, mypy, the pytest suite and a smoke run of the benchmarks; then builds
# the release wheels (scripts/build-wheels.sh) and tests them installed, without Rust
# (scripts/test-wheels.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
fi
PYTHON=$PWD/.venv/bin/python
export VIRTUAL_ENV=$PWD/.venv PATH="$PWD/.venv/bin:$PATH"

# A real Prometheus, promtool and Pushgateway from Debian, for the integration tests.
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null \
    || ! command -v prometheus-pushgateway >/dev/null; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
        prometheus prometheus-pushgateway
fi

# Test dependencies, and ferrotel itself built by maturin in release mode.
"$PYTHON" -m pip install -q --upgrade pip
"$PYTHON" -m pip install -q -e ".[test]"

echo "== cargo fmt / clippy / test"
cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test -q

echo "== ruff / mypy"
"$PYTHON" -m ruff check python tests benches
"$PYTHON" -m ruff format --check python tests benches
"$PYTHON" -m mypy python/ferrotel
"$PYTHON" -m mypy.stubtest ferrotel._core --allowlist stubtest-allowlist.txt

echo "== benchmarks (each case once, as a smoke test; timings come from 'python -m ferrotel bench')"
"$PYTHON" -m pytest benches -q -p no:cacheprovider --benchmark-disable

echo "== pytest"
"$PYTHON" -m pytest tests

echo "== wheels: build (CPython 3.9-3.13, manylinux2014) and test installed, without Rust"
bash scripts/build-wheels.sh
bash scripts/test-wheels.sh
