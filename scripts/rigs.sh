#!/usr/bin/env bash
# Runs several emulated machines, each with its scenarios and locale, as
# many at a time as there are cores (a Bochs machine uses one), in the
# order given.  Each line of a machine's output starts with its scenarios.
#
# Usage: scripts/rigs.sh LOCALE 'SCENARIO...' [LOCALE 'SCENARIO...']...
#        (a machine's scenarios may start with scripts/rig.sh's options)
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ $# -ge 2 ] && [ $(($# % 2)) -eq 0 ] || die "usage: scripts/rigs.sh LOCALE 'SCENARIO...' [LOCALE 'SCENARIO...']..."
slots=$(nproc)
failed=()
declare -A names=()
finish_one() {
	local pid
	wait -n -p pid "${!names[@]}" || failed+=("${names[$pid]}")
	unset "names[$pid]"
}
while [ $# -gt 0 ]; do
	locale=$1 scenarios=$2
	shift 2
	[ ${#names[@]} -lt "$slots" ] || finish_one
	(set -o pipefail; LC_ALL=$locale "$REPO/scripts/rig.sh" $scenarios 2>&1 | sed -u "s/^/[$scenarios] /") &
	names[$!]=$scenarios
done
while [ ${#names[@]} -gt 0 ]; do
	finish_one
done
[ ${#failed[@]} -eq 0 ] || die "failed: $(printf '[%s] ' "${failed[@]}")"
step "every machine passed"
