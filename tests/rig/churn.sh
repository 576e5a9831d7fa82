# rig: cpus=2
# VM churn: many small VMs created, run and destroyed while the module is
# loaded (each VM's table then matches KVM's count exactly), then while it
# is unloaded and reloaded beside them (a table never counts more than KVM).
# kmemleak, in the rig kernel, must find nothing the hook or the module
# left behind; the dmesg check that follows every run catches any splat.
KX_NAME=churn
echo clear >/sys/kernel/debug/kmemleak || fail "no kmemleak in the kernel"
load_exitstat
vm_churn --exact 400 >/tmp/churn.out 2>&1 || fail "$(cat /tmp/churn.out)"
exact=$(cat /tmp/churn.out)
vm_churn 600 >/tmp/churn.out 2>&1 &
churn=$!
reloads=0
while kill -0 $churn 2>/dev/null; do
	rmmod kvm_exitstat || fail "rmmod failed during the churn"
	load_exitstat
	reloads=$((reloads + 1))
done
wait $churn || fail "$(cat /tmp/churn.out)"
rmmod kvm_exitstat || fail "rmmod kvm_exitstat failed"
echo "$exact"
cat /tmp/churn.out
# A leak is reported once it is unreferenced at two scans.
echo scan >/sys/kernel/debug/kmemleak
echo scan >/sys/kernel/debug/kmemleak
leaks=$(grep -c '^unreferenced object' /sys/kernel/debug/kmemleak)
if [ "$leaks" -ne 0 ]; then
	head -n 30 /sys/kernel/debug/kmemleak
	fail "kmemleak: $leaks unreferenced objects after the churn"
fi
result $KX_NAME PASS "1000 VMs, $reloads reloads during 600 of them, no leak: ${exact#vm_churn: } | $(sed 's/^vm_churn: //' /tmp/churn.out)"
