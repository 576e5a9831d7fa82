#!/usr/bin/env bash
# Shows what the exit path executes for the hook while no collector is
# registered: every site of the kvm_exit_stats_key static branch in the KVM
# modules of a built tree (KDIR, default build/linux), as compiled: a 5- or
# 2-byte NOP wherever jump labels are on.  Registration patches each
# into a jump to the hook's code; unregistration patches it back.
#
# Usage: [KDIR=<tree>] scripts/show-hook-sites.sh
set -euo pipefail
. "$(dirname "$0")/common.sh"

need_cmd objdump "apt-get install binutils"
for ko in "$KDIR"/arch/x86/kvm/{kvm,kvm-intel,kvm-amd}.ko; do
	[ -f "$ko" ] || die "no $ko: run 'make kernel' (or set KDIR to a built tree)"
	# __jump_table entries: code, target, key (the key's relocation last).
	objdump -r -j __jump_table "$ko" | awk '
		/R_X86_64_PC32/ { split($3, at, "+"); prev = code; code = at[2] }
		/kvm_exit_stats_key/ { print prev }' |
	while read -r site; do
		objdump -d --no-show-raw-insn --start-address=$((site)) --stop-address=$((site + 5)) "$ko" |
			awk -v ko="$(basename "$ko")" '/>:$/ { where = $2 }
				/^ *[0-9a-f]+:/ { sub(/^ *[0-9a-f]+:[ \t]*/, ""); print ko, where, $0; exit }'
	done
done
