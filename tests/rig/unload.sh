# rig: l2 cpus=2
# Unload under load: rmmod and insmod kvm_exitstat while an L2 guest keeps
# exiting.  With the module out, the leaf answers what stock KVM answers;
# after a reload it counts again, from the first exit after the load, as
# KVM's own statistic does; resets under load are exact.  The dmesg check
# that follows every run fails on any oops, WARN or lockdep/RCU splat.
KX_NAME=unload
load_exitstat
l2_start
l2_stock
stock=$STOCK
l2_query
[ "$L2_ANSWER" != "$stock" ] || fail "the leaf gave the stock answer with the module loaded"
echo load >&3
l2_wait '^L2-LOADING' 1 60 || fail "L2 did not start its exit loop"
cycles=3
for i in $(seq $cycles); do
	rmmod kvm_exitstat || fail "cycle $i: rmmod failed"
	l2_query
	out=$L2_ANSWER
	[ "$out" = "$stock" ] || fail "cycle $i, module out: leaf answered '$out', stock KVM answers '$stock'"
	load_exitstat
	l2_query
	out=$L2_ANSWER
	set -- $(regs_to_totals "$out")
	[ "$out" != "$stock" ] && [ "$1" -gt 0 ] || fail "cycle $i, reloaded: leaf answered '$out'"
	echo "cycle $i: out -> stock answer ($stock); reloaded -> exits=$1 cycles=$2"
done
dmesg | grep kvm_exitstat | grep -E 'loaded|unloaded'
result $KX_NAME PASS "$cycles rmmod/insmod cycles while L2 kept exiting; stock answers while out"

# Loaded while L2's vCPU exists but is stopped: every exit after the load
# is counted, exactly as KVM counts it.
KX_NAME=load-with-vm
rmmod kvm_exitstat || fail "rmmod kvm_exitstat failed"
l2_pause
before=$(kvm_exits)
load_exitstat
l2_resume
await_exits 2000 "$before"
l2_pause
after=$(kvm_exits)
counted_exits "after the load"
[ "$COUNTED" -eq $((after - before)) ] || fail "counted $COUNTED exits since the load, KVM $((after - before))"
vm=$(l2_vm_dir)
counted_exits "L2's VM after the load" "$vm/exit_stats"
[ "$COUNTED" -eq $((after - before)) ] || fail "L2's VM table: $COUNTED exits since the load, KVM $((after - before))"
result $KX_NAME PASS "$COUNTED exits since the load, as KVM counts them, in the host's and the VM's (${vm##*/}) tables"

# Loaded while L2 keeps exiting: every exit after insmod returns is counted,
# and none from before it started.
KX_NAME=load-under-load
l2_resume
rmmod kvm_exitstat || fail "rmmod kvm_exitstat failed"
count_across insmod load_exitstat
result $KX_NAME PASS "$COUNTED exits: at least KVM's after insmod, at most those since it started"

# Resets while L2 keeps exiting on the other CPU: L2's threads on CPU 1,
# the resets on CPU 0, so that they race.  Each reset is exact, so the
# totals stay the sum of the reasons, and the exits since the last reset
# are KVM's.
KX_NAME=reset-under-load
l2_resume
echo spin >&3
l2_wait '^L2-SPINNING' 1 60 || fail "L2 did not start its busy exit loop"
for task in /proc/"$L2_PID"/task/*; do
	taskset -p 2 "${task##*/}" >/dev/null || fail "could not keep L2's threads on CPU 1"
done
resets=1000
taskset 1 sh -c "i=0; while [ \$i -lt $resets ]; do echo 1 >/sys/kernel/debug/kvm_exitstat/reset || exit 1; i=\$((i + 1)); done" ||
	fail "a reset failed"
l2_pause
counted_exits "after $resets resets under load"
l2_resume
last_reset() {
	echo 1 >/sys/kernel/debug/kvm_exitstat/reset || fail "the last reset failed"
}
count_across "the last reset" last_reset
host=$COUNTED
counted_exits "L2's VM after the last reset" "$(l2_vm_dir)/exit_stats"
[ "$COUNTED" -eq "$host" ] || fail "after the last reset: L2's VM table has $COUNTED exits, the host's $host"
result $KX_NAME PASS "$resets resets under load, then $COUNTED exits; totals = sum of reasons"
l2_resume
l2_stop
rmmod kvm_exitstat || fail "rmmod kvm_exitstat failed"
