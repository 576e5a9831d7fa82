// SPDX-License-Identifier: GPL-2.0

//! Counts every VM exit and the TSC cycles KVM spends handling it, per CPU,
//! per VM and per exit reason, and serves the figures to guests through the
//! CPUID leaves 0x4ffffffc-0x4fffffff (by default each guest its own VM's)
//! and to the host through debugfs.
//!
//! It registers with KVM's exit statistics hook (`<asm/kvm_exit_stats.h>`),
//! added by the patch series in `patches/`.  The FFI lives in `hook.rs`,
//! `percpu.rs`, `debugfs.rs` and `ratelimit.rs`; this file is safe Rust.

use core::{
    fmt::{self, Write},
    mem::{offset_of, size_of},
    sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed},
};
use kernel::{bindings, c_str, prelude::*, str::CStr, sync::Arc};

pub mod debugfs;
pub mod hook;
pub mod leaf;
pub mod percpu;
pub mod ratelimit;
pub mod reasons;
pub mod table;

use debugfs::{SeqWriter, Spec};
use hook::{CpuidQuery, ExitStats};
use leaf::{Answer, Counters, Counts, CpuidRegs, ExitCounters, Layout};
use percpu::{possible_cpus, Field, PerCpu};
use ratelimit::RateLimit;
use reasons::{Slot, Vendor};

module! {
    type: KvmExitStat,
    name: "kvm_exitstat",
    author: "kvm-exitstat developers",
    description: "VM exit counts and handling cycles, served to guests through CPUID",
    license: "GPL",
}

/// What each CPU keeps: its counters, and the reset they count since.
#[repr(C)]
struct CpuCounters {
    epoch: u64,
    counters: Counters,
}

// SAFETY: `#[repr(C)]`, and `Counters` is `#[repr(C)]` `ExitCounters`,
// which are `#[repr(C)]` pairs of `u64`s.
unsafe impl percpu::U64s for CpuCounters {}

const EPOCH: Field<CpuCounters> = match Field::at(offset_of!(CpuCounters, epoch)) {
    Some(field) => field,
    None => panic!("the epoch is a u64 of CpuCounters"),
};

/// The offset of the totals in `CpuCounters`.
const TOTAL: usize = offset_of!(CpuCounters, counters) + offset_of!(Counters, total);

/// The offset of slot `slot`'s counters in `CpuCounters`.
fn reason_offset(slot: Slot) -> usize {
    offset_of!(CpuCounters, counters)
        + offset_of!(Counters, by_reason)
        + slot.index() * size_of::<ExitCounters>()
}

/// The exits and cycles of the `ExitCounters` at `offset`.
fn exit_fields(offset: usize) -> Option<[Field<CpuCounters>; 2]> {
    Some([
        Field::at(offset + offset_of!(ExitCounters, exits))?,
        Field::at(offset + offset_of!(ExitCounters, cycles))?,
    ])
}

/// The counters of every CPU, for the host or one VM.  A reset starts a new
/// epoch: each CPU zeroes its own counters at its first exit in the new
/// epoch, and readers skip the CPUs still in an old one, so a reset is
/// exact even while exits are being counted.
struct ExitCounts {
    per_cpu: PerCpu<CpuCounters>,
}

impl ExitCounts {
    fn new() -> Result<Self> {
        Ok(Self {
            per_cpu: PerCpu::new()?,
        })
    }

    /// Counts one exit in `slot`.  KVM calls this with preemption
    /// disabled, so it all happens on one CPU.
    fn record(&self, epoch: u64, slot: Slot, cycles: u64) {
        if self.per_cpu.read_local(EPOCH) != epoch {
            // Zero first: a reader that sees the new epoch sees zeroes.
            for field in Field::all() {
                self.per_cpu.write_local(field, 0);
            }
            self.per_cpu.write_local(EPOCH, epoch);
        }
        for offset in [TOTAL, reason_offset(slot)] {
            if let Some([exits, spent]) = exit_fields(offset) {
                self.per_cpu.add(exits, 1);
                self.per_cpu.add(spent, cycles);
            }
        }
    }

    /// The counters as of `epoch`.
    fn since(&self, epoch: u64) -> Epoch<'_> {
        Epoch {
            counts: self,
            epoch,
        }
    }
}

/// Counters read as of one epoch.
struct Epoch<'a> {
    counts: &'a ExitCounts,
    epoch: u64,
}

impl Epoch<'_> {
    /// The `ExitCounters` at `offset`, summed over the CPUs in this epoch.
    fn sum(&self, offset: usize) -> ExitCounters {
        let Some([exits, spent]) = exit_fields(offset) else {
            return ExitCounters::default();
        };
        let per_cpu = &self.counts.per_cpu;
        possible_cpus()
            .filter(|&cpu| per_cpu.read(cpu, EPOCH) == self.epoch)
            .map(|cpu| ExitCounters {
                exits: per_cpu.read(cpu, exits),
                cycles: per_cpu.read(cpu, spent),
            })
            .sum()
    }

    /// All counters.
    fn snapshot(&self) -> Counters {
        let mut all = Counters::ZERO;
        all.total = self.total();
        for (slot, counters) in Slot::all().zip(all.by_reason.iter_mut()) {
            *counters = self.reason(slot);
        }
        all
    }
}

