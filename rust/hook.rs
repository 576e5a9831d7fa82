// SPDX-License-Identifier: GPL-2.0

//! Registration with KVM's VM-Exit statistics hook (`<asm/kvm_exit_stats.h>`,
//! added by the series in `patches/`): a safe wrapper of
//! `kvm_exit_stats_register()` and its callbacks.

use crate::{debugfs::SeqWriter, leaf::CpuidRegs, reasons::Vendor};
use core::{
    ffi::{c_int, c_void},
    fmt, ptr,
    sync::atomic::{AtomicPtr, Ordering::Relaxed},
};
use kernel::{
    bindings,
    error::to_result,
    prelude::*,
    sync::Arc,
    types::{ForeignOwnable, Opaque},
};

/// Whose exit reasons KVM reports, those of its loaded vendor module;
/// `None` if no vendor module that reports exits is loaded.
pub fn vendor() -> Option<Vendor> {
    // SAFETY: a plain function of KVM's, callable from any context.
    match unsafe { bindings::kvm_exit_stats_vendor() } {
        bindings::kvm_exit_stats_vendor_KVM_EXIT_STATS_VMX => Some(Vendor::Vmx),
        bindings::kvm_exit_stats_vendor_KVM_EXIT_STATS_SVM => Some(Vendor::Svm),
        _ => None,
    }
}

/// A guest's CPUID query for one of the leaves a collector may answer.
pub struct CpuidQuery {
    /// EAX.
    pub leaf: u32,
    /// ECX.
    pub subleaf: u32,
    /// The exit reason of the exit within which KVM runs the query,
    /// which the collector is told about once its handling is over; `None`
    /// when KVM runs the instruction outside of an exit.
    pub own_exit: Option<u32>,
}

