# rig: cpus=2
# Unload under load on two CPUs, for many cycles: a VM on each CPU exits
# back to back (exit_cost's CPUID loop) while kvm_exitstat is loaded, reset
# and unloaded 1000 times; each load must count, and each VM must have its
# table.  Then VMs come and go on one CPU while the module is reloaded on
# the other.  kmemleak must find nothing left behind; the dmesg check that
# follows every run fails on any oops, WARN, KASAN report or lockdep splat.
KX_NAME=stress
echo clear >/sys/kernel/debug/kmemleak || fail "no kmemleak in the kernel"
vms=
for cpu in 1 2; do
	taskset $cpu exit_cost 4000000000 1 >/dev/null &
	vms="$vms $!"
done
for vm in $vms; do
	until set -- /sys/kernel/debug/kvm/"$vm"-*; [ -d "$1" ] && [ "$(cat "$1/exits")" -gt 1000 ]; do
		kill -0 "$vm" 2>/dev/null || fail "exit_cost $vm ended before its VM ran"
		usleep 10000
	done
done
cycles=1000
before=$(kvm_exits)
start=$(date +%s)
i=0
while [ $i -lt $cycles ]; do
	i=$((i + 1))
	load_exitstat
	echo 1 >/sys/kernel/debug/kvm_exitstat/reset || fail "cycle $i: the reset failed"
	until [ "$(table_row /sys/kernel/debug/kvm_exitstat/stats total | cut -d' ' -f1)" -gt 0 ]; do
		usleep 1000
	done
	for vm in $vms; do
		cat /sys/kernel/debug/kvm/"$vm"-*/exit_stats >/dev/null || fail "cycle $i: no table for VM $vm"
	done
	rmmod kvm_exitstat || fail "cycle $i: rmmod failed"
done
seconds=$(($(date +%s) - start))
exits=$(($(kvm_exits) - before))
for vm in $vms; do
	kill -0 "$vm" 2>/dev/null || fail "exit_cost $vm died during the cycles"
	kill "$vm"
	wait "$vm"
done
result $KX_NAME PASS "$cycles loads, resets and unloads in $seconds s while a VM on each CPU exited $exits times"

# VMs created, run and destroyed on one CPU while the module is unloaded,
# reloaded and reset on the other.
KX_NAME=churn-two-cpus
# This scenario's shell: $$ is the shell that sourced it.
self=$(exec sh -c 'echo $PPID')
taskset -p 1 "$self" >/dev/null || fail "could not keep the reloads on CPU 0"
churn_with_reloads "taskset 2" 200 1
rmmod kvm_exitstat || fail "rmmod kvm_exitstat failed"
echo scan >/sys/kernel/debug/kmemleak
echo scan >/sys/kernel/debug/kmemleak
leaks=$(grep -c '^unreferenced object' /sys/kernel/debug/kmemleak)
if [ "$leaks" -ne 0 ]; then
	head -n 30 /sys/kernel/debug/kmemleak
	fail "kmemleak: $leaks unreferenced objects after the stress"
fi
result $KX_NAME PASS "$RELOADS reloads and resets on CPU 0 while VMs came and went on CPU 1, no leak: $(sed 's/^vm_churn: //' /tmp/churn.out)"
