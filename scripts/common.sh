# Shared by the scripts: paths, toolchain and one-line failures.
# shellcheck shell=bash

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
CACHE=${KVM_EXITSTAT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-exitstat}
BINDGEN_VERSION=0.73.2

die() {
	echo "error: $*" >&2
	exit 1
}

step() {
	echo "==> $*"
}

need_cmd() { # command, fix
	command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"
}

# The pinned bindgen: where install-deps.sh puts it, else on PATH or in
# cargo's bin directory, if it has the pinned version.
pinned_bindgen() {
	local candidate
	for candidate in /usr/local/bin/bindgen "$(command -v bindgen)" "${CARGO_HOME:-$HOME/.cargo}/bin/bindgen"; do
		if [ -x "$candidate" ] && [ "$("$candidate" --version 2>/dev/null)" = "bindgen $BINDGEN_VERSION" ]; then
			echo "$candidate"
			return
		fi
	done
}

# The kernel's make, with Debian's rustc-web toolchain (the rustup compiler
# on PATH has no rust-src) and the pinned bindgen.
kernel_toolchain() {
	local debian_pkgs="apt-get install rustc-web rust-web-src rust-web-clippy rustfmt-web clang lld llvm libclang-dev"
	[ -x /usr/bin/rustc ] || die "/usr/bin/rustc (Debian rustc-web) not found: $debian_pkgs"
	[ -d /usr/lib/rustlib/src/rust/library ] || die "Rust library source not found: apt-get install rust-web-src"
	need_cmd clang "$debian_pkgs"
	need_cmd ld.lld "$debian_pkgs"
	BINDGEN=${BINDGEN:-$(pinned_bindgen)}
	[ -n "$BINDGEN" ] || die "bindgen $BINDGEN_VERSION not found: sudo scripts/install-deps.sh"
	KMAKE=(make LLVM=1 RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc HOSTRUSTC=/usr/bin/rustc
		RUSTFMT=/usr/bin/rustfmt CLIPPY_DRIVER=/usr/bin/clippy-driver BINDGEN="$BINDGEN")
}

toolchain_id() {
	/usr/bin/rustc --version
	"$BINDGEN" --version
	clang --version | head -n 1
}

# Runs a long command with its output in a log; on failure prints the first
# error line and where the log is, not the whole output.
run_logged() { # log, what, command...
	local log=$1 what=$2
	shift 2
	if ! "$@" >"$log" 2>&1; then
		local first
		first=$(grep -m 1 -E '^error|: error:|^ERROR:|: fatal error:' "$log" || tail -n 1 "$log")
		die "$what failed: ${first:-see log} (full log: $log)"
	fi
}

# The kernel tree that `make kernel` built (a symlink into the cache).
KDIR=${KDIR:-$BUILD/linux}

# make for a KVM selftests directory.  The selftests' lib.mk picks its output
# directory only when it is the top-level make: do not let it see that
# `make test` called us.
selftests_make() { # tree, make arguments...
	local tree=$1
	shift
	env -u MAKELEVEL -u MAKEFLAGS -u MFLAGS make -C "$tree/tools/testing/selftests/kvm" "$@"
}

kdir_built() {
	[ -f "$KDIR/Module.symvers" ] ||
		die "no built kernel at $KDIR: run 'make kernel' first, or set KDIR=<built, patched 6.12 tree>"
	grep -q kvm_exit_stats_register "$KDIR/Module.symvers" ||
		die "$KDIR lacks the kvm-exitstat patches (no kvm_exit_stats_register in Module.symvers): apply patches/ and rebuild it"
}
