#!/usr/bin/env bash
# Builds rust/kvm_exitstat.ko against the patched tree (KDIR, default
# build/linux).  With CLIPPY=1 it runs clippy too and fails on any warning.
# With "debug" or "bench": against build/linux-debug or build/linux-bench,
# from a copy of the sources in build/module-debug or build/module-bench
# (Kbuild in 6.12 writes a module next to its sources).
#
# Usage: scripts/build-module.sh [debug|bench]
set -euo pipefail
. "$(dirname "$0")/common.sh"

kernel_toolchain
src=$REPO
case ${1:-} in
"") ;;
debug | bench)
	KDIR=$BUILD/linux-$1
	src=$BUILD/module-$1
	mkdir -p "$src/rust"
	cp -p "$REPO/Kbuild" "$src/"
	cp -p "$REPO"/rust/Kbuild "$REPO"/rust/*.rs "$src/rust/"
	;;
*) die "usage: scripts/build-module.sh [debug|bench]" ;;
esac
kdir_built

log=$BUILD/module${1:+-$1}.log
mkdir -p "$BUILD"
flags=()
[ "${CLIPPY:-}" = 1 ] && flags+=(CLIPPY=1)
run_logged "$log" "module build" "${KMAKE[@]}" -C "$KDIR" M="$src" "${flags[@]}" modules
if grep -q -E '^(warning|error)' "$log"; then
	die "the module build has warnings: $(grep -m 1 -E '^(warning|error)' "$log") (full log: $log)"
fi
echo "module: $src/rust/kvm_exitstat.ko"
