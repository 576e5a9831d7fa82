// SPDX-License-Identifier: GPL-2.0

//! The counters: per CPU and per VM, by exit reason slot.  An exit costs
//! two adds to its VM's counters; the totals are the sum of the slots, and
//! the host's figures the sum of the VMs'.

use crate::{
    leaf::{Counters, Counts, ExitCounters},
    percpu::{self, possible_cpus, Cpu, CpusHeld, Field, Pair, PerCpu},
    reasons::{Slot, SLOTS},
};
use core::mem::{offset_of, size_of};
use kernel::{
    prelude::*,
    rbtree::{RBTree, RBTreeNode},
    sync::{Arc, SpinLock},
};

/// What each CPU keeps: its counters by exit reason slot.
#[repr(C)]
struct CpuCounters {
    by_reason: [ExitCounters; SLOTS],
}

// SAFETY: `#[repr(C)]`, and `ExitCounters` is a `#[repr(C)]` pair of
// `u64`s.
unsafe impl percpu::U64s for CpuCounters {}

const _: () = assert!(
    offset_of!(ExitCounters, cycles) == offset_of!(ExitCounters, exits) + size_of::<u64>(),
    "PerCpu::count adds the cost in the u64 after the count"
);

/// The offset of slot `slot`'s counters in `CpuCounters`.
fn reason_offset(slot: Slot) -> usize {
    offset_of!(CpuCounters, by_reason) + slot.index() * size_of::<ExitCounters>()
}

/// Where an exit of reason slot `slot` is counted, in any `ExitCounts`.
#[derive(Clone, Copy)]
pub struct ExitSlot(Pair<CpuCounters>);

impl ExitSlot {
    /// Where exits of `slot` are counted.
    pub fn new(slot: Slot) -> Option<Self> {
        Pair::at(reason_offset(slot)).map(Self)
    }
}

/// The counters of every CPU, for one VM or for the exits of VMs that have
/// none.
pub struct ExitCounts {
    per_cpu: PerCpu<CpuCounters>,
}

impl ExitCounts {
    /// Counters at zero.
    pub fn new() -> Result<Self> {
        Ok(Self {
            per_cpu: PerCpu::new()?,
        })
    }

    /// Counts one exit in `slot`.  KVM calls this with interrupts disabled,
    /// so a reset, which zeroes each CPU's counters in an IPI, comes before
    /// or after the whole exit.
    pub fn record(&self, slot: ExitSlot, cycles: u64) {
        self.per_cpu.count(slot.0, cycles);
    }

    /// CPU `cpu`'s counters of slot `slot`.
    fn read(&self, cpu: Cpu, slot: Slot) -> ExitCounters {
        let offset = reason_offset(slot);
        let (Some(exits), Some(cycles)) = (
            Field::at(offset + offset_of!(ExitCounters, exits)),
            Field::at(offset + offset_of!(ExitCounters, cycles)),
        ) else {
            return ExitCounters::default();
        };
        ExitCounters {
            exits: self.per_cpu.read(cpu, exits),
            cycles: self.per_cpu.read(cpu, cycles),
        }
    }

    /// Adds the counters by reason to `all`'s, leaving its totals alone.
    fn add_to(&self, all: &mut Counters) {
        for cpu in possible_cpus() {
            for (slot, counters) in Slot::all().zip(all.by_reason.iter_mut()) {
                *counters = *counters + self.read(cpu, slot);
            }
        }
    }

    /// All counters.
    pub fn snapshot(&self) -> Counters {
        let mut all = Counters::ZERO;
        self.add_to(&mut all);
        all.total_the_reasons();
        all
    }
}

impl Counts for ExitCounts {
    fn total(&self) -> ExitCounters {
        possible_cpus()
            .flat_map(|cpu| Slot::all().map(move |slot| self.read(cpu, slot)))
            .sum()
    }

    fn reason(&self, slot: Slot) -> ExitCounters {
        possible_cpus().map(|cpu| self.read(cpu, slot)).sum()
    }
}