/// What KVM calls.  `record_exit` runs with interrupts disabled and
/// `emulate_cpuid` with preemption disabled, so on one CPU throughout, and
/// neither may sleep.  `vm` is what `vm_init` made for the VM of the exit or
/// query, borrowed: `None` if it failed.
pub trait ExitStats: Send + Sync {
    /// What the collector keeps for each VM: KVM holds it as a pointer,
    /// which the exit path follows without another indirection.
    type Vm: ForeignOwnable + Send + Sync;
    /// The data of a VM that exists at registration or is created after.
    fn vm_init(&self) -> Result<Self::Vm>;
    /// Takes back a VM's data when the VM is destroyed or the collector
    /// unregistered, once no other callback uses it.
    fn vm_destroy(&self, vm: Self::Vm);
    /// One VM-Exit of `vm` with its exit reason, of `vendor` (what
    /// `vendor()` said at registration, a constant in each function that
    /// KVM calls), and the TSC cycles from the exit to the end of its
    /// handling.  Called on every exit: it is what counting costs, so it
    /// gets the VM's data alone.
    fn record_exit(vm: Borrowed<'_, Self>, vendor: Vendor, exit_reason: u32, cycles: u64);
    /// The same for an exit of a VM that has no data (`vm_init` failed).
    fn record_exit_without_vm(&self, vendor: Vendor, exit_reason: u32, cycles: u64);
    /// The answer to `query`, or `None` to let KVM answer as it does
    /// without a collector.
    fn emulate_cpuid(&self, vm: Option<Borrowed<'_, Self>>, query: CpuidQuery)
        -> Option<CpuidRegs>;
    /// Prints a VM's figures, in its file in KVM's per-VM debugfs directory.
    fn show_vm(&self, vm: Borrowed<'_, Self>, out: &mut SeqWriter) -> fmt::Result;
}

/// The registered collector, a `T` of the `Registration<T>` that set it,
/// for `record_exit`, which KVM calls without it: it is a static call, like
/// perf's guest callbacks.
static REGISTERED: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

/// A VM's data, borrowed from KVM for a callback.
pub type Borrowed<'a, T> = <<T as ExitStats>::Vm as ForeignOwnable>::Borrowed<'a>;

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
    /// Registers `collector`, which gets `vm_init` for every existing VM and
    /// exits of `vendor`.  Fails with `EOPNOTSUPP` if no loaded vendor
    /// module reports exits, `EBUSY` if another collector is registered.
    pub fn new(collector: Arc<T>, vendor: Vendor) -> Result<Self> {
        let data = ptr::from_ref::<T>(&collector).cast_mut().cast::<c_void>();
        REGISTERED
            .compare_exchange(ptr::null_mut(), data, Relaxed, Relaxed)
            .map_err(|_| EBUSY)?;
        Self::register(collector, vendor, data)
            .inspect_err(|_| REGISTERED.store(ptr::null_mut(), Relaxed))
    }

    fn register(collector: Arc<T>, vendor: Vendor, data: *mut c_void) -> Result<Self> {
        let record_exit = match vendor {
            Vendor::Vmx => record_exit::<T, false>,
            Vendor::Svm => record_exit::<T, true>,
        };
        let ops = KBox::pin_init(
            Opaque::ffi_init(|ops: *mut bindings::kvm_exit_stats_ops| {
                // SAFETY: `ops` points to writable, pinned storage.
                unsafe {
                    ops.write(bindings::kvm_exit_stats_ops {
                        vm_init: Some(vm_init::<T>),
                        vm_destroy: Some(vm_destroy::<T>),
                        record_exit: Some(record_exit),
                        emulate_cpuid: Some(emulate_cpuid::<T>),
                        show_vm: Some(show_vm::<T>),
                        data,
                    })
                };
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: `ops` is initialised and pinned, and `data` and
        // `REGISTERED` point into `collector`; `drop` unregisters before
        // either is freed.  KVM patches in the static call to `record_exit`
        // after `REGISTERED` is set, synchronising every CPU.
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
        REGISTERED.store(ptr::null_mut(), Relaxed);
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

/// # Safety
///
/// `vm` is null or came from `vm_init::<T>` and is not yet destroyed, and
/// stays so for `'a`.
unsafe fn vm_data<'a, T: ExitStats>(vm: *mut c_void) -> Option<Borrowed<'a, T>> {
    // SAFETY: per the contract, a non-null `vm` is what `into_foreign`
    // returned, not yet taken back by `from_foreign`.
    (!vm.is_null()).then(|| unsafe { T::Vm::borrow(vm) })
}

extern "C" fn vm_init<T: ExitStats>(data: *mut c_void) -> *mut c_void {
    // SAFETY: KVM passes back the `data` that `Registration::new` registered.
    let collector = unsafe { collector::<T>(data) };
    match collector.vm_init() {
        Ok(vm) => vm.into_foreign().cast_mut(),
        Err(_) => ptr::null_mut(),
    }
}

extern "C" fn vm_destroy<T: ExitStats>(data: *mut c_void, vm: *mut c_void) {
    // SAFETY: KVM passes back the `data` that `Registration::new`
    // registered, and what `vm_init` returned, non-null, once, after every
    // other callback that used it.
    let (collector, vm) = unsafe { (collector::<T>(data), T::Vm::from_foreign(vm)) };
    collector.vm_destroy(vm);
}

/// What KVM calls on every exit of an SVM host if `SVM`, else of a VMX
/// host.
extern "C" fn record_exit<T: ExitStats, const SVM: bool>(
    vm: *mut c_void,
    exit_reason: u32,
    cycles: u64,
) {
    let vendor = if SVM { Vendor::Svm } else { Vendor::Vmx };
    // SAFETY: KVM passes the VM's data from `vm_init`, which lives until
    // `vm_destroy`.
    match unsafe { vm_data::<T>(vm) } {
        Some(vm) => T::record_exit(vm, vendor, exit_reason, cycles),
        None => {
            // SAFETY: KVM calls this only while the `Registration<T>` that
            // set `REGISTERED` is registered.
            let collector = unsafe { collector::<T>(REGISTERED.load(Relaxed)) };
            collector.record_exit_without_vm(vendor, exit_reason, cycles);
        }
    }
}

extern "C" fn emulate_cpuid<T: ExitStats>(
    data: *mut c_void,
    vm: *mut c_void,
    query: *mut bindings::kvm_exit_stats_cpuid,
) -> bool {
    // SAFETY: as in `record_exit`.
    let (collector, vm) = unsafe { (collector::<T>(data), vm_data::<T>(vm)) };
    // SAFETY: KVM passes a valid query that only this call uses.
    let query = unsafe { &mut *query };
    let answer = collector.emulate_cpuid(
        vm,
        CpuidQuery {
            leaf: query.leaf,
            subleaf: query.subleaf,
            own_exit: query.in_exit.then_some(query.exit_reason),
        },
    );
    let Some(regs) = answer else {
        return false;
    };
    query.eax = regs.eax;
    query.ebx = regs.ebx;
    query.ecx = regs.ecx;
    query.edx = regs.edx;
    true
}

extern "C" fn show_vm<T: ExitStats>(
    data: *mut c_void,
    vm: *mut c_void,
    seq: *mut bindings::seq_file,
) -> c_int {
    // SAFETY: as in `record_exit`; KVM passes a non-null `vm`.
    let (collector, vm) = unsafe { (collector::<T>(data), vm_data::<T>(vm)) };
    let Some(vm) = vm else {
        return -(bindings::ENODEV as c_int);
    };
    // SAFETY: `seq` is the `seq_file` of the read that called us.
    let mut out = unsafe { SeqWriter::new(seq) };
    // Overflow is not an error: seq_read() calls us again with more room.
    let _ = collector.show_vm(vm, &mut out);
    0
}
