#!/usr/bin/env bash
# Tests the wheels in dist/ (scripts/build-wheels.sh) as a user gets them: for each CPython, a new
# venv made by that interpreter, with no Rust toolchain reachable, ferrotel installed from its
# wheel (never the sdist) and the test extra from PyPI; then the checkout's tests/ against the
# installed package (tests/conftest.py fails the run if ferrotel is imported from anywhere but
# the venv's site-packages).
#
# The full suite runs on the lowest and the highest version; the others run the wheel_smoke
# subset (`pytest -m wheel_smoke`).
#
# Interpreters as for build-wheels.sh: arguments, else FERROTEL_WHEEL_PYTHONS, else pyenv's
# 3.9-3.13, else python3.x on PATH. The venvs are .wheel-venvs/py3.x (git-ignored), made anew.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

VERSIONS=(3.9 3.10 3.11 3.12 3.13)

find_python() { # find_python 3.x: an interpreter for CPython 3.x, or nothing
    local v=$1 full
    if command -v pyenv >/dev/null; then
        full=$(pyenv versions --bare 2>/dev/null | grep -E "^${v//./\\.}\.[0-9]+$" | sort -t. -k3 -n | tail -1)
        if [ -n "$full" ]; then
            PYENV_VERSION=$full pyenv which python
            return
        fi
    fi
    command -v "python$v" || true
}

PYTHONS=()
if [ $# -gt 0 ]; then
    PYTHONS=("$@")
elif [ -n "${FERROTEL_WHEEL_PYTHONS:-}" ]; then
    read -r -a PYTHONS <<<"$FERROTEL_WHEEL_PYTHONS"
else
    for v in "${VERSIONS[@]}"; do
        p=$(find_python "$v")
        if [ -z "$p" ]; then
            echo "test-wheels: no CPython $v found (pyenv or python$v on PATH); pass interpreters as arguments" >&2
            exit 1
        fi
        PYTHONS+=("$p")
    done
fi

# The interpreters resolved to real paths now: pyenv's shims are not on the stripped PATH.
declare -A VERSION_OF
for python in "${PYTHONS[@]}"; do
    VERSION_OF[$python]=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
done
LOWEST=$(printf '%s\n' "${VERSION_OF[@]}" | sort -V | head -1)
HIGHEST=$(printf '%s\n' "${VERSION_OF[@]}" | sort -V | tail -1)
PROJECT_VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -1)

# PATH without any Rust toolchain: no directory that holds cargo or rustc, no ~/.cargo/bin.
NO_RUST_PATH=""
IFS=: read -r -a entries <<<"$PATH"
for dir in "${entries[@]}"; do
    [ -n "$dir" ] || continue
    case "$dir" in */.cargo/bin | */.rustup/*) continue ;; esac
    if [ -e "$dir/cargo" ] || [ -e "$dir/rustc" ]; then
        continue
    fi
    NO_RUST_PATH="${NO_RUST_PATH:+$NO_RUST_PATH:}$dir"
done
unset CARGO CARGO_HOME CARGO_TARGET_DIR RUSTUP_HOME RUSTUP_TOOLCHAIN RUSTC PYO3_PYTHON PYTHONPATH VIRTUAL_ENV

mkdir -p .wheel-venvs
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
summary=()
status=0
for python in "${PYTHONS[@]}"; do
    version=${VERSION_OF[$python]}
    venv="$REPO/.wheel-venvs/py$version"
    started=$SECONDS
    echo "== CPython $version ($python)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    if (
        export PATH="$venv/bin:$NO_RUST_PATH" VIRTUAL_ENV="$venv"
        export FERROTEL_TEST_INSTALLED_WHEEL=1
        set -x
        if command -v cargo || command -v rustc; then
            echo "a Rust toolchain is still reachable" >&2
            exit 1
        fi
        pip="python -m pip --disable-pip-version-check -q"
        $pip install --upgrade pip
        # ferrotel only from dist/, only as a wheel; then its dependencies and the test extra
        # from PyPI (ferrotel itself is already satisfied)
        $pip install --no-index --find-links "$REPO/dist" --only-binary :all: --no-deps \
            "ferrotel==$PROJECT_VERSION"
        $pip install --find-links "$REPO/dist" --only-binary ferrotel "ferrotel[test]==$PROJECT_VERSION"
        if [ "$version" = 3.9 ]; then
            # the type check for the lowest supported Python, with that Python's releases of the
            # dependencies (pyproject's [tool.mypy] checks for 3.10: see there why)
            (cd "$REPO" && python -m mypy --python-version 3.9 python/ferrotel)
        fi
        cd "$WORK"
        python -c 'import ferrotel, ferrotel._core, sys, sysconfig
site = sysconfig.get_paths()["platlib"]
print("ferrotel", ferrotel.__version__ if hasattr(ferrotel, "__version__") else "", "from", ferrotel.__file__)
sys.exit(not ferrotel.__file__.startswith(site))'
        if [ "$version" = "$LOWEST" ] || [ "$version" = "$HIGHEST" ]; then
            marker=()
        else
            marker=(-m wheel_smoke)
        fi
        python -m pytest -c "$REPO/pyproject.toml" --rootdir "$REPO" -p no:cacheprovider -q \
            "${marker[@]}" "$REPO/tests"
    ); then
        result=passed
    else
        result=FAILED
        status=1
    fi
    summary+=("CPython $version: $result in $((SECONDS - started)) s")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $status
