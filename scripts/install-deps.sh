#!/usr/bin/env bash
# Installs everything the build, the rig and the tests need (Debian 12,
# as root): the packages below and the pinned bindgen-cli from crates.io.
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ "$(id -u)" = 0 ] || die "needs root to install packages: sudo scripts/install-deps.sh"
packages=(
	# kernel and Rust-for-Linux toolchain
	linux-source-6.12 rustc-web cargo-web rust-web-src rust-web-clippy rustfmt-web
	clang lld llvm libclang-dev libelf-dev libssl-dev flex bison bc cpio
	patch make gcc libc6-dev file
	# the emulated VMX machine and what runs inside it
	bochs bochsbios vgabios syslinux syslinux-common mtools dosfstools
	busybox-static qemu-system-x86 cpuid
)
step "apt-get install (${#packages[@]} packages)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null || die "apt-get update failed"
apt-get install -y -q "${packages[@]}" >/tmp/kvm-exitstat-apt.log 2>&1 ||
	die "apt-get install failed: $(grep -m 1 -E '^E:' /tmp/kvm-exitstat-apt.log) (log: /tmp/kvm-exitstat-apt.log)"

# With Debian's cargo and rustc, into /usr/local: the same for root and for
# the user who ran sudo, whatever their HOME or rustup set-up.
if [ -z "$(pinned_bindgen)" ]; then
	step "cargo install bindgen-cli $BINDGEN_VERSION into /usr/local"
	RUSTC=/usr/bin/rustc /usr/bin/cargo install --locked --quiet --root /usr/local \
		bindgen-cli --version "$BINDGEN_VERSION" >/tmp/kvm-exitstat-bindgen.log 2>&1 ||
		die "cargo install bindgen-cli $BINDGEN_VERSION failed: $(grep -m 1 -E '^error' /tmp/kvm-exitstat-bindgen.log) (log: /tmp/kvm-exitstat-bindgen.log)"
fi
step "dependencies installed"
