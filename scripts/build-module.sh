#!/usr/bin/env bash
# Builds rust/kvm_exitstat.ko against the patched tree (KDIR, default
# build/linux).  With CLIPPY=1 it runs clippy too and fails on any warning.
set -euo pipefail
. "$(dirname "$0")/common.sh"

kernel_toolchain
kdir_built

log=$BUILD/module.log
mkdir -p "$BUILD"
flags=()
[ "${CLIPPY:-}" = 1 ] && flags+=(CLIPPY=1)
run_logged "$log" "module build" "${KMAKE[@]}" -C "$KDIR" M="$REPO" "${flags[@]}" modules
if grep -q -E '^(warning|error)' "$log"; then
	die "the module build has warnings: $(grep -m 1 -E '^(warning|error)' "$log") (full log: $log)"
fi
echo "module: $REPO/rust/kvm_exitstat.ko"
