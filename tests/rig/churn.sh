# VM churn: many small VMs created, run and destroyed while the module is
# loaded (each VM's table then matches KVM's count exactly), then while it
# is unloaded, reloaded and reset beside them (a table never counts more
# than KVM).  On one CPU: Bochs runs a VM's life 10 times faster there than
# on two; the unload scenario churns VMs on two CPUs.
# kmemleak, in the rig kernel, must find nothing the hook or the module
# left behind; the dmesg check that follows every run catches any splat.
KX_NAME=churn
echo clear >/sys/kernel/debug/kmemleak || fail "no kmemleak in the kernel"
load_exitstat
vm_churn --exact 400 >/tmp/churn.out 2>&1 || fail "$(cat /tmp/churn.out)"
exact=$(cat /tmp/churn.out)
churn_with_reloads "" 600
rmmod kvm_exitstat || fail "rmmod kvm_exitstat failed"
echo "$exact"
cat /tmp/churn.out
# kmemleak reports what a scan finds unreferenced and older than 5 s: all
# but what the last few VMs and reloads left behind.
echo scan >/sys/kernel/debug/kmemleak
echo scan >/sys/kernel/debug/kmemleak
leaks=$(grep -c '^unreferenced object' /sys/kernel/debug/kmemleak)
if [ "$leaks" -ne 0 ]; then
	head -n 30 /sys/kernel/debug/kmemleak
	fail "kmemleak: $leaks unreferenced objects after the churn"
fi
result $KX_NAME PASS "1000 VMs, $RELOADS reloads and resets during 600 of them, no leak: ${exact#vm_churn: } | $(sed 's/^vm_churn: //' /tmp/churn.out)"
