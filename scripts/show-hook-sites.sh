#!/usr/bin/env bash
# Shows what the exit path executes for the hook while no collector is
# registered: every site of the kvm_exit_stats_key static branch in the KVM
# modules of a built tree (KDIR, default build/linux), as compiled: a 5- or
# 2-byte NOP wherever jump labels are on; and every site of the
# kvm_exit_stats_record static call, a call that the kernel patches into a
# 5-byte NOP while the call is NULL.  Registration patches each into a
# jump to the hook's code, or a direct call to the collector;
# unregistration patches it back.
#
# Usage: [KDIR=<tree>] scripts/show-hook-sites.sh
set -euo pipefail
. "$(dirname "$0")/common.sh"

need_cmd objdump "apt-get install binutils"
# The code address of each entry of a section whose entries are a code
# address and a key, for the key $2 (the key's relocation comes second,
# with flags in its low bits).
sites() {
	objdump -r -j "$1" "$ko" | awk -v key="$2" '
		/R_X86_64_PC32/ { split($3, at, "+"); prev = code; code = at[2] }
		$3 == key || index($3, key "+") == 1 || index($3, key "-") == 1 { print prev }'
}

# The function and offset of code address $1, and its first instruction.
show() {
	objdump -d --no-show-raw-insn --start-address=$(($1)) --stop-address=$(($1 + 5)) "$ko" |
		awk -v ko="$(basename "$ko")" -v note="$2" '/>:$/ { where = $2 }
			/^ *[0-9a-f]+:/ { sub(/^ *[0-9a-f]+:[ \t]*/, ""); print ko, where, $0 note; exit }'
}

for ko in "$KDIR"/arch/x86/kvm/{kvm,kvm-intel,kvm-amd}.ko; do
	[ -f "$ko" ] || die "no $ko: run 'make kernel' (or set KDIR to a built tree)"
	for site in $(sites __jump_table kvm_exit_stats_key); do
		show "$site" ""
	done
	for site in $(sites .static_call_sites __SCK__kvm_exit_stats_record); do
		show "$site" " (a NOP at run time)"
	done
done
