#!/usr/bin/env bash
# check.sh - what a new user does, checked end to end (issue 15's "Done when").
#
#   tests/newuser/check.sh [--host] [BUILD]    (default) on this machine, inside a temporary folder
#   tests/newuser/check.sh --bare [ROOT]       on a bare Debian 12 made with debootstrap (root)
#
# --host (test.sh runs it; needs no root and changes nothing outside a temporary folder):
#   1. `make install` of BUILD into a virtual environment's prefix (the README's alternative to
#      `sudo make install` when not root); LDCONFIG is not run;
#   2. the README's venv and pip lines (Debian's PyTorch seen through --system-site-packages,
#      pip offline: PIP_NO_INDEX=1 makes any download attempt fail);
#   3. the README's Python snippet, run from an empty folder with no SAFECONV_* / PYTHONPATH /
#      LD_LIBRARY_PATH set: it must import the installed package and load the installed library;
#   4. tests/install/check.sh: the pkg-config and CMake consumers against `make install`;
#   5. `make wheel`: a py3-none-<platform> wheel that installs into a fresh venv and loads the
#      library it carries.
# --bare: debootstrap --variant=minbase bookworm into ROOT (default /var/tmp/safeconv-bare, kept
#   for the next run), the repository's files copied in, then as root inside (chroot): the
#   README's two commands (./quickstart.sh, ./test.sh), the README's "With PyTorch" commands as
#   written (sudo dropped: root), its Python snippet with the installed package and library, and
#   tests/install/check.sh. Needs root, debootstrap and a Debian mirror; when any is missing it
#   says so and runs --host instead. Takes long (./test.sh in the bare system: 25 min and more).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
mode=host
case ${1:-} in
--host) shift ;;
--bare) mode=bare; shift ;;
esac
PYTHON=${PYTHON:-/usr/bin/python3}
step() { echo "== newuser: $*"; }