impl Counts for Epoch<'_> {
    fn total(&self) -> ExitCounters {
        self.sum(TOTAL)
    }

    fn reason(&self, slot: Slot) -> ExitCounters {
        self.sum(reason_offset(slot))
    }
}

/// Whose figures the leaves give a guest.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Its own VM's.
    Vm,
    /// The whole host's, every VM's.
    Host,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Scope::Vm => "vm",
            Scope::Host => "host",
        }
    }

    fn parse(input: &[u8]) -> Option<Self> {
        [Scope::Vm, Scope::Host]
            .into_iter()
            .find(|scope| leaf::trim_blanks(input) == scope.name().as_bytes())
    }
}

/// The counters, and the settings that the debugfs files change.
#[pin_data]
struct Collector {
    /// Whose exit reasons KVM reports.
    vendor: Vendor,
    host: ExitCounts,
    /// The epoch of every `ExitCounts`: a reset resets the host and all VMs.
    epoch: AtomicU64,
    /// Whether the leaves give the guest its VM's figures (else the host's).
    vm_scope: AtomicBool,
    /// Whether the leaves are answered; if not, KVM answers as stock.
    guest_access: AtomicBool,
    /// A `Layout`, as `u8`.
    layout: AtomicU8,
    /// Whether each answered query is logged (rate-limited).
    log_queries: AtomicBool,
    #[pin]
    query_log: RateLimit,
}

impl Collector {
    fn new(vendor: Vendor) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            vendor,
            host: ExitCounts::new()?,
            epoch: AtomicU64::new(0),
            vm_scope: AtomicBool::new(true),
            guest_access: AtomicBool::new(true),
            layout: AtomicU8::new(Layout::default() as u8),
            log_queries: AtomicBool::new(false),
            query_log <- RateLimit::new(),
        })
    }

    fn layout(&self) -> Layout {
        Layout::from_u8(self.layout.load(Relaxed))
    }

    fn scope(&self) -> Scope {
        if self.vm_scope.load(Relaxed) {
            Scope::Vm
        } else {
            Scope::Host
        }
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(Relaxed)
    }

    fn host_snapshot(&self) -> Counters {
        self.host.since(self.epoch()).snapshot()
    }

    fn log_query(&self, answer: &Answer, scope: Scope) {
        if self.log_queries.load(Relaxed) && self.query_log.allow(c_str!("kvm_exitstat")) {
            pr_info!("{answer} ({} scope)\n", scope.name());
        }
    }
}

impl ExitStats for Collector {
    type Vm = ExitCounts;

    fn vm_init(&self) -> Result<ExitCounts> {
        ExitCounts::new().inspect_err(|_| {
            pr_warn!("no memory for a VM's counters: its exits count only for the host\n");
        })
    }

    fn record_exit(&self, vm: Option<&ExitCounts>, exit_reason: u32, cycles: u64) {
        let epoch = self.epoch();
        let slot = self.vendor.slot(exit_reason);
        self.host.record(epoch, slot, cycles);
        if let Some(vm) = vm {
            vm.record(epoch, slot, cycles);
        }
    }

    fn emulate_cpuid(&self, vm: Option<&ExitCounts>, query: CpuidQuery) -> Option<CpuidRegs> {
        if !self.guest_access.load(Relaxed) {
            return None;
        }
        let scope = self.scope();
        let counts = match scope {
            Scope::Vm => vm?,
            Scope::Host => &self.host,
        };
        let answer = leaf::answer(
            self.vendor,
            query.leaf,
            query.subleaf,
            query.own_exit,
            self.layout(),
            &counts.since(self.epoch()),
        )?;
        self.log_query(&answer, scope);
        Some(answer.regs())
    }

    fn show_vm(&self, vm: &ExitCounts, out: &mut SeqWriter) -> fmt::Result {
        let counters = vm.since(self.epoch()).snapshot();
        write!(out, "{}", table::Table(self.vendor, &counters))
    }
}

/// The files in `/sys/kernel/debug/kvm_exitstat/`.
#[derive(Clone, Copy)]
enum Knob {
    /// The statistics table (read).
    Stats,
    /// `Y` or `N`: whether guests get the leaves (read, write).
    GuestAccess,
    /// `seed`, `four-leaf` or `fall-2022` (read, write).
    Layout,
    /// `vm` or `host`: whose figures the leaves give (read, write).
    Scope,
    /// `Y` or `N`: whether answered queries are logged (read, write).
    LogQueries,
    /// Writing `1` sets all counters to zero (write).
    Reset,
}

