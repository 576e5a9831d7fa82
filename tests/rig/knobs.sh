# rig: l2
# The run-time settings in /sys/kernel/debug/kvm_exitstat/, each asserted
# from the L2 guest: the three layouts (and exitstat in each), guest access
# off, reset, the scope, and the per-query log line.
KX_NAME=knob-defaults
knobs=/sys/kernel/debug/kvm_exitstat
load_exitstat
for knob in "layout seed" "guest_access Y" "scope vm" "log_queries N"; do
	set -- $knob
	[ "$(cat "$knobs/$1")" = "$2" ] || fail "$1 is '$(cat "$knobs/$1")' after loading, not '$2'"
done
l2_start
l2_stock

# Four-leaf layout: 0x4ffffffe gives the total cycles, whatever ECX is.
KX_NAME=layouts
echo four-leaf >"$knobs/layout" || fail "could not select the four-leaf layout"
l2_query
set -- $(regs_to_totals "$L2_ANSWER")
cycles_before=$2
l2_query 0x4ffffffe $R_CPUID
set -- $(regs "$L2_ANSWER")
[ "$1 $4" = "0 0" ] || fail "four-leaf 0x4ffffffe answered '$L2_ANSWER'"
fe_cycles=$(regs_to_totals "$L2_ANSWER" | cut -d' ' -f2)
l2_query
cycles_after=$(regs_to_totals "$L2_ANSWER" | cut -d' ' -f2)
[ "$cycles_before" -lt "$fe_cycles" ] && [ "$fe_cycles" -lt "$cycles_after" ] ||
	fail "four-leaf 0x4ffffffe: cycles $fe_cycles, between $cycles_before and $cycles_after?"
# Seed layout: 0x4ffffffe gives the exits of the reason in ECX.
if echo bogus >"$knobs/layout" 2>/dev/null; then fail "layout accepted 'bogus'"; fi
[ "$(cat "$knobs/layout")" = four-leaf ] || fail "a rejected write changed the layout"
echo seed >"$knobs/layout" || fail "could not select the seed layout"
l2_query 0x4ffffffe $R_CPUID
set -- $(regs "$L2_ANSWER")
fe_exits=$1
[ "$1" -gt 0 ] && [ "$2 $3 $4" = "0 0 0" ] || fail "seed 0x4ffffffe ecx=$R_CPUID answered '$L2_ANSWER'"
l2_query 0x4ffffffd $R_CPUID
set -- $(regs "$L2_ANSWER")
[ "$1" -gt "$fe_exits" ] || fail "0x4ffffffd ecx=$R_CPUID gave $1 after 0x4ffffffe's $fe_exits"
l2_query 0x4ffffffe $R_UNDEFINED
[ "$(regs "$L2_ANSWER")" = "0 0 0 4294967295" ] || fail "seed 0x4ffffffe ecx=$R_UNDEFINED answered '$L2_ANSWER'"
result $KX_NAME PASS "four-leaf: 0x4ffffffe = total cycles ($fe_cycles); seed: CPUID exits ($fe_exits)"

# The Fall 2022 handout's layout: 0x4ffffffc the total exits (EDX:EAX),
# 0x4ffffffd the total cycles (EBX:ECX), 0x4ffffffe a reason's exits,
# 0x4fffffff its cycles; ECX is ignored by the first two.
KX_NAME=layout-fall-2022
echo fall-2022 >"$knobs/layout" || fail "could not select the fall-2022 layout"
[ "$(cat "$knobs/layout")" = fall-2022 ] || fail "layout reads '$(cat "$knobs/layout")'"
l2_query 0x4ffffffc 3
set -- $(regs "$L2_ANSWER")
[ "$1" -gt 0 ] && [ "$2 $3" = "0 0" ] || fail "fall-2022 0x4ffffffc answered '$L2_ANSWER'"
total_exits=$1
l2_query 0x4ffffffd 7
set -- $(regs "$L2_ANSWER")
[ "$1 $4" = "0 0" ] && [ "$3" -gt 0 ] || fail "fall-2022 0x4ffffffd answered '$L2_ANSWER'"
l2_query 0x4ffffffe $R_CPUID
set -- $(regs "$L2_ANSWER")
[ "$1" -gt 0 ] && [ "$1" -lt "$total_exits" ] && [ "$2 $3 $4" = "0 0 0" ] ||
	fail "fall-2022 0x4ffffffe ecx=$R_CPUID answered '$L2_ANSWER'"
cpuid_exits=$1
l2_query 0x4fffffff $R_CPUID
set -- $(regs "$L2_ANSWER")
[ "$1 $4" = "0 0" ] && [ "$3" -gt 0 ] || fail "fall-2022 0x4fffffff ecx=$R_CPUID answered '$L2_ANSWER'"
l2_query 0x4fffffff $R_UNDEFINED
[ "$(regs "$L2_ANSWER")" = "0 0 0 4294967295" ] || fail "fall-2022 0x4fffffff ecx=$R_UNDEFINED answered '$L2_ANSWER'"
result $KX_NAME PASS "total exits $total_exits, CPUID exits $cpuid_exits; reason $R_UNDEFINED undefined"

