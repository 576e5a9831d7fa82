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
    sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed},
};
use kernel::{
    bindings, c_str,
    prelude::*,
    str::CStr,
    sync::{Arc, ArcBorrow},
};

pub mod counts;
pub mod debugfs;
pub mod hook;
pub mod leaf;
pub mod percpu;
pub mod ratelimit;
pub mod reasons;
pub mod table;

use counts::{ExitCounts, ExitSlot, Host};
use debugfs::{SeqWriter, Spec};
use hook::{CpuidQuery, ExitStats};
use leaf::{Answer, Counters, Counts, CpuidRegs, Layout};
use ratelimit::RateLimit;
use reasons::Vendor;

module! {
    type: KvmExitStat,
    name: "kvm_exitstat",
    author: "kvm-exitstat developers",
    description: "VM exit counts and handling cycles, served to guests through CPUID",
    license: "GPL",
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
    #[pin]
    host: Host,
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
            host <- Host::new(),
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

    fn host_snapshot(&self) -> Counters {
        self.host.read(|host| host.snapshot())
    }

    fn answer(&self, query: CpuidQuery, counts: &impl Counts) -> Option<Answer> {
        leaf::answer(
            self.vendor,
            query.leaf,
            query.subleaf,
            query.own_exit,
            self.layout(),
            counts,
        )
    }

    fn log_query(&self, answer: &Answer, scope: Scope) {
        if self.log_queries.load(Relaxed) && self.query_log.allow(c_str!("kvm_exitstat")) {
            pr_info!("{answer} ({} scope)\n", scope.name());
        }
    }
}

impl ExitStats for Collector {
    type Vm = Arc<ExitCounts>;

    fn vm_init(&self) -> Result<Arc<ExitCounts>> {
        self.host.add_vm().inspect_err(|_| {
            pr_warn!("no memory for a VM's counters: its exits count only for the host\n");
        })
    }

    fn vm_destroy(&self, vm: Arc<ExitCounts>) {
        self.host.retire_vm(&vm);
    }

    // Inlined into the function KVM calls on every exit, where `vendor` is
    // a constant.
    #[inline]
    fn record_exit(vm: ArcBorrow<'_, ExitCounts>, vendor: Vendor, exit_reason: u32, cycles: u64) {
        if let Some(slot) = ExitSlot::new(vendor.slot(exit_reason)) {
            vm.record(slot, cycles);
        }
    }

    fn record_exit_without_vm(&self, vendor: Vendor, exit_reason: u32, cycles: u64) {
        if let Some(slot) = ExitSlot::new(vendor.slot(exit_reason)) {
            self.host.unattributed.record(slot, cycles);
        }
    }

    fn emulate_cpuid(
        &self,
        vm: Option<ArcBorrow<'_, ExitCounts>>,
        query: CpuidQuery,
    ) -> Option<CpuidRegs> {
        if !self.guest_access.load(Relaxed) {
            return None;
        }
        let scope = self.scope();
        let answer = match scope {
            Scope::Vm => {
                let vm = vm?;
                self.host.read_vm(&vm, |vm| self.answer(query, vm))?
            }
            Scope::Host => self.host.read(|host| self.answer(query, host))?,
        };
        self.log_query(&answer, scope);
        Some(answer.regs())
    }

    fn show_vm(&self, vm: ArcBorrow<'_, ExitCounts>, out: &mut SeqWriter) -> fmt::Result {
        let counters = self.host.read_vm(&vm, |vm| vm.snapshot());
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
                self.host.reset();
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
        let registration = hook::Registration::new(collector.clone(), vendor).map_err(|error| {
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