const fn knob(name: &'static CStr, mode: u16, file: Knob) -> Spec<Knob> {
    Spec { name, mode, file }
}

const KNOBS: [Spec<Knob>; 6] = [
    knob(c_str!("stats"), 0o400, Knob::Stats),
    knob(c_str!("guest_access"), 0o600, Knob::GuestAccess),
    knob(c_str!("layout"), 0o600, Knob::Layout),
    knob(c_str!("scope"), 0o600, Knob::Scope),
    knob(c_str!("log_queries"), 0o600, Knob::LogQueries),
    knob(c_str!("reset"), 0o200, Knob::Reset),
];

impl Knob {
    /// The Y/N setting this file shows and sets, if it is one.
    fn flag(self, collector: &Collector) -> Option<&AtomicBool> {
        match self {
            Knob::GuestAccess => Some(&collector.guest_access),
            Knob::LogQueries => Some(&collector.log_queries),
            Knob::Stats | Knob::Layout | Knob::Scope | Knob::Reset => None,
        }
    }
}

impl debugfs::Files for Collector {
    type File = Knob;

    fn show(&self, knob: Knob, out: &mut SeqWriter) -> fmt::Result {
        if let Some(flag) = knob.flag(self) {
            return writeln!(out, "{}", if flag.load(Relaxed) { "Y" } else { "N" });
        }
        match knob {
            Knob::Stats => write!(out, "{}", table::Table(self.vendor, &self.host_snapshot())),
            Knob::Layout => writeln!(out, "{}", self.layout().name()),
            Knob::Scope => writeln!(out, "{}", self.scope().name()),
            Knob::GuestAccess | Knob::LogQueries | Knob::Reset => Ok(()),
        }
    }

    fn store(&self, knob: Knob, input: &[u8]) -> Result {
        if let Some(flag) = knob.flag(self) {
            flag.store(debugfs::parse_bool(input)?, Relaxed);
            return Ok(());
        }
        match knob {
            Knob::Layout => {
                let layout = Layout::parse(input).ok_or(EINVAL)?;
                self.layout.store(layout as u8, Relaxed);
            }
            Knob::Scope => {
                let scope = Scope::parse(input).ok_or(EINVAL)?;
                self.vm_scope.store(scope == Scope::Vm, Relaxed);
            }
            Knob::Reset if debugfs::parse_bool(input)? => {
                self.epoch.fetch_add(1, Relaxed);
            }
            Knob::Reset => {}
            Knob::Stats | Knob::GuestAccess | Knob::LogQueries => return Err(EINVAL),
        }
        Ok(())
    }
}

/// How many reasons the unload summary lists.
const SUMMARY_REASONS: usize = 5;

struct KvmExitStat {
    /// `None` once unregistered, in `drop`.
    registration: Option<hook::Registration<Collector>>,
    _knobs: debugfs::Dir<Collector>,
    collector: Arc<Collector>,
}

impl kernel::Module for KvmExitStat {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let no_vendor = || {
            pr_err!("no KVM vendor module that reports VM exits is loaded: load kvm_intel or kvm_amd first\n");
            Error::from_errno(-(bindings::EOPNOTSUPP as i32))
        };
        let vendor = hook::vendor().ok_or_else(no_vendor)?;
        let collector = Arc::pin_init(Collector::new(vendor), GFP_KERNEL)?;
        let registration = hook::Registration::new(collector.clone()).map_err(|error| {
            if error.to_errno() == -(bindings::EOPNOTSUPP as i32) {
                // Unloaded since it was asked.
                no_vendor()
            } else {
                if error == EBUSY {
                    pr_err!("another VM exit statistics collector is registered with KVM\n");
                }
                error
            }
        })?;
        let knobs =
            debugfs::Dir::create(c_str!("kvm_exitstat"), module, collector.clone(), &KNOBS)?;
        pr_info!(
            "loaded: counting VM exits ({} exit reasons); CPUID {:#010x}-{:#010x} for guests, layout {}; /sys/kernel/debug/kvm_exitstat/ for the host\n",
            vendor.name(),
            leaf::LEAF_REASON_CYCLES,
            leaf::LEAF_TOTALS,
            collector.layout().name()
        );
        Ok(Self {
            registration: Some(registration),
            _knobs: knobs,
            collector,
        })
    }
}

impl Drop for KvmExitStat {
    fn drop(&mut self) {
        // Unregister first, so that the summary has the final figures.
        self.registration = None;
        let all = self.collector.host_snapshot();
        pr_info!(
            "unloaded: {} exits, {} cycles; top reasons:\n",
            all.total.exits,
            all.total.cycles
        );
        pr_info!("{}\n", table::Header);
        for row in table::rows(self.collector.vendor, &all).take(SUMMARY_REASONS) {
            pr_info!("{row}\n");
        }
    }
}