# exitstat in L2 tells the layout from the leaves' answers and prints the
# same table in each: no row lost, no count smaller than in the one before.
KX_NAME=exitstat-layouts
previous=
for layout in seed four-leaf fall-2022; do
	echo $layout >"$knobs/layout" || fail "could not select the $layout layout"
	l2_exitstat
	[ "$L2_RC" = 0 ] || fail "exitstat in the $layout layout: rc $L2_RC, $(head -n 1 /tmp/l2-exitstat.out)"
	head -n 1 /tmp/l2-exitstat.out | grep -q '^reason name *exits' ||
		fail "exitstat in the $layout layout printed no table: $(head -n 1 /tmp/l2-exitstat.out)"
	cp /tmp/l2-exitstat.out "/tmp/l2-table-$layout"
	if [ -n "$previous" ]; then
		lost=$(awk 'function row() { return FNR > 1 }
			function exits() { return $1 == "total" ? $2 : $3 }
			NR == FNR { if (row()) before[$1] = exits(); next }
			row() { after[$1] = exits() }
			END { for (r in before) if (!(r in after) || after[r] + 0 < before[r] + 0) print r }' \
			"/tmp/l2-table-$previous" "/tmp/l2-table-$layout")
		[ -z "$lost" ] || fail "$layout after $previous: rows shrank or vanished: $lost"
	fi
	previous=$layout
done
echo seed >"$knobs/layout" || fail "could not select the seed layout"
result $KX_NAME PASS "the same table in the seed, four-leaf and fall-2022 layouts ($(table_row /tmp/l2-table-fall-2022 total | cut -d' ' -f1) exits)"

# Guest access off: stock answers, and exitstat in L2 says why it has none.
KX_NAME=guest-access
echo N >"$knobs/guest_access" || fail "could not switch guest access off"
l2_query
[ "$L2_ANSWER" = "$STOCK" ] || fail "guest access off: 0x4fffffff answered '$L2_ANSWER', stock is '$STOCK'"
l2_exitstat
[ "$L2_RC" = 1 ] && grep -q "not kvm-exitstat's" /tmp/l2-exitstat.out ||
	fail "exitstat with guest access off: rc $L2_RC, $(cat /tmp/l2-exitstat.out)"
echo Y >"$knobs/guest_access" || fail "could not switch guest access on"
l2_query
[ "$L2_ANSWER" != "$STOCK" ] || fail "guest access back on: still the stock answer"
set -- $(regs_to_totals "$L2_ANSWER")
exits_before_reset=$1
result $KX_NAME PASS "off: stock answer ($STOCK) and exitstat refuses; on: exits=$exits_before_reset"

# Reset: the counters start again from zero.
KX_NAME=reset
echo 1 >"$knobs/reset" || fail "could not reset"
l2_query
set -- $(regs_to_totals "$L2_ANSWER")
[ "$1" -gt 0 ] && [ "$1" -lt $((exits_before_reset / 2)) ] ||
	fail "after reset: exits=$1 (before: $exits_before_reset)"
exits_after_reset=$1
result $KX_NAME PASS "exits $exits_before_reset -> reset -> $exits_after_reset"

# Scope: L2 is the only VM, so the host's figures and its VM's agree; each
# query sees the exits of the one before it.
KX_NAME=scope
if echo bogus >"$knobs/scope" 2>/dev/null; then fail "scope accepted 'bogus'"; fi
[ "$(cat "$knobs/scope")" = vm ] || fail "a rejected write changed the scope"
totals=
for scope in host vm host; do
	echo $scope >"$knobs/scope" || fail "could not select the $scope scope"
	[ "$(cat "$knobs/scope")" = $scope ] || fail "scope reads '$(cat "$knobs/scope")'"
	l2_query
	set -- $(regs_to_totals "$L2_ANSWER")
	totals="$totals $1"
done
set -- $totals
[ "$1" -lt "$2" ] && [ "$2" -lt "$3" ] || fail "exits in the host, vm, host scopes: $totals"
echo vm >"$knobs/scope" || fail "could not select the vm scope"
l2_pause
cmp -s "$knobs/stats" "$(l2_vm_dir)/exit_stats" ||
	fail "one VM, but its table differs from the host's: $(diff "$knobs/stats" "$(l2_vm_dir)/exit_stats" | head -n 3 | tr '\n' '|')"
l2_resume
result $KX_NAME PASS "exits in the host, vm, host scopes:$totals; with L2 paused its VM's table is the host's"

# The per-query log line, off by default.  (Each query's exits are unique
# to it.)
KX_NAME=log-queries
l2_query
set -- $(regs_to_totals "$L2_ANSWER")
if dmesg | grep -q "CPUID 0x4fffffff: exits=$1 "; then fail "log_queries=N, but the query was logged"; fi
echo Y >"$knobs/log_queries" || fail "could not switch the query log on"
l2_query
set -- $(regs_to_totals "$L2_ANSWER")
dmesg | grep -q "CPUID 0x4fffffff: exits=$1 .* (vm scope)" || fail "log_queries=Y, but no vm scope line for exits=$1"
echo host >"$knobs/scope" || fail "could not select the host scope"
l2_query
set -- $(regs_to_totals "$L2_ANSWER")
dmesg | grep -q "CPUID 0x4fffffff: exits=$1 .* (host scope)" || fail "log_queries=Y, but no host scope line for exits=$1"
echo vm >"$knobs/scope" || fail "could not select the vm scope"
l2_stop
result $KX_NAME PASS "N: no line; Y: the line, with the scope that answered"
rmmod kvm_exitstat || fail "rmmod kvm_exitstat failed"
