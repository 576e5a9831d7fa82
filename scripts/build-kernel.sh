#!/usr/bin/env bash
# Builds the patched Linux 6.12: bzImage and modules, in a cached tree that
# build/linux points at.  Source: Debian's linux-source-6.12, or KSRC=<tree>.
# Nothing is rebuilt when the source, patches/, scripts/kernel.config and the
# toolchain are unchanged; a changed patch rebuilds only what it touches.
# With "debug": the same with KASAN (scripts/kernel-debug.config), in its
# own tree that build/linux-debug points at; with "bench": the benchmark
# kernel (scripts/kernel-bench.config), in build/linux-bench.
#
# Usage: scripts/build-kernel.sh [debug|bench]
set -euo pipefail
. "$(dirname "$0")/common.sh"

variant=linux
fragments=("$REPO/scripts/kernel.config")
case ${1:-} in
"") ;;
debug | bench)
	variant=linux-$1
	fragments+=("$REPO/scripts/kernel-$1.config")
	;;
*) die "usage: scripts/build-kernel.sh [debug|bench]" ;;
esac

kernel_toolchain
deps="apt-get install flex bison bc libelf-dev libssl-dev cpio patch"
for tool in flex bison bc cpio patch; do need_cmd "$tool" "$deps"; done
[ -f /usr/include/libelf.h ] || die "libelf headers not found: $deps"
[ -f /usr/include/openssl/ssl.h ] || die "OpenSSL headers not found: $deps"

if [ -n "${KSRC:-}" ]; then
	[ -f "$KSRC/Makefile" ] && grep -q '^VERSION = 6$' "$KSRC/Makefile" &&
		grep -q '^PATCHLEVEL = 12$' "$KSRC/Makefile" ||
		die "KSRC=$KSRC is not a Linux 6.12 source tree"
	KSRC=$(cd "$KSRC" && pwd)
	srcid=ksrc-$(echo "$KSRC" | sha256sum | cut -c1-12)
else
	tarball=/usr/src/linux-source-6.12.tar.xz
	[ -f "$tarball" ] ||
		die "Linux 6.12 source not found: apt-get install linux-source-6.12, or set KSRC=<Linux 6.12 tree>"
	srcid=debian-$(dpkg-query -W -f='${Version}' linux-source-6.12)
fi

tree=$CACHE/$srcid/$variant
state=$tree/.kvm-exitstat
if [ ! -f "$state/source-ready" ]; then
	step "unpacking the kernel source into $tree"
	rm -rf "$tree"
	mkdir -p "$tree"
	if [ -n "${KSRC:-}" ]; then
		tar -C "$KSRC" --exclude=.git -cf - . | tar -C "$tree" -xf -
	else
		tar -C "$tree" --strip-components=1 -xf "$tarball"
	fi
	mkdir -p "$state/applied"
	touch "$state/source-ready"
fi

# Bring the tree from the series applied last time to the current one.
series=("$REPO"/patches/*.patch)
[ -e "${series[0]}" ] || die "no patches in $REPO/patches"
if ! cat "${series[@]}" | cmp -s - <(cat "$state"/applied/*.patch 2>/dev/null); then
	mapfile -t applied < <(ls -r "$state"/applied/*.patch 2>/dev/null)
	for p in "${applied[@]}"; do
		patch -s -d "$tree" -p1 -R <"$p" ||
			die "could not revert $(basename "$p") from $tree: remove $CACHE/$srcid and retry"
		rm "$p"
	done
	if [ -n "${KSRC:-}" ] && [ ${#applied[@]} -eq 0 ] &&
		cat "${series[@]}" | patch -s -d "$tree" -p1 -R --dry-run >/dev/null 2>&1; then
		step "KSRC already carries the series"
	else
		for p in "${series[@]}"; do
			patch -s -d "$tree" -p1 --dry-run <"$p" >/dev/null 2>&1 ||
				die "$(basename "$p") does not apply to $srcid (is it Linux 6.12 without conflicting KVM changes?)"
			patch -s -d "$tree" -p1 <"$p"
		done
	fi
	cp "${series[@]}" "$state/applied/"
fi

fragment=$state/fragment.config
cat "${fragments[@]}" >"$fragment"
if ! cmp -s "$fragment" "$state/config" || [ ! -f "$tree/.config" ]; then
	step "configuring (allnoconfig + $(cd "$REPO" && echo "${fragments[@]#"$REPO"/}"))"
	run_logged "$state/config.log" "kernel configuration" \
		"${KMAKE[@]}" -C "$tree" KCONFIG_ALLCONFIG="$fragment" allnoconfig
	if ! grep -q '^CONFIG_RUST=y' "$tree/.config"; then
		why=$("${KMAKE[@]}" -C "$tree" rustavailable 2>&1 | grep -m 1 -i -E 'error|not' || true)
		die "the kernel config has no CONFIG_RUST: ${why:-see $state/config.log}"
	fi
	# Each symbol's last setting counts (the debug fragment overrides).
	while read -r line; do
		case $line in CONFIG_*=[ym]) grep -qx "$line" "$tree/.config" ||
			die "$line from scripts/kernel*.config did not survive configuration (a dependency is missing)" ;;
		esac
	done < <(grep '^CONFIG_' "$fragment" | tac | awk -F= '!seen[$1]++')
	cp "$fragment" "$state/config"
fi

key=$( (cat "${series[@]}" "$fragment"; toolchain_id) | sha256sum | cut -c1-16)
if [ "$(cat "$state/built" 2>/dev/null)" = "$key" ] && [ -f "$tree/arch/x86/boot/bzImage" ]; then
	step "kernel up to date ($tree)"
else
	step "building bzImage and modules ($(nproc) jobs; log: $state/build.log)"
	rm -f "$state/built"
	start=$SECONDS
	run_logged "$state/build.log" "kernel build" \
		"${KMAKE[@]}" -C "$tree" -j"$(nproc)" bzImage modules
	echo "$key" >"$state/built"
	step "kernel built in $((SECONDS - start)) s"
fi
mkdir -p "$BUILD"
ln -sfn "$tree" "$BUILD/$variant"
echo "kernel: $BUILD/$variant/arch/x86/boot/bzImage"
