// SPDX-License-Identifier: GPL-2.0

//! Counts every VM exit and the TSC cycles KVM spends handling it, per CPU,
//! and answers the guest's CPUID leaf 0x4fffffff with the totals.
//!
//! It registers with KVM's exit statistics hook (`<asm/kvm_exit_stats.h>`),
//! added by the patch series in `patches/`.

use core::{
    ffi::c_void,
    mem::{align_of, offset_of, size_of},
    ptr::{self, NonNull},
};
use kernel::{bindings, c_str, container_of, error::to_result, prelude::*, types::Opaque};

pub mod leaf;
use leaf::{CpuidRegs, ExitCounters};

module! {
    type: KvmExitStat,
    name: "kvm_exitstat",
    author: "kvm-exitstat developers",
    description: "VM exit counts and handling cycles, served to guests through CPUID",
    license: "GPL",
}

/// The possible CPUs, in ascending order.
fn possible_cpus() -> impl Iterator<Item = u32> {
    let next = |cpu: i32| {
        // SAFETY: `__cpu_possible_mask` is a valid cpumask for the kernel's
        // lifetime, and `cpumask_next` accepts any `cpu` from -1 upwards.
        unsafe { bindings::cpumask_next(cpu, ptr::addr_of!(bindings::__cpu_possible_mask)) }
    };
    // SAFETY: `nr_cpu_ids` is set during boot and never written afterwards.
    let nr_cpu_ids = unsafe { bindings::nr_cpu_ids };
    core::iter::successors(Some(next(-1)), move |&cpu| Some(next(cpu as i32)))
        .take_while(move |&cpu| cpu < nr_cpu_ids)
}

/// One `ExitCounters` per possible CPU, each written only by its own CPU.
struct PerCpuCounters(NonNull<ExitCounters>);

// SAFETY: the per-CPU memory is owned by this value; updates go through
// `this_cpu_add` and reads are single volatile loads, so any thread may do
// either at any time.
unsafe impl Send for PerCpuCounters {}
// SAFETY: as for `Send`.
unsafe impl Sync for PerCpuCounters {}

impl PerCpuCounters {
    fn new() -> Result<Self> {
        // SAFETY: plain allocation; per-CPU memory comes back zeroed.
        let ptr = unsafe {
            bindings::__alloc_percpu(size_of::<ExitCounters>(), align_of::<ExitCounters>())
        };
        NonNull::new(ptr.cast()).map(Self).ok_or(ENOMEM)
    }

    /// The per-CPU pointer to the `u64` at `offset` in `ExitCounters`.
    fn field(&self, offset: usize) -> *mut u64 {
        // A per-CPU pointer is an offset into each CPU's area, not an
        // address: derive field pointers with wrapping arithmetic.
        self.0.as_ptr().cast::<u8>().wrapping_add(offset).cast()
    }

    /// Adds one exit that took `cycles` to the current CPU's counters.
    fn record(&self, cycles: u64) {
        // SAFETY: both are per-CPU pointers to `u64`s inside the allocation
        // this value owns.  Each add is one instruction on the current CPU,
        // so it stays correct if the task migrates in between.
        unsafe {
            bindings::this_cpu_add_u64(self.field(offset_of!(ExitCounters, exits)), 1);
            bindings::this_cpu_add_u64(self.field(offset_of!(ExitCounters, cycles)), cycles);
        }
    }

    /// The counters summed over all possible CPUs.
    fn sum(&self) -> ExitCounters {
        possible_cpus()
            .map(|cpu| {
                // SAFETY: `cpu` is a possible CPU, so this is the address of
                // its copy of our allocation.
                let counters: *const ExitCounters =
                    unsafe { bindings::per_cpu_ptr(self.0.as_ptr().cast(), cpu) }.cast();
                // SAFETY: `counters` is valid and aligned.  Its CPU may be
                // adding to it concurrently: read each field once, like
                // READ_ONCE(); 64-bit loads do not tear on x86-64.
                unsafe {
                    ExitCounters {
                        exits: ptr::read_volatile(ptr::addr_of!((*counters).exits)),
                        cycles: ptr::read_volatile(ptr::addr_of!((*counters).cycles)),
                    }
                }
            })
            .sum()
    }
}

impl Drop for PerCpuCounters {
    fn drop(&mut self) {
        // SAFETY: allocated by `__alloc_percpu` in `new`; no longer in use
        // since the owner has unregistered from KVM.
        unsafe { bindings::free_percpu(self.0.as_ptr().cast()) };
    }
}

