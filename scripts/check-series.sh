#!/usr/bin/env bash
# Checks that each patch of the series builds on its own: in a separate,
# cached tree, applies the patches one by one and after each builds what the
# series touches (KVM, the Rust bindings and helpers, the KVM selftests).
set -euo pipefail
. "$(dirname "$0")/common.sh"

kernel_toolchain
tarball=/usr/src/linux-source-6.12.tar.xz
[ -f "$tarball" ] || die "Linux 6.12 source not found: apt-get install linux-source-6.12"
tree=$CACHE/series-check/linux
if [ ! -f "$tree/Makefile" ]; then
	step "unpacking a separate tree for the series check: $tree"
	rm -rf "$tree" "$tree/../applied"
	mkdir -p "$tree"
	tar -C "$tree" --strip-components=1 -xf "$tarball"
fi
# Back to the pristine source: revert whatever a previous run left applied.
if [ -f "$tree/../applied" ]; then
	tac "$tree/../applied" | while read -r p; do patch -s -d "$tree" -p1 -R <"$p"; done
	rm "$tree/../applied"
fi
if ! cmp -s "$REPO/scripts/kernel.config" "$tree/../config" || [ ! -f "$tree/.config" ]; then
	run_logged "$tree/../config.log" "kernel configuration" \
		"${KMAKE[@]}" -C "$tree" KCONFIG_ALLCONFIG="$REPO/scripts/kernel.config" allnoconfig
	cp "$REPO/scripts/kernel.config" "$tree/../config"
fi
mkdir -p "$tree/../patches"
for p in "$REPO"/patches/*.patch; do
	log=$tree/../build-$(basename "$p" .patch).log
	cp "$p" "$tree/../patches/"
	kept=$tree/../patches/$(basename "$p")
	patch -s -d "$tree" -p1 <"$kept" || die "$(basename "$p") does not apply"
	echo "$kept" >>"$tree/../applied"
	step "$(basename "$p")"
	run_logged "$log" "build with $(basename "$p")" \
		"${KMAKE[@]}" -C "$tree" -j"$(nproc)" arch/x86/kvm/ rust/
	if [ -f "$tree/tools/testing/selftests/kvm/x86_64/exit_stats_test.c" ]; then
		run_logged "$log" "headers_install with $(basename "$p")" make -C "$tree" headers_install
		run_logged "$log" "selftests with $(basename "$p")" selftests_make "$tree" -j"$(nproc)"
	fi
done
step "every patch builds on its own"
