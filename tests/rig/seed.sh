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
others=
for leaf in 0x4ffffff0 0x4ffffffe; do
	l2_query $leaf
	others="$others $leaf:$(echo "$L2_ANSWER" | tr " " _)"
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

KX_NAME=other-leaves
stock=$(grep '^L2-STOCK' /tmp/l2.out | tr -d '\r' | cut -d' ' -f2-)
[ -n "$stock" ] || fail "L2 did not report the stock answer"
for leaf in 0x4ffffff0 0x4ffffffe; do
	answer=$(echo "$others" | tr ' ' '\n' | grep "^$leaf:" | cut -d: -f2 | tr '_' ' ')
	[ "$answer" = "$stock" ] ||
		fail "leaf $leaf answered '$answer' with the module loaded; stock KVM answers '$stock'"
done
result $KX_NAME PASS "0x4ffffff0 and 0x4ffffffe give stock KVM's answer ($stock)"
rmmod kvm_exitstat || fail "rmmod kvm_exitstat failed"
