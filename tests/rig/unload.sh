# rig: l2 cpus=2
# Unload under load: rmmod and insmod kvm_exitstat while an L2 guest keeps
# exiting.  With the module out, the leaf answers what stock KVM answers;
# after a reload it counts again.  The dmesg check that follows every run
# fails on any oops, WARN or lockdep/RCU splat.
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
l2_stop
dmesg | grep kvm_exitstat | grep -E 'loaded|unloaded'
result $KX_NAME PASS "$cycles rmmod/insmod cycles while L2 kept exiting; stock answers while out"
rmmod kvm_exitstat || fail "rmmod kvm_exitstat failed"
