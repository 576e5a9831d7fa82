#!/usr/bin/env bash
# Finds where struct vcpu_vmx keeps the exit reason in the patched kernel
# tree KDIR (default build/linux), for bpf_exits' raw tracepoint program: a
# raw kvm_exit event carries only the vCPU.  Kbuild compiles
# tests/bench/vmx_offsets.c to assembly in build/offsets-<tree's name>/, and
# the offset ends up in its file vmx_exit_reason.
#
# Usage: [KDIR=<tree>] scripts/build-offsets.sh
set -euo pipefail
. "$(dirname "$0")/common.sh"

kernel_toolchain
kdir_built
dir=$BUILD/offsets-$(basename "$KDIR")
mkdir -p "$dir"
cp -p "$REPO/tests/bench/vmx_offsets.c" "$dir/"
# shellcheck disable=SC2016 # $(srctree) is Kbuild's
printf 'ccflags-y := -I$(srctree)/arch/x86/kvm\nobj-m := vmx_offsets.o\n' >"$dir/Kbuild"
run_logged "$dir/build.log" "the offsets build" "${KMAKE[@]}" -C "$KDIR" M="$dir" vmx_offsets.s
sed -n 's/.*"->VCPU_VMX_EXIT_REASON \$\([0-9]*\) .*/\1/p' "$dir/vmx_offsets.s" >"$dir/vmx_exit_reason"
[ -s "$dir/vmx_exit_reason" ] || die "no offset of vcpu_vmx.exit_reason in $dir/vmx_offsets.s"
echo "vcpu_vmx.exit_reason: at $(cat "$dir/vmx_exit_reason") ($dir/vmx_exit_reason)"
