// SPDX-License-Identifier: GPL-2.0

//! Registration with KVM's VM-Exit statistics hook (`<asm/kvm_exit_stats.h>`,
//! added by the series in `patches/`): a safe wrapper of
//! `kvm_exit_stats_register()` and its callbacks.

use crate::leaf::CpuidRegs;
use core::{ffi::c_void, ptr};
use kernel::{bindings, error::to_result, prelude::*, sync::Arc, types::Opaque};

/// A guest's CPUID query for one of the leaves a collector may answer.
pub struct CpuidQuery {
    /// EAX.
    pub leaf: u32,
    /// ECX.
    pub subleaf: u32,
    /// The exit-reason field of the exit within which KVM runs the query,
    /// which the collector is told about once its handling is over; `None`
    /// when KVM runs the instruction outside of an exit.
    pub own_exit: Option<u32>,
}

/// What KVM calls.  Both run with preemption disabled, so on one CPU
/// throughout, and must not sleep.
pub trait ExitStats: Send + Sync {
    /// One VM-Exit with its exit-reason field, handled in `cycles` TSC
    /// cycles.
    fn record_exit(&self, exit_reason: u32, cycles: u64);
    /// The answer to `query`, or `None` to let KVM answer as it does
    /// without a collector.
    fn emulate_cpuid(&self, query: CpuidQuery) -> Option<CpuidRegs>;
}

/// A collector registered with KVM for as long as this value lives.
pub struct Registration<T: ExitStats> {
    ops: Pin<KBox<Opaque<bindings::kvm_exit_stats_ops>>>,
    /// What `ops.data` points at.
    _collector: Arc<T>,
}

// SAFETY: after registration KVM only reads `ops`, and unregistering, in
// `drop`, may happen on any thread; `T` is `Send + Sync`.
unsafe impl<T: ExitStats> Send for Registration<T> {}
// SAFETY: `Registration` has no methods that use it through a shared
// reference.
unsafe impl<T: ExitStats> Sync for Registration<T> {}

impl<T: ExitStats> Registration<T> {
    /// Registers `collector`.  Fails with `EOPNOTSUPP` if no loaded vendor
    /// module reports exits, `EBUSY` if another collector is registered.
    pub fn new(collector: Arc<T>) -> Result<Self> {
        let data = ptr::from_ref::<T>(&collector).cast_mut().cast::<c_void>();
        let ops = KBox::pin_init(
            Opaque::ffi_init(|ops: *mut bindings::kvm_exit_stats_ops| {
                // SAFETY: `ops` points to writable, pinned storage.
                unsafe {
                    ops.write(bindings::kvm_exit_stats_ops {
                        record_exit: Some(record_exit::<T>),
                        emulate_cpuid: Some(emulate_cpuid::<T>),
                        data,
                    })
                };
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: `ops` is initialised and pinned, and `data` points into
        // `collector`; `drop` unregisters before either is freed.
        to_result(unsafe { bindings::kvm_exit_stats_register(ops.get()) })?;
        Ok(Self {
            ops,
            _collector: collector,
        })
    }
}

impl<T: ExitStats> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `new`.  Returns once no callback runs or can
        // run again, so `ops` and `collector` may go afterwards.
        unsafe { bindings::kvm_exit_stats_unregister(self.ops.get()) };
    }
}

/// # Safety
///
/// `data` is the `data` of a registered `Registration<T>`.
unsafe fn collector<'a, T: ExitStats>(data: *mut c_void) -> &'a T {
    // SAFETY: per the contract, `data` points at the `T` that the
    // registration keeps alive until unregistering waits for this call.
    unsafe { &*data.cast::<T>() }
}

extern "C" fn record_exit<T: ExitStats>(data: *mut c_void, exit_reason: u32, cycles: u64) {
    // SAFETY: KVM passes back the `data` that `Registration::new` registered.
    unsafe { collector::<T>(data) }.record_exit(exit_reason, cycles);
}

extern "C" fn emulate_cpuid<T: ExitStats>(
    data: *mut c_void,
    query: *mut bindings::kvm_exit_stats_cpuid,
) -> bool {
    // SAFETY: KVM passes back the `data` that `Registration::new` registered.
    let collector = unsafe { collector::<T>(data) };
    // SAFETY: KVM passes a valid query that only this call uses.
    let query = unsafe { &mut *query };
    let answer = collector.emulate_cpuid(CpuidQuery {
        leaf: query.leaf,
        subleaf: query.subleaf,
        own_exit: query.in_exit.then_some(query.exit_reason),
    });
    let Some(regs) = answer else {
        return false;
    };
    query.eax = regs.eax;
    query.ebx = regs.ebx;
    query.ecx = regs.ecx;
    query.edx = regs.edx;
    true
}
