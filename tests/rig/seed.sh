# rig: l2
# The seed's experiment: kvm_exitstat in L1, Debian's cpuid in an L2 Linux
# guest started with qemu -enable-kvm.  The leaf's values are non-zero and
# grow from query to query, and L1's dmesg has the matching query lines.
KX_NAME=seed
load_exitstat
l2_start
answers=
for i in 1 2 3; do
	l2_query
	answers="$answers$L2_ANSWER
"
done
l2_stop
echo "L2 console:"
tr -d '\r' </tmp/l2.out | grep -v '^L2-'
echo "L1: dmesg | grep kvm_exitstat:"
dmesg | grep kvm_exitstat

prev_exits=0 prev_cycles=0 n=0
while read -r answer; do
	n=$((n + 1))
	set -- $(regs_to_totals "$answer")
	[ "$1" -gt "$prev_exits" ] || fail "query $n: exits $1 after $prev_exits"
	[ "$2" -gt "$prev_cycles" ] || fail "query $n: cycles $2 after $prev_cycles"
	dmesg | grep -q -F "CPUID 0x4fffffff: exits=$1 cycles=$2 ($answer)" ||
		fail "query $n: no dmesg line for exits=$1 cycles=$2 ($answer)"
	summary="${summary:+$summary -> }$1"
	prev_exits=$1 prev_cycles=$2
done <<EOT
$(printf %s "$answers")
EOT
result $KX_NAME PASS "L2 cpuid exits $summary, each with its L1 dmesg line"
rmmod kvm_exitstat || fail "rmmod kvm_exitstat failed"
