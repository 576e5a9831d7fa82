#!/usr/bin/env bash
# Runs several emulated machines, each with its scenarios and locale, side
# by side when there is a core for each (Bochs uses one), else one after
# the other.  Each line of a machine's output starts with its scenarios.
#
# Usage: scripts/rigs.sh LOCALE 'SCENARIO...' [LOCALE 'SCENARIO...']...
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ $# -ge 2 ] && [ $(($# % 2)) -eq 0 ] || die "usage: scripts/rigs.sh LOCALE 'SCENARIO...' [LOCALE 'SCENARIO...']..."
machines=$(($# / 2))
failed=()
pids=()
names=()
while [ $# -gt 0 ]; do
	locale=$1 scenarios=$2
	shift 2
	if [ "$(nproc)" -ge "$machines" ]; then
		(set -o pipefail; LC_ALL=$locale "$REPO/scripts/rig.sh" $scenarios 2>&1 | sed -u "s/^/[$scenarios] /") &
		pids+=($!)
		names+=("$scenarios")
	elif ! LC_ALL=$locale "$REPO/scripts/rig.sh" $scenarios; then
		failed+=("$scenarios")
	fi
done
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || failed+=("${names[$i]}")
done
[ ${#failed[@]} -eq 0 ] || die "failed: $(printf '[%s] ' "${failed[@]}")"
step "every machine passed"
