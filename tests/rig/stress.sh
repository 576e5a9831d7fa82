# rig: cpus=2
# Unload under load on two CPUs, for many cycles: a VM on each CPU exits
# back to back (exit_cost's CPUID loop) while kvm_exitstat is loaded, reset
# and unloaded 1000 times; each load must count, and each VM must have its
# table.  Every load and unload patches the hook's static branch while both
# vCPUs run through it.  Then VMs come and go on one CPU while the module is
# reloaded on the other.  kmemleak must find nothing left behind; the dmesg
# check that follows every run fails on any oops, WARN, KASAN report or
# lockdep splat.
KX_NAME=stress
echo clear >/sys/kernel/debug/kmemleak || fail "no kmemleak in the kernel"
vms=
for cpu in 1 2; do
	taskset $cpu exit_cost --pause 4000000000 1 >/dev/null &
	vms="$vms $!"
done
for vm in $vms; do
	until set -- /sys/kernel/debug/kvm/"$vm"-*; [ -d "$1" ] && [ "$(cat "$1/exits")" -gt 1000 ]; do
		kill -0 "$vm" 2>/dev/null || fail "exit_cost $vm ended before its VM ran"
		usleep 10000
	done
done
# The VMs' directories in KVM's debugfs.
dirs=
for vm in $vms; do
	set -- /sys/kernel/debug/kvm/"$vm"-*
	dirs="$dirs $1"
done
vm_exits() {
	for dir in $dirs; do
		cat "$dir/exits"
	done
}
cycles=1000
set -- $(vm_exits)
before="$1 $2"
start=$(date +%s)
reload /lib/modules/kvm_exitstat.ko $cycles $dirs || fail "the reloads stopped"
seconds=$(($(date +%s) - start))
set -- $before $(vm_exits)
[ "$3" -gt "$1" ] && [ "$4" -gt "$2" ] || fail "a VM did not exit during the cycles: $*"
exits="$(($3 - $1)) and $(($4 - $2))"
for vm in $vms; do
	kill -0 "$vm" 2>/dev/null || fail "exit_cost $vm died during the cycles"
	kill "$vm"
	wait "$vm" 2>/dev/null
done
result $KX_NAME PASS "$cycles loads, resets and unloads in $seconds s while the VMs on CPU 0 and CPU 1 exited $exits times"

# VMs created, run and destroyed on one CPU while the module is unloaded,
# reloaded and reset on the other.
KX_NAME=churn-two-cpus
# This scenario's shell: $$ is the shell that sourced it.
self=$(exec sh -c 'echo $PPID')
taskset -p 1 "$self" >/dev/null || fail "could not keep the reloads on CPU 0"
load_exitstat
churn_with_reloads "taskset 2" 100 1
rmmod kvm_exitstat || fail "rmmod kvm_exitstat failed"
no_leaks "the stress"
result $KX_NAME PASS "$RELOADS reloads and resets on CPU 0 while VMs came and went on CPU 1, then no leak: $(sed 's/^vm_churn: //' /tmp/churn.out)"
