# Helpers for the scenarios that run inside the L1 machine.

result() { # name, PASS|FAIL|SKIP, reason
	echo "KX-RESULT $1 $2 ${3:-}"
}

fail() {
	result "$KX_NAME" FAIL "$*"
	exit 1
}

load_exitstat() {
	insmod /lib/modules/kvm_exitstat.ko || fail "insmod kvm_exitstat.ko failed"
}

# No oops, WARN, BUG or lockdep/RCU splat since boot (checked at the end).
check_dmesg_clean() {
	bad=$(dmesg | grep -E -m 3 'WARNING:|BUG:|Oops|Call Trace|circular locking|possible recursive locking|suspicious RCU usage|INFO: task .* blocked|general protection')
	if [ -n "$bad" ]; then
		result dmesg FAIL "$(echo "$bad" | tr '\n' '|')"
	else
		result dmesg PASS "no oops, WARN, BUG or lockdep splat"
	fi
}
