# rig: l2
# The seed's experiment: kvm_exitstat in L1, Debian's cpuid in an L2 Linux
# guest started with qemu -enable-kvm.  The leaf's values are non-zero and
# grow from query to query, and L1's dmesg has the matching query lines.
# Then the per-reason leaves, exitstat in L2 (checked against cpuid on the
# same leaves), the per-VM tables with a second VM beside L2, and the host
# view in L1.
KX_NAME=seed
load_exitstat
# The seed's experiment reads each query in dmesg; the log is off by default.
echo Y >/sys/kernel/debug/kvm_exitstat/log_queries || fail "could not switch the query log on"
l2_start
answers=
for i in 1 2 3; do
	l2_query
	answers="$answers$L2_ANSWER
"
done
others=
for leaf in 0x4ffffff0 0x4ffffffb; do
	l2_query $leaf
	others="$others$leaf $L2_ANSWER
"
done

# Reasons an L2 Linux boot and its serial console always cause: external
# interrupts, CPUID (every query) and port I/O (every line on the console).
watched="$R_INTR $R_CPUID $R_IO"
for r in $watched; do
	l2_query 0x4ffffffd "$r"
	eval "before_$r=\$(regs \"\$L2_ANSWER\")"
done
l2_query 0x4ffffffc $R_CPUID
cycles_before=$(regs_to_totals "$L2_ANSWER" | cut -d' ' -f2)
l2_query
totals_before=$(regs_to_totals "$L2_ANSWER")
l2_exitstat
cp /tmp/l2-exitstat.out /tmp/l2-table
exitstat_rc=$L2_RC
l2_query
totals_after=$(regs_to_totals "$L2_ANSWER")
l2_query 0x4ffffffc $R_CPUID
cycles_after=$(regs_to_totals "$L2_ANSWER" | cut -d' ' -f2)
for r in $watched; do
	l2_query 0x4ffffffd "$r"
	eval "after_$r=\$(regs \"\$L2_ANSWER\")"
done
l2_exitstat --prom
cp /tmp/l2-exitstat.out /tmp/l2-prom
prom_rc=$L2_RC

# A second VM beside L2: exit_cost's CPUID loop.  With both stopped, each
# VM's table has exactly KVM's count of its exits, and they add up to the
# host's.
KX_NAME=per-vm
l2_vm=$(l2_vm_dir)
exit_cost 100000000 1 >/dev/null &
cost_pid=$!
until set -- /sys/kernel/debug/kvm/"$cost_pid"-*; [ -d "$1" ] && [ "$(cat "$1/exits")" -ge 5000 ]; do
	kill -0 $cost_pid 2>/dev/null || fail "exit_cost ended before its VM made 5000 exits"
	usleep 10000
done
cost_vm=$1
kill -STOP $cost_pid
l2_pause
echo "L1: exitstat --vms (L2 is ${l2_vm##*/}, exit_cost ${cost_vm##*/}):"
exitstat --vms | tee /tmp/vms || fail "exitstat --vms failed"
echo "L1: exitstat --vm ${cost_vm##*/}:"
exitstat --vm "${cost_vm##*/}" || fail "exitstat --vm failed"
sum=0
for vm in "$l2_vm" "$cost_vm"; do
	counted_exits "VM ${vm##*/}" "$vm/exit_stats"
	[ "$COUNTED" -eq "$(cat "$vm/exits")" ] || fail "VM ${vm##*/}: $COUNTED exits in its table, KVM counted $(cat "$vm/exits")"
	grep -q "^${vm##*/} *$COUNTED " /tmp/vms || fail "exitstat --vms has no row '${vm##*/} $COUNTED'"
	sum=$((sum + COUNTED))
done
counted_exits "the host"
[ "$COUNTED" -eq "$sum" ] || fail "the host counted $COUNTED exits, its two VMs $sum"
exitstat --vms --prom | grep -q "^kvm_exitstat_exits_total{source=\"host\",vm=\"${cost_vm##*/}\"} [1-9]" ||
	fail "exitstat --vms --prom has no series for VM ${cost_vm##*/}"
kill -KILL $cost_pid
wait $cost_pid 2>/dev/null
l2_resume
result $KX_NAME PASS "L2's VM and exit_cost's: each table is KVM's count, and they add up to the host's ($sum exits)"
KX_NAME=seed
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
	dmesg | grep -q -F "CPUID 0x4fffffff: exits=$1 cycles=$2" ||
		fail "query $n: no dmesg line for exits=$1 cycles=$2 ($answer)"
	summary="${summary:+$summary -> }$1"
	prev_exits=$1 prev_cycles=$2
done <<EOT
$(printf %s "$answers")
EOT
result $KX_NAME PASS "L2 cpuid exits $summary, each with its L1 dmesg line"