# The README's blocks: the first ```sh and the first ```python block under "## With PyTorch".
readme_block() {
    awk -v lang="$1" '
        /^## / { inside = ($0 == "## With PyTorch") }
        inside && !done && $0 == "```" lang { grab = 1; next }
        grab && /^```/ { grab = 0; done = 1; next }
        grab { print }' README.md
}

host_check() {
    build=${1:-build}
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    [ -e "$build/libsafeconv.so" ] || make -s BUILD="$build" -j"$(nproc)" >/dev/null
    export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
    clean_env=(env -u SAFECONV_LIBRARY -u PYTHONPATH -u LD_LIBRARY_PATH -u SAFECONV_CACHE_DIR
               -u SAFECONV_VERBOSITY HOME="$tmp/home")
    mkdir -p "$tmp/home" "$tmp/empty"

    step "make install PREFIX=<venv> (no root, no ldconfig)"
    venv=$tmp/venv
    "$PYTHON" -m venv --system-site-packages "$venv"
    make -s BUILD="$build" install PREFIX="$venv" LDCONFIG= >/dev/null

    step "the README's pip line, offline"
    pip_line=$(readme_block sh | grep -E '^[^#]*pip install' | head -1)
    pip_cmd=${pip_line%%#*}
    pip_cmd=${pip_cmd//\~\/venv/$venv}
    echo "   $pip_cmd"
    (cd "$repo" && eval "$pip_cmd") >"$tmp/pip.log" 2>&1 || { cat "$tmp/pip.log"; exit 1; }

    step "the README's Python snippet, installed package and library, no environment"
    readme_block python >"$tmp/snippet.py"
    cat >>"$tmp/snippet.py" <<'EOF'

import os, sys
import safeconv as _sc
print("package:", _sc.__file__)
print("library:", _sc.library_path())
assert _sc.__file__.startswith(sys.prefix), "the package in use is not the installed one"
assert os.path.realpath(_sc.library_path()).startswith(os.path.realpath(sys.prefix)), \
    "the library in use is not the installed one"
EOF
    (cd "$tmp/empty" && "${clean_env[@]}" "$venv/bin/python" "$tmp/snippet.py") >"$tmp/snippet.log" 2>&1 ||
        { cat "$tmp/snippet.log"; exit 1; }
    grep -q "layers, .* forward and .* backward calls" "$tmp/snippet.log" ||
        { cat "$tmp/snippet.log"; echo "newuser: the snippet printed no report table" >&2; exit 1; }
    if grep -q "OrderedDict\|{'" "$tmp/snippet.log"; then
        cat "$tmp/snippet.log"
        echo "newuser: print(safeconv.report(model)) printed a dict" >&2
        exit 1
    fi
    grep -E "^(package|library):" "$tmp/snippet.log" | sed 's/^/   /'

    step "pkg-config and CMake consumers against make install"
    tests/install/check.sh "$build" | sed 's/^/   /'

    step "make wheel: a platform wheel that carries the library"
    make -s BUILD="$build" wheel PYTHON="$venv/bin/python" >"$tmp/wheel.log" 2>&1 ||
        { cat "$tmp/wheel.log"; exit 1; }
    whl=$(ls "$build"/dist/safeconv-*.whl)
    case $(basename "$whl") in
    safeconv-*-py3-none-linux_*.whl) echo "   $(basename "$whl")" ;;
    *) echo "newuser: wheel $(basename "$whl") is not tagged for this platform" >&2; exit 1 ;;
    esac
    "$PYTHON" -m venv --system-site-packages "$tmp/venv2"
    "$tmp/venv2/bin/pip" install -q --no-deps "$whl"
    (cd "$tmp/empty" && "${clean_env[@]}" "$tmp/venv2/bin/python" -c '
import os, safeconv
p = safeconv.library_path()
assert os.path.dirname(p) == os.path.dirname(safeconv.__file__), p
print("   wheel: library", p, safeconv.library_version())')
    step "ok (host)"
}

bare_check() {
    root=${1:-/var/tmp/safeconv-bare}
    why=
    if [ "$(id -u)" != 0 ]; then why="not root"
    elif ! command -v debootstrap >/dev/null; then why="no debootstrap (apt-get install debootstrap)"
    elif ! command -v chroot >/dev/null; then why="no chroot"
    fi
    mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
    if [ -z "$why" ] && [ ! -x "$root/usr/bin/apt-get" ]; then
        step "debootstrap --variant=minbase bookworm $root ($mirror)"
        mkdir -p "$root"
        if ! debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1; then
            why="debootstrap failed (no mirror reachable?), see $root.debootstrap.log"
            tail -3 "$root.debootstrap.log" >&2
        fi
    fi
    if [ -n "$why" ]; then
        echo "newuser: bare Debian check not possible here: $why; running the host check" >&2
        host_check build
        return
    fi
    step "copying the repository into $root/root/safeconv"
    rm -rf "$root/root/safeconv"
    mkdir -p "$root/root/safeconv"
    git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$root/root/safeconv"
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    mounted=()
    for fs in proc sys dev dev/pts; do
        mkdir -p "$root/$fs"
        mount --bind "/$fs" "$root/$fs" && mounted=("$root/$fs" "${mounted[@]}")
    done
    cleanup() { for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done; }
    trap cleanup EXIT
    readme_block sh | sed 's/^sudo //; s/&& sudo /\&\& /g; s/  *#.*$//' >"$root/root/readme_pytorch.sh"
    readme_block python >"$root/root/readme_snippet.py"
    cat >"$root/root/newuser.sh" <<'EOF'
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive HOME=/root
cd /root/safeconv
apt-get update -q >/dev/null
t0=$(date +%s)
echo "== newuser (bare): ./quickstart.sh"
./quickstart.sh
t1=$(date +%s)
echo "== newuser (bare): ./test.sh"
./test.sh
t2=$(date +%s)
echo "== newuser (bare): the README's With PyTorch commands (as root, sudo dropped)"
cat /root/readme_pytorch.sh
bash -euxo pipefail /root/readme_pytorch.sh
echo "== newuser (bare): the README's Python snippet, installed package and library"
cd /tmp
env -u PYTHONPATH ~/venv/bin/python /root/readme_snippet.py
~/venv/bin/python -c 'import safeconv, sys; print(safeconv.__file__, safeconv.library_path()); assert safeconv.__file__.startswith(sys.prefix)'
cd /root/safeconv
echo "== newuser (bare): pkg-config and CMake consumers against make install"
tests/install/check.sh build
echo "== newuser (bare): ok (quickstart $((t1 - t0)) s, test.sh $((t2 - t1)) s)"
EOF
    step "running inside the bare system (chroot $root)"
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb \
        /bin/bash /root/newuser.sh
}

if [ $mode = bare ]; then bare_check "$@"; else host_check "$@"; fi
