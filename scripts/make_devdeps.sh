#!/usr/bin/env bash
# make_devdeps.sh - fill .devdeps/ (git-ignored) with what the GPU machine's image lacks for a
# build of safeconv: SQLite's headers and library (Debian's libsqlite3-dev here). Carry it with
# the device tool (`carry: [".devdeps"]`); tests/gpu/run_device.sh and scripts/device_checks.sh
# pick it up. Run once per fresh work tree, from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
lib=$(dpkg -L libsqlite3-0 | grep -E '/libsqlite3\.so\.0$' | head -1)
mkdir -p .devdeps/include .devdeps/lib
cp /usr/include/sqlite3.h /usr/include/sqlite3ext.h .devdeps/include/
cp -L "$lib" .devdeps/lib/libsqlite3.so.0
cp -L "$lib" .devdeps/lib/libsqlite3.so
grep -qx '/.devdeps/' .git/info/exclude 2>/dev/null || echo '/.devdeps/' >> .git/info/exclude
echo "made .devdeps ($(du -sh .devdeps | cut -f1))"