/// What is registered with KVM: the callbacks and the state they use.
#[pin_data]
struct Collector {
    /// Registered with KVM; its `data` points back at this field.
    #[pin]
    ops: Opaque<bindings::kvm_exit_stats_ops>,
    /// Limits the per-query log line.
    #[pin]
    query_log_limit: Opaque<bindings::ratelimit_state>,
    counters: PerCpuCounters,
}

// SAFETY: after initialisation KVM only reads `ops`, `query_log_limit` is
// only used through `___ratelimit`, which takes its lock, and the counters
// are `Send + Sync`.
unsafe impl Send for Collector {}
// SAFETY: as for `Send`.
unsafe impl Sync for Collector {}

impl Collector {
    fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            ops <- Opaque::ffi_init(|ops: *mut bindings::kvm_exit_stats_ops| {
                // SAFETY: `ops` points to writable, pinned storage for the struct.
                unsafe {
                    ops.write(bindings::kvm_exit_stats_ops {
                        record_exit: Some(record_exit),
                        emulate_cpuid: Some(emulate_cpuid),
                        data: ops.cast(),
                    })
                };
            }),
            query_log_limit <- Opaque::ffi_init(|state| {
                // SAFETY: `state` points to writable, pinned storage.
                unsafe { bindings::ratelimit_default_init(state) }
            }),
            counters: PerCpuCounters::new()?,
        })
    }

    /// # Safety
    ///
    /// `data` is the `data` member of the `ops` of a live `Collector`.
    unsafe fn from_data<'a>(data: *mut c_void) -> &'a Self {
        let ops = data.cast::<Opaque<bindings::kvm_exit_stats_ops>>();
        // SAFETY: per the contract, `ops` is the `ops` field of a live
        // `Collector`.
        unsafe { &*container_of!(ops, Collector, ops) }
    }

    fn log_query(&self, leaf: u32, regs: &CpuidRegs) {
        // SAFETY: `query_log_limit` was initialised by
        // `ratelimit_default_init` and is pinned; the name is a C string.
        let allowed = unsafe {
            bindings::___ratelimit(
                self.query_log_limit.get(),
                c_str!("kvm_exitstat").as_char_ptr(),
            )
        };
        if allowed != 0 {
            pr_info!(
                "CPUID {:#010x}: exits={} cycles={} (eax={:#010x} ebx={:#010x} ecx={:#010x} edx={:#010x})\n",
                leaf,
                u64::from(regs.edx) << 32 | u64::from(regs.eax),
                u64::from(regs.ebx) << 32 | u64::from(regs.ecx),
                regs.eax,
                regs.ebx,
                regs.ecx,
                regs.edx
            );
        }
    }
}

extern "C" fn record_exit(data: *mut c_void, _exit_reason: u32, cycles: u64) {
    // SAFETY: KVM passes back the `data` we registered, and the collector
    // outlives its registration.
    let collector = unsafe { Collector::from_data(data) };
    collector.counters.record(cycles);
}

extern "C" fn emulate_cpuid(
    data: *mut c_void,
    leaf: u32,
    _subleaf: u32,
    eax: *mut u32,
    ebx: *mut u32,
    ecx: *mut u32,
    edx: *mut u32,
) -> bool {
    // SAFETY: as in `record_exit`.
    let collector = unsafe { Collector::from_data(data) };
    let Some(regs) = leaf::answer(leaf, || collector.counters.sum()) else {
        return false;
    };
    // SAFETY: KVM passes four valid, writable registers.
    unsafe {
        *eax = regs.eax;
        *ebx = regs.ebx;
        *ecx = regs.ecx;
        *edx = regs.edx;
    }
    collector.log_query(leaf, &regs);
    true
}

struct KvmExitStat {
    collector: Pin<KBox<Collector>>,
}

impl kernel::Module for KvmExitStat {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let collector = KBox::pin_init(Collector::new(), GFP_KERNEL)?;
        // SAFETY: `ops` is initialised and pinned inside `collector`, which
        // `drop` unregisters before freeing it.
        to_result(unsafe { bindings::kvm_exit_stats_register(collector.ops.get()) })?;
        pr_info!(
            "loaded: counting VM exits; CPUID {:#010x} reports the totals\n",
            leaf::LEAF_TOTALS
        );
        Ok(Self { collector })
    }
}

impl Drop for KvmExitStat {
    fn drop(&mut self) {
        // SAFETY: registered in `init`.  Returns once no callback runs or can
        // run again, so the collector may be freed afterwards.
        unsafe { bindings::kvm_exit_stats_unregister(self.collector.ops.get()) };
        let totals = self.collector.counters.sum();
        pr_info!(
            "unloaded: {} exits, {} cycles\n",
            totals.exits,
            totals.cycles
        );
    }
}