KX_NAME=other-leaves
l2_stock
while read -r leaf answer; do
	[ "$answer" = "$STOCK" ] ||
		fail "leaf $leaf answered '$answer' with the module loaded; stock KVM answers '$STOCK'"
done <<EOT
$(printf %s "$others")
EOT
result $KX_NAME PASS "0x4ffffff0 and 0x4ffffffb give stock KVM's answer ($STOCK)"

KX_NAME=reason-leaves
for r in $watched; do
	eval "set -- \$before_$r \$after_$r"
	[ "$1" -gt 0 ] && [ "$2 $3 $4" = "0 0 0" ] || fail "0x4ffffffd ecx=$r answered '$1 $2 $3 $4'"
	[ "$5" -ge "$1" ] || fail "0x4ffffffd ecx=$r: $5 exits after $1"
	[ "$r" = $R_INTR ] || [ "$5" -gt "$1" ] || fail "0x4ffffffd ecx=$r: $5 exits after $1"
done
eval "set -- \$before_$R_CPUID"
dmesg | grep -q -F "CPUID 0x4ffffffd ecx=$(reason_label $R_CPUID) (CPUID): exits=$1" ||
	fail "no dmesg line for 0x4ffffffd ecx=$R_CPUID exits=$1"
[ "$cycles_after" -gt "$cycles_before" ] && [ "$cycles_before" -gt 0 ] ||
	fail "0x4ffffffc ecx=$R_CPUID: cycles $cycles_before then $cycles_after"
result $KX_NAME PASS "exits of reasons $watched grow; CPUID's cycles $cycles_before -> $cycles_after"

KX_NAME=exitstat-l2
echo "exitstat in L2:"
cat /tmp/l2-table
[ "$exitstat_rc" = 0 ] || fail "exitstat exited with $exitstat_rc: $(head -n 1 /tmp/l2-table)"
set -- $totals_before $(table_row /tmp/l2-table total) $totals_after
[ "$1" -lt "$3" ] && [ "$3" -lt "$5" ] || fail "total exits: cpuid $1, then exitstat $3, then cpuid $5"
[ "$2" -le "$4" ] && [ "$4" -le "$6" ] || fail "total cycles: cpuid $2, then exitstat $4, then cpuid $6"
total=$3
for r in $watched; do
	eval "set -- \$before_$r \$after_$r"
	before=$1 after=$5
	set -- $(table_row /tmp/l2-table "$r")
	[ "$before" -le "$1" ] && [ "$1" -le "$after" ] ||
		fail "reason $r: cpuid $before, then exitstat $1, then cpuid $after"
	# Queries (CPUID) and their output (port I/O) come between.
	[ "$r" = $R_INTR ] || { [ "$before" -lt "$1" ] && [ "$1" -lt "$after" ]; } ||
		fail "reason $r: cpuid $before, then exitstat $1, then cpuid $after"
done
set -- $(table_row /tmp/l2-table $R_CPUID)
[ "$cycles_before" -le "$2" ] && [ "$2" -le "$cycles_after" ] ||
	fail "CPUID cycles: cpuid $cycles_before, then exitstat $2, then cpuid $cycles_after"
sum=$(awk 'NR > 1 && $1 != "total" { s += $3 } END { print s + 0 }' /tmp/l2-table)
[ "$sum" -le "$total" ] || fail "the reasons' exits add up to $sum, more than the total $total"
[ "$prom_rc" = 0 ] && grep -q "^kvm_exitstat_reason_exits_total{source=\"guest\",reason=\"$(reason_label $R_CPUID)\",name=\"CPUID\"} [1-9]" /tmp/l2-prom ||
	fail "exitstat --prom: rc $prom_rc, $(head -n 3 /tmp/l2-prom | tr '\n' '|')"
result $KX_NAME PASS "its table lies between cpuid's answers before and after it (total $total)"

KX_NAME=host-view
echo "exitstat in L1 (the host view):"
exitstat >/tmp/host-table || fail "exitstat in L1 failed: $(cat /tmp/host-table)"
cat /tmp/host-table
set -- $(table_row /tmp/host-table total) $totals_after
[ "$1" -gt "$3" ] || fail "host view total $1, not above L2's last answer $3"
cmp -s /tmp/host-table /sys/kernel/debug/kvm_exitstat/stats || fail "exitstat's table differs from the view"
rmmod kvm_exitstat || fail "rmmod kvm_exitstat failed"
dmesg | grep -A 2 'kvm_exitstat: unloaded:' | grep -q 'kvm_exitstat: .* [0-9][0-9.]*% ' ||
	fail "no top-reasons summary in dmesg on unload"
result $KX_NAME PASS "L1's view agrees with L2's answers; dmesg has the unload summary"