/// The counters of every VM that has its own, and what the VMs destroyed
/// since the last reset counted.
pub struct Vms {
    /// Keyed by the counters' address.
    live: RBTree<usize, Arc<ExitCounts>>,
    retired: Counters,
}

/// The host's counters: those of every VM, live or destroyed, and those of
/// the exits of VMs that have none of their own.  Readers hold the lock
/// that a reset holds, so that they never see one half done.
#[pin_data]
pub struct Host {
    #[pin]
    vms: SpinLock<Vms>,
    /// The exits of VMs that have no counters of their own.
    pub unattributed: ExitCounts,
}

fn key(counts: &Arc<ExitCounts>) -> usize {
    core::ptr::from_ref::<ExitCounts>(counts) as usize
}

impl Host {
    /// No VMs, counters at zero.
    pub fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            vms <- kernel::new_spinlock!(
                Vms {
                    live: RBTree::new(),
                    retired: Counters::ZERO,
                },
                "kvm_exitstat::vms"
            ),
            unattributed: ExitCounts::new()?,
        })
    }

    /// New counters for a VM, which the host's figures include.
    pub fn add_vm(&self) -> Result<Arc<ExitCounts>> {
        let counts = Arc::new(ExitCounts::new()?, GFP_KERNEL)?;
        let node = RBTreeNode::new(key(&counts), counts.clone(), GFP_KERNEL)?;
        self.vms.lock().live.insert(node);
        Ok(counts)
    }

    /// Keeps what a destroyed VM counted in the host's figures.  Its vCPUs
    /// no longer exit.
    pub fn retire_vm(&self, counts: &Arc<ExitCounts>) {
        let mut vms = self.vms.lock();
        vms.live.remove(&key(counts));
        counts.add_to(&mut vms.retired);
        vms.retired.total_the_reasons();
    }

    /// Sets every counter to zero.  Each CPU zeroes its own, between two
    /// exits, so that the counts start over exactly at the reset, even
    /// while exits are being counted.  May sleep.
    pub fn reset(&self) {
        let cpus = CpusHeld::lock();
        let mut vms = self.vms.lock();
        vms.retired = Counters::ZERO;
        let vms = &*vms;
        let all = || {
            let live = vms.live.values().map(|vm| &**vm);
            Iterator::chain(live, [&self.unattributed])
        };
        cpus.on_each_online(&|| all().for_each(|counts| counts.per_cpu.zero_local()));
        for cpu in cpus.offline() {
            all().for_each(|counts| counts.per_cpu.zero_offline(cpu));
        }
    }

    /// `f` of the host's counters.
    pub fn read<R>(&self, f: impl FnOnce(&HostCounts<'_>) -> R) -> R {
        let vms = self.vms.lock();
        f(&HostCounts {
            vms: &vms,
            unattributed: &self.unattributed,
        })
    }

    /// `f` of `vm`'s counters.
    pub fn read_vm<R>(&self, vm: &ExitCounts, f: impl FnOnce(&ExitCounts) -> R) -> R {
        let _no_reset = self.vms.lock();
        f(vm)
    }
}

/// The host's counters, read under the lock.
pub struct HostCounts<'a> {
    vms: &'a Vms,
    unattributed: &'a ExitCounts,
}

impl HostCounts<'_> {
    /// The sum of `of` over every VM's counters and the unattributed ones.
    fn sum(&self, of: impl Fn(&dyn Counts) -> ExitCounters) -> ExitCounters {
        let live: ExitCounters = self.vms.live.values().map(|vm| of(&**vm)).sum();
        live + of(&self.vms.retired) + of(self.unattributed)
    }

    /// All counters.
    pub fn snapshot(&self) -> Counters {
        let mut all = self.vms.retired;
        for vm in self.vms.live.values() {
            vm.add_to(&mut all);
        }
        self.unattributed.add_to(&mut all);
        all.total_the_reasons();
        all
    }
}

impl Counts for HostCounts<'_> {
    fn total(&self) -> ExitCounters {
        self.sum(|counts| counts.total())
    }

    fn reason(&self, slot: Slot) -> ExitCounters {
        self.sum(|counts| counts.reason(slot))
    }
}
