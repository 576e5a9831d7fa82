# Helpers for the scenarios that run inside the L1 machine.

# The vendor: its KVM module, and the exit reasons the scenarios use (VMX
# basic exit reasons, SVM exit codes): an external interrupt, CPUID, port
# I/O, and one that the vendor's manual does not define.
if grep -q '^flags.* svm' /proc/cpuinfo; then
	VENDOR=svm VENDOR_MODULE=kvm_amd
	R_INTR=0x60 R_CPUID=0x72 R_IO=0x7b R_UNDEFINED=0xa7
else
	VENDOR=vmx VENDOR_MODULE=kvm_intel
	R_INTR=1 R_CPUID=10 R_IO=30 R_UNDEFINED=35
fi
VENDOR_KO=/lib/modules/$(echo $VENDOR_MODULE | tr _ -).ko

# Reason $1 as the tables and the query log write it (SVM: 0x072).
reason_label() {
	if [ $VENDOR = svm ]; then printf '0x%03x\n' "$(($1))"; else echo "$1"; fi
}

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

# No oops, WARN, BUG (KASAN's too), lockdep/RCU splat or leak report since
# boot (checked at the end).
check_dmesg_clean() {
	bad=$(dmesg | grep -E -m 3 'WARNING:|BUG:|Oops|Call Trace|circular locking|possible recursive locking|suspicious RCU usage|INFO: task .* blocked|general protection|suspected memory leak')
	if [ -n "$bad" ]; then
		result dmesg FAIL "$(echo "$bad" | tr '\n' '|')"
	else
		result dmesg PASS "no oops, WARN, BUG, KASAN report, lockdep splat or leak"
	fi
}

# kmemleak finds nothing unreferenced after $1.  A scan reports what it
# finds unreferenced and older than 5 s: all but what the last few VMs and
# reloads left behind.
no_leaks() { # after what
	local leaks
	echo scan >/sys/kernel/debug/kmemleak
	echo scan >/sys/kernel/debug/kmemleak
	leaks=$(grep -c '^unreferenced object' /sys/kernel/debug/kmemleak)
	if [ "$leaks" -ne 0 ]; then
		head -n 30 /sys/kernel/debug/kmemleak
		fail "kmemleak: $leaks unreferenced objects after $1"
	fi
}

# --- The L2 guest: QEMU with KVM in L1, driven over its serial console.

l2_start() {
	rm -f /tmp/l2.in
	mkfifo /tmp/l2.in
	qemu-system-x86_64 -enable-kvm -cpu host -m 192 -smp 1 \
		-nodefaults -no-user-config -display none -no-reboot \
		-L /usr/share/qemu -serial stdio -monitor none \
		-kernel /l2/bzImage -initrd /l2/initrd.img \
		-append "console=ttyS0 panic=-1 quiet" </tmp/l2.in >/tmp/l2.out 2>&1 &
	L2_PID=$!
	exec 3>/tmp/l2.in
	l2_wait 'L2-READY' 1 600 ||
		fail "L2 did not come up: $(tail -n 3 /tmp/l2.out | tr -d '\r' | tr '\n' '|') dmesg: $(dmesg | tail -n 2 | tr '\n' '|')"
}

l2_wait() { # pattern, count, timeout in s
	local waited=0 n
	while n=$(grep -c "$1" /tmp/l2.out 2>/dev/null); [ "${n:-0}" -lt "$2" ]; do
		kill -0 "$L2_PID" 2>/dev/null || return 1
		waited=$((waited + 1))
		[ $waited -le $(($3 * 2)) ] || return 1
		sleep 0.5
	done
}

# Sends a command to L2 and waits for its L2-ANSWER line, which lands in
# $L2_ANSWER.
l2_command() {
	L2_QUERIES=$((${L2_QUERIES:-0} + 1))
	echo "$*" >&3
	l2_wait '^L2-ANSWER' "$L2_QUERIES" 120 ||
		fail "L2 did not answer command $L2_QUERIES ($*): $(tail -n 3 /tmp/l2.out | tr -d '\r' | tr '\n' '|')"
	L2_ANSWER=$(grep "^L2-ANSWER $L2_QUERIES " /tmp/l2.out | tr -d '\r' | cut -d' ' -f3-)
}

# Sets $STOCK to what stock KVM (no module) answers L2 for an unknown leaf,
# with ECX=0.
l2_stock() {
	STOCK=$(grep '^L2-STOCK' /tmp/l2.out | tr -d '\r' | cut -d' ' -f2-)
	[ -n "$STOCK" ] || fail "L2 did not report the stock answer"
}

