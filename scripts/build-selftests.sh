#!/usr/bin/env bash
# Builds the KVM selftests of the patched tree, static, so that they run in
# the rig's busybox initramfs; exit_stats_test is the one this project adds.
set -euo pipefail
. "$(dirname "$0")/common.sh"

kdir_built
test_bin=$KDIR/tools/testing/selftests/kvm/x86_64/exit_stats_test
[ -f "$KDIR/tools/testing/selftests/kvm/x86_64/exit_stats_test.c" ] ||
	die "$KDIR lacks the kvm-exitstat selftest: apply patches/ (make kernel)"
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || die "static libc not found: apt-get install libc6-dev"
log=$BUILD/selftests.log
mkdir -p "$BUILD"
run_logged "$log" "kernel headers install" make -C "$KDIR" headers_install
run_logged "$log" "KVM selftests build" selftests_make "$KDIR" LDFLAGS=-static -j"$(nproc)"
[ -x "$test_bin" ] || die "the selftests build did not produce $test_bin (log: $log)"
echo "selftest: $test_bin"
