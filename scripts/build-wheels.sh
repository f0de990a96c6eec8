#!/usr/bin/env bash
# Builds ferrotel's release wheels for CPython 3.9-3.13 on Linux x86_64, tagged manylinux_2_17
# (manylinux2014) by linking through zig, and the sdist, into dist/. Then checks each wheel:
# `auditwheel show` must agree with its tag, and the type stubs must be in it.
#
# Interpreters, first that applies:
#   scripts/build-wheels.sh /path/to/python3.9 /path/to/python3.10 ...
#   FERROTEL_WHEEL_PYTHONS="/path/to/python3.9 /path/to/python3.10 ..." scripts/build-wheels.sh
#   otherwise pyenv's 3.9-3.13 (`PYENV_VERSION=3.x pyenv which python`), else python3.x on PATH.
#
# The build tools (maturin, ziglang, auditwheel) go into a venv, .wheel-venvs/build (git-ignored),
# made by BUILD_PYTHON (default python3). Each wheel is a fat-LTO release build: 2-3 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSIONS=(3.9 3.10 3.11 3.12 3.13)

find_python() { # find_python 3.x: an interpreter for CPython 3.x, or nothing
    local v=$1 full
    if command -v pyenv >/dev/null; then
        # the newest installed 3.x.y
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
            echo "build-wheels: no CPython $v found (pyenv or python$v on PATH); pass interpreters as arguments" >&2
            exit 1
        fi
        PYTHONS+=("$p")
    done
fi

BUILD_VENV=.wheel-venvs/build
if [ ! -x "$BUILD_VENV/bin/python" ]; then
    "${BUILD_PYTHON:-python3}" -m venv "$BUILD_VENV"
fi
# ziglang 0.17.1 links maturin 1.16's manylinux2014 wheels (checked by auditwheel below); pinned so
# that a new zig release cannot change the build under us.
"$BUILD_VENV/bin/python" -m pip install -q --disable-pip-version-check \
    "maturin>=1.9.4,<2" "ziglang==0.17.1" "auditwheel>=6"
export PATH="$PWD/$BUILD_VENV/bin:$PATH"

mkdir -p dist
rm -f dist/ferrotel-*.whl dist/ferrotel-*.tar.gz

echo "== sdist"
maturin sdist --out dist

for python in "${PYTHONS[@]}"; do
    version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    echo "== wheel for CPython $version ($python)"
    started=$SECONDS
    maturin build --release --zig --compatibility manylinux2014 --interpreter "$python" --out dist
    echo "   built in $((SECONDS - started)) s"
done

echo "== checks"
status=0
shopt -s nullglob
wheels=(dist/ferrotel-*.whl)
if [ ${#wheels[@]} -ne ${#PYTHONS[@]} ]; then
    echo "FAIL: ${#PYTHONS[@]} interpreters but ${#wheels[@]} wheels in dist/" >&2
    status=1
fi
for wheel in "${wheels[@]}"; do
    name=$(basename "$wheel")
    # the platform tags in the file name, e.g. manylinux2014_x86_64.manylinux_2_17_x86_64
    tags=${name%.whl}
    tags=${tags##*-}
    shown=$(auditwheel show "$wheel")
    policy=$(grep -A1 "consistent with the following platform tag" <<<"$shown" | tail -1 | tr -d ' ".')
    if [ -z "$policy" ] || [[ ".$tags." != *".$policy."* ]]; then
        echo "FAIL: $name: auditwheel says '${policy:-nothing}', the file name says '$tags'" >&2
        echo "$shown" >&2
        status=1
    fi
    for member in ferrotel/_core.pyi ferrotel/py.typed; do
        if ! "$BUILD_VENV/bin/python" -c 'import sys, zipfile
sys.exit(sys.argv[2] not in zipfile.ZipFile(sys.argv[1]).namelist())' "$wheel" "$member"; then
            echo "FAIL: $name has no $member" >&2
            status=1
        fi
    done
    printf '%-80s %6d KiB  (auditwheel: %s)\n' "$name" $(($(stat -c %s "$wheel") / 1024)) "$policy"
done
for sdist in dist/ferrotel-*.tar.gz; do
    printf '%-80s %6d KiB\n' "$(basename "$sdist")" $(($(stat -c %s "$sdist") / 1024))
done
exit $status
