// SPDX-License-Identifier: GPL-2.0

//! The counters: per CPU and per VM, by exit reason slot.  An exit costs an
//! epoch check and two adds to its VM's counters; the totals are the sum of
//! the slots, and the host's figures the sum of the VMs'.

use crate::{
    leaf::{Counters, Counts, ExitCounters},
    percpu::{self, possible_cpus, Cpu, Field, Pair, PerCpu},
    reasons::{Slot, SLOTS},
};
use core::mem::{offset_of, size_of};
use kernel::{
    prelude::*,
    rbtree::{RBTree, RBTreeNode},
    sync::{Arc, SpinLock},
};

/// What each CPU keeps: the reset it counts since, and its counters by
/// exit reason slot.
#[repr(C)]
struct CpuCounters {
    epoch: u64,
    by_reason: [ExitCounters; SLOTS],
}

// SAFETY: `#[repr(C)]`, and `ExitCounters` is a `#[repr(C)]` pair of
// `u64`s.
unsafe impl percpu::U64s for CpuCounters {}

const EPOCH: Field<CpuCounters> = match Field::at(offset_of!(CpuCounters, epoch)) {
    Some(field) => field,
    None => panic!("the epoch is a u64 of CpuCounters"),
};

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
/// none.  A reset starts a new epoch: each CPU zeroes its own counters at
/// its first exit in the new epoch, and readers skip the CPUs still in an
/// old one, so a reset is exact even while exits are being counted.
pub struct ExitCounts {
    per_cpu: PerCpu<CpuCounters>,
}

impl ExitCounts {
    /// Counters at zero, in epoch 0.
    pub fn new() -> Result<Self> {
        Ok(Self {
            per_cpu: PerCpu::new()?,
        })
    }

    /// Counts one exit in `slot`.  KVM calls this with preemption
    /// disabled, so it all happens on one CPU.
    pub fn record(&self, epoch: u64, slot: ExitSlot, cycles: u64) {
        if self.per_cpu.read_local(EPOCH) != epoch {
            // Zero first: a reader that sees the new epoch sees zeroes.
            for field in Field::all() {
                self.per_cpu.write_local(field, 0);
            }
            self.per_cpu.write_local(EPOCH, epoch);
        }
        self.per_cpu.count(slot.0, cycles);
    }

    /// The counters as of `epoch`.
    pub fn since(&self, epoch: u64) -> Epoch<'_> {
        Epoch {
            counts: self,
            epoch,
        }
    }
}

/// Counters read as of one epoch.
pub struct Epoch<'a> {
    counts: &'a ExitCounts,
    epoch: u64,
}

impl Epoch<'_> {
    /// The CPUs whose counters are in this epoch.
    fn cpus(&self) -> impl Iterator<Item = Cpu> + '_ {
        let per_cpu = &self.counts.per_cpu;
        possible_cpus().filter(move |&cpu| per_cpu.read(cpu, EPOCH) == self.epoch)
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
            exits: self.counts.per_cpu.read(cpu, exits),
            cycles: self.counts.per_cpu.read(cpu, cycles),
        }
    }

    /// Adds the counters by reason to `all`'s, leaving its totals alone.
    fn add_to(&self, all: &mut Counters) {
        for cpu in self.cpus() {
            for (slot, counters) in Slot::all().zip(all.by_reason.iter_mut()) {
                *counters = *counters + self.read(cpu, slot);
            }
        }
    }

    /// All counters.
    pub fn snapshot(&self) -> Counters {
        let mut all = Counters::ZERO;
        self.add_to(&mut all);
        all.total = all.by_reason.iter().copied().sum();
        all
    }
}

impl Counts for Epoch<'_> {
    fn total(&self) -> ExitCounters {
        self.cpus()
            .flat_map(|cpu| Slot::all().map(move |slot| self.read(cpu, slot)))
            .sum()
    }

    fn reason(&self, slot: Slot) -> ExitCounters {
        self.cpus().map(|cpu| self.read(cpu, slot)).sum()
    }
}

/// The counters of every VM that has its own, and what the VMs destroyed
/// since a reset counted.
pub struct Vms {
    /// Keyed by the counters' address.
    live: RBTree<usize, Arc<ExitCounts>>,
    retired: Counters,
    /// The epoch that `retired` counts since.
    retired_epoch: u64,
}

/// The host's counters: those of every VM, live or destroyed, and those of
/// the exits of VMs that have none of their own.
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
                    retired_epoch: 0,
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

    /// Keeps what a destroyed VM counted since `epoch` in the host's
    /// figures.  Its vCPUs no longer exit.
    pub fn retire_vm(&self, counts: &Arc<ExitCounts>, epoch: u64) {
        let mut vms = self.vms.lock();
        vms.live.remove(&key(counts));
        if epoch < vms.retired_epoch {
            // A reset since `epoch` has already cleared what it counted.
            return;
        }
        if epoch > vms.retired_epoch {
            vms.retired = Counters::ZERO;
            vms.retired_epoch = epoch;
        }
        counts.since(epoch).add_to(&mut vms.retired);
        vms.retired.total = vms.retired.by_reason.iter().copied().sum();
    }

    /// The host's counters as of `epoch`.
    pub fn since(&self, epoch: u64) -> HostEpoch<'_> {
        HostEpoch { host: self, epoch }
    }
}

/// The host's counters read as of one epoch.
pub struct HostEpoch<'a> {
    host: &'a Host,
    epoch: u64,
}

impl HostEpoch<'_> {
    /// The sum of `of` over every VM's counters and the unattributed ones.
    fn sum(&self, of: impl Fn(&dyn Counts) -> ExitCounters) -> ExitCounters {
        let vms = self.host.vms.lock();
        let live: ExitCounters = vms.live.values().map(|vm| of(&vm.since(self.epoch))).sum();
        let retired = if vms.retired_epoch == self.epoch {
            of(&vms.retired)
        } else {
            ExitCounters::default()
        };
        live + retired + of(&self.host.unattributed.since(self.epoch))
    }

    /// All counters.
    pub fn snapshot(&self) -> Counters {
        let mut all = self.host.unattributed.since(self.epoch).snapshot();
        {
            let vms = self.host.vms.lock();
            for vm in vms.live.values() {
                vm.since(self.epoch).add_to(&mut all);
            }
            if vms.retired_epoch == self.epoch {
                for (counters, retired) in
                    all.by_reason.iter_mut().zip(vms.retired.by_reason.iter())
                {
                    *counters = *counters + *retired;
                }
            }
        }
        all.total = all.by_reason.iter().copied().sum();
        all
    }
}

impl Counts for HostEpoch<'_> {
    fn total(&self) -> ExitCounters {
        self.sum(|counts| counts.total())
    }

    fn reason(&self, slot: Slot) -> ExitCounters {
        self.sum(|counts| counts.reason(slot))
    }
}
