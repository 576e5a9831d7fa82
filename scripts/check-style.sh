#!/usr/bin/env bash
# Style gates: checkpatch --strict on the series (no errors), rustfmt on the
# Rust code.
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ -x "$KDIR/scripts/checkpatch.pl" ] || die "no kernel tree at $KDIR: run 'make kernel' first"
# From inside the tree (not a git checkout), checkpatch skips spdxcheck's git needs.
out=$(cd "$KDIR" && ./scripts/checkpatch.pl --strict --quiet --terse "$REPO"/patches/*.patch 2>&1) || true
if grep -q ': ERROR:' <<<"$out"; then
	echo "$out" >&2
	die "checkpatch --strict reports errors in patches/"
fi
step "checkpatch --strict: no errors ($(grep -c ': WARNING:' <<<"$out" || true) warnings)"

rustfmt=/usr/bin/rustfmt
[ -x $rustfmt ] || rustfmt=rustfmt
"$rustfmt" --check "$REPO"/rust/*.rs "$REPO"/tests/host/*.rs ||
	die "the Rust code is not rustfmt-clean: run $rustfmt rust/*.rs tests/host/*.rs"
step "rustfmt: clean"
