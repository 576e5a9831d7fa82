# VM churn: many small VMs created, run and destroyed while the module is
# loaded (each VM's table then matches KVM's count exactly), then while it
# is unloaded, reloaded and reset beside them (a table never counts more
# than KVM).  It runs on the SVM machine, where a VM's life is cheap (on
# Bochs with two CPUs it is ten times slower than with one); the stress
# scenario churns VMs on one CPU while the module reloads on the other.
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
no_leaks "the churn"
result $KX_NAME PASS "1000 VMs, $RELOADS reloads and resets during 600 of them, no leak: ${exact#vm_churn: } | $(sed 's/^vm_churn: //' /tmp/churn.out)"