# Runs exitstat ARGS in L2: its output goes to /tmp/l2-exitstat.out, its
# exit code to $L2_RC.
l2_exitstat() {
	l2_command x "$@"
	L2_RC=${L2_ANSWER#rc=}
	tr -d '\r' </tmp/l2.out | awk -v n="$L2_QUERIES" '/^L2-ANSWER /{c++} c == n - 1 && sub(/^L2-X /, "")' >/tmp/l2-exitstat.out
}

# Sends "q [LEAF [ECX]]"; the answer ("eax=.. ebx=.. ecx=.. edx=..") lands
# in $L2_ANSWER.
l2_query() {
	l2_command q "${1:-}" "${2:-}"
	echo "$L2_ANSWER" | grep -q '^eax=0x[0-9a-f]* ebx=0x[0-9a-f]* ecx=0x[0-9a-f]* edx=0x[0-9a-f]*$' ||
		fail "L2's cpuid gave no answer to query $L2_QUERIES: $(grep -v '^L2-' /tmp/l2.out | tail -n 2 | tr -d '\r' | tr '\n' '|')"
}

l2_stop() {
	echo off >&3
	exec 3>&-
	wait "$L2_PID"
}

# "eax=0x.. ebx=0x.. ecx=0x.. edx=0x.." -> "exits cycles"
regs_to_totals() {
	set -- $(echo "$1" | sed 's/e[a-d]x=//g')
	echo "$(($4 << 32 | $1)) $(($2 << 32 | $3))"
}

# "eax=0x.. ebx=0x.. ecx=0x.. edx=0x.." -> "eax ebx ecx edx" in decimal
regs() {
	set -- $(echo "$1" | sed 's/e[a-d]x=//g')
	echo "$(($1)) $(($2)) $(($3)) $(($4))"
}

# The exits and cycles of reason $2 in exitstat table $1 ("0 0" if absent),
# or of the totals for "total".
table_row() {
	set -- "$1" "$([ "$2" = total ] && echo total || reason_label "$2")"
	awk -v r="$2" '$1 == r && r == "total" { print $2, $4; found = 1 }
		$1 == r && r != "total" { print $3, $5; found = 1 }
		END { if (!found) print 0, 0 }' "$1"
}

# KVM's own count of the exits of every vCPU of every VM: the oracle.
kvm_exits() {
	cat /sys/kernel/debug/kvm/exits
}

# Stops L2's QEMU and waits until each of its threads is stopped: SIGSTOP
# kicks the vCPU out of the guest, so KVM counts no more exits for it.
# (Polled, not slept: a guest second costs many wall seconds on Bochs.)
l2_pause() {
	kill -STOP "$L2_PID"
	while sed 's/.*) //' /proc/"$L2_PID"/task/*/stat | cut -d' ' -f1 | grep -q -v '^T'; do
		usleep 10000
	done
}

# Waits until KVM has counted $1 more exits than $2.
await_exits() {
	while [ $(($(kvm_exits) - $2)) -lt "$1" ]; do
		usleep 10000
	done
}

l2_resume() {
	kill -CONT "$L2_PID"
}

# Sets $COUNTED to the total exits of a table (default: the host view),
# after checking that its rows add up to its totals, exits and cycles ($1
# says when, for the failure).
counted_exits() { # when [table]
	local table=${2:-/sys/kernel/debug/kvm_exitstat/stats}
	set -- "$1" $(awk '$1 == "total" { te = $2; tc = $4 }
		NR > 1 && $1 != "total" { re += $3; rc += $5 }
		END { printf "%d %d %d %d\n", te, tc, re, rc }' "$table")
	[ "$2 $3" = "$4 $5" ] || fail "$1: totals $2 exits, $3 cycles; the rows add up to $4, $5 ($table)"
	COUNTED=$2
}

# Runs command $2... while L2 keeps exiting, lets L2 exit 2000 more times
# and stops it: the host view must then count at least KVM's exits since
# the command returned and at most those since it started ($1 names the
# command in the failure).  Sets $COUNTED.
count_across() { # what, command...
	local what=$1 before done after
	shift
	before=$(kvm_exits)
	"$@"
	done=$(kvm_exits)
	await_exits 2000 "$done"
	l2_pause
	after=$(kvm_exits)
	counted_exits "after $what"
	[ "$COUNTED" -ge $((after - done)) ] && [ "$COUNTED" -le $((after - before)) ] ||
		fail "counted $COUNTED exits; KVM: $((after - done)) since $what returned, $((after - before)) since it started"
}

# KVM's debugfs directory for L2's VM (QEMU creates one).
l2_vm_dir() {
	set -- /sys/kernel/debug/kvm/"$L2_PID"-*
	[ $# -eq 1 ] && [ -d "$1" ] || fail "no single debugfs directory for L2's VM: $*"
	echo "$1"
}

# Runs vm_churn with arguments $2... (behind command $1, e.g. a taskset, or
# nothing) while kvm_exitstat is unloaded, reloaded and reset in a loop,
# loaded for a few VMs' exits each time, so that VMs are counted too.  Sets
# $RELOADS; vm_churn's summary line is in /tmp/churn.out.
churn_with_reloads() { # command, vm_churn arguments...
	local command=$1 churn
	shift
	$command vm_churn "$@" >/tmp/churn.out 2>&1 &
	churn=$!
	RELOADS=0
	while kill -0 $churn 2>/dev/null; do
		rmmod kvm_exitstat || fail "rmmod failed during the churn"
		load_exitstat
		echo 1 >/sys/kernel/debug/kvm_exitstat/reset || fail "a reset failed during the churn"
		while [ "$(table_row /sys/kernel/debug/kvm_exitstat/stats total | cut -d' ' -f1)" -lt 40 ] &&
			kill -0 $churn 2>/dev/null; do
			usleep 1000
		done
		RELOADS=$((RELOADS + 1))
	done
	wait $churn || fail "$(cat /tmp/churn.out)"
}
