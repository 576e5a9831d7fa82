// SPDX-License-Identifier: GPL-2.0

//! Per-CPU counters: every CPU adds to its own copy of a struct of `u64`s,
//! with single instructions and no shared cache line, and any CPU reads
//! every copy; each CPU zeroes its own, in an IPI.  A safe wrapper of
//! `alloc_percpu()`, `per_cpu_ptr()`, `for_each_possible_cpu()`,
//! `cpus_read_lock()` and `on_each_cpu()`, and of x86-64's `this_cpu_*()`
//! operations, inlined: they run on every VM exit.

use core::{
    arch::asm,
    ffi::c_void,
    marker::PhantomData,
    mem::{align_of, size_of},
    ptr::{self, NonNull},
};
use kernel::{bindings, prelude::*};

#[cfg(not(all(CONFIG_X86_64, CONFIG_SMP)))]
compile_error!("per-CPU operations are written for x86-64 SMP kernels");

/// A struct that per-CPU counters are made of.
///
/// # Safety
///
/// Implementors are `#[repr(C)]` and made of `u64`s only, so that all
/// zeroes is a valid value and every multiple of 8 below their size is the
/// offset of a `u64`.
pub unsafe trait U64s: Sized {}

/// One `u64` of a `T`: its offset, checked when the `Field` is made.
pub struct Field<T>(usize, PhantomData<T>);

impl<T> Clone for Field<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Field<T> {}

impl<T: U64s> Field<T> {
    /// The `u64` at byte `offset` in `T`, if there is one.
    pub const fn at(offset: usize) -> Option<Self> {
        if offset % size_of::<u64>() == 0 && offset < size_of::<T>() {
            Some(Self(offset, PhantomData))
        } else {
            None
        }
    }

    /// Every `u64` of `T`.
    pub fn all() -> impl Iterator<Item = Self> {
        (0..size_of::<T>())
            .step_by(size_of::<u64>())
            .map(|offset| Self(offset, PhantomData))
    }
}

/// Two consecutive `u64`s of a `T`: the offset of the first, checked when
/// the `Pair` is made.
pub struct Pair<T>(usize, PhantomData<T>);

impl<T> Clone for Pair<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Pair<T> {}

impl<T: U64s> Pair<T> {
    /// The `u64`s at byte `offset` and `offset + 8` in `T`, if there are.
    pub const fn at(offset: usize) -> Option<Self> {
        match Field::<T>::at(offset + size_of::<u64>()) {
            Some(_) if offset % size_of::<u64>() == 0 => Some(Self(offset, PhantomData)),
            _ => None,
        }
    }
}

/// A CPU that may ever be online.
#[derive(Clone, Copy)]
pub struct Cpu(u32);

/// The possible CPUs, in ascending order, like `for_each_possible_cpu()`.
pub fn possible_cpus() -> impl Iterator<Item = Cpu> {
    // SAFETY: `nr_cpu_ids` is set during boot and never written afterwards.
    let nr_cpu_ids = unsafe { bindings::nr_cpu_ids };
    // The CPU to search after: -1, then each CPU found; `None` at the end.
    let mut after = Some(-1);
    core::iter::from_fn(move || {
        // SAFETY: `__cpu_possible_mask` lives as long as the kernel, and
        // `after` is -1 or a possible CPU, so below `nr_cpu_ids` as
        // `cpumask_next()` requires.
        let next =
            unsafe { bindings::cpumask_next(after?, ptr::addr_of!(bindings::__cpu_possible_mask)) };
        after = (next < nr_cpu_ids).then_some(next as i32);
        after.map(|_| Cpu(next))
    })
}

/// Whether `cpu` is in `mask`.
fn in_mask(cpu: Cpu, mask: *const bindings::cpumask) -> bool {
    // SAFETY: `mask` is one of the kernel's CPU masks, which live as long
    // as the kernel, and `cpu` is below `nr_cpu_ids`, so `cpu - 1` is a
    // valid place to search after.
    unsafe { bindings::cpumask_next(cpu.0 as i32 - 1, mask) == cpu.0 }
}

/// CPU hotplug held off, as `cpus_read_lock()` does: while this lives, the
/// online CPUs stay online and the others offline.
pub struct CpusHeld(PhantomData<*mut ()>);

impl CpusHeld {
    /// Waits for any CPU hotplug operation to finish.  May sleep.
    pub fn lock() -> Self {
        // SAFETY: taken in process context; `drop` releases it.
        unsafe { bindings::cpus_read_lock() };
        Self(PhantomData)
    }

    /// Runs `f` once on every online CPU, with interrupts disabled (in an
    /// IPI, or directly on this CPU), and returns once all have run it.
    /// `f` must not sleep.
    pub fn on_each_online<F: Fn() + Sync>(&self, f: &F) {
        extern "C" fn call<F: Fn() + Sync>(f: *mut c_void) {
            // SAFETY: `on_each_online` passes a `&F` that outlives the
            // call: it waits for every CPU.
            unsafe { (*f.cast::<F>())() }
        }
        // SAFETY: `call::<F>` gets `f`, which is `Sync`, and `wait` is true,
        // so `f` outlives every call; the online mask lives as long as the
        // kernel.
        unsafe {
            bindings::on_each_cpu_cond_mask(
                None,
                Some(call::<F>),
                ptr::from_ref(f).cast_mut().cast(),
                true,
                ptr::addr_of!(bindings::__cpu_online_mask),
            )
        };
    }

    /// The possible CPUs that are offline, and so run nothing.
    pub fn offline(&self) -> impl Iterator<Item = OfflineCpu<'_>> {
        possible_cpus()
            .filter(|&cpu| !in_mask(cpu, ptr::addr_of!(bindings::__cpu_online_mask)))
            .map(|cpu| OfflineCpu(cpu, PhantomData))
    }
}

impl Drop for CpusHeld {
    fn drop(&mut self) {
        // SAFETY: taken in `lock`, on this task (`CpusHeld` is not `Send`).
        unsafe { bindings::cpus_read_unlock() };
    }
}

/// A possible CPU that stays offline for as long as a `CpusHeld` lives.
#[derive(Clone, Copy)]
pub struct OfflineCpu<'a>(Cpu, PhantomData<&'a CpusHeld>);

/// One `T` per possible CPU, zero at first.
pub struct PerCpu<T: U64s>(NonNull<T>);

// SAFETY: the per-CPU memory is owned by this value; every access is a
// single `this_cpu_*` instruction on the current CPU's copy or a single
// load of a `u64`, so any thread may make any of them at any time.
unsafe impl<T: U64s> Send for PerCpu<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: U64s> Sync for PerCpu<T> {}

impl<T: U64s> PerCpu<T> {
    /// Allocates the copies, all zero.
    pub fn new() -> Result<Self> {
        // SAFETY: plain allocation; per-CPU memory comes back zeroed, which
        // is a valid `T` (`U64s`).
        let ptr = unsafe { bindings::__alloc_percpu(size_of::<T>(), align_of::<T>()) };
        NonNull::new(ptr.cast()).map(Self).ok_or(ENOMEM)
    }

    /// The per-CPU pointer to `field`.
    fn field(&self, field: Field<T>) -> *mut u64 {
        // A per-CPU pointer is an offset into each CPU's area, not an
        // address: derive field pointers with wrapping arithmetic.
        self.0.as_ptr().cast::<u8>().wrapping_add(field.0).cast()
    }

    /// Sets all of the current CPU's copy to zero.  One instruction per
    /// `u64`, each on the CPU it runs on: with interrupts disabled, that
    /// is the current CPU throughout.
    pub fn zero_local(&self) {
        for field in Field::all() {
            // SAFETY: on x86-64 SMP, %gs holds the current CPU's per-CPU
            // offset, so %gs plus a per-CPU pointer to a `u64` of our
            // allocation (`Field` checks the offset) is this CPU's copy, as
            // in `this_cpu_write()`.
            unsafe {
                asm!(
                    "mov qword ptr gs:[{field}], 0",
                    field = in(reg) self.field(field),
                    options(nostack, preserves_flags),
                )
            };
        }
    }

    /// Sets all of `cpu`'s copy to zero.
    pub fn zero_offline(&self, cpu: OfflineCpu<'_>) {
        for field in Field::all() {
            // SAFETY: `cpu` is a possible CPU, so this is the address of its
            // copy of a `u64` of our allocation, and it is offline, so it
            // neither adds to it nor zeroes it meanwhile.
            unsafe {
                let address = bindings::per_cpu_ptr(self.field(field).cast(), cpu.0 .0);
                ptr::write_volatile(address.cast::<u64>(), 0);
            }
        }
    }

    /// Adds 1 to the current CPU's `count` and `amount` to the `u64` that
    /// follows it, where a count of events keeps their total cost.  Each add
    /// is one instruction, so each stays correct if the task migrates; with
    /// interrupts disabled, an IPI that zeroes this CPU's copy (see
    /// `zero_local`) sees both adds or neither.
    pub fn count(&self, count: Pair<T>, amount: u64) {
        // SAFETY: as in `zero_local`; `Pair` checks that both `u64`s are in
        // our allocation.
        unsafe {
            asm!(
                "inc qword ptr gs:[{base} + {offset}]",
                "add qword ptr gs:[{base} + {offset} + 8], {amount}",
                base = in(reg) self.0.as_ptr(),
                offset = in(reg) count.0,
                amount = in(reg) amount,
                options(nostack),
            )
        };
    }

    /// CPU `cpu`'s `field`, which that CPU may be changing meanwhile.
    pub fn read(&self, cpu: Cpu, field: Field<T>) -> u64 {
        // SAFETY: `cpu` is a possible CPU (`Cpu` comes from
        // `possible_cpus`), so this is the address of its copy of a `u64`
        // of our allocation.  Read once, like READ_ONCE(): 64-bit loads do
        // not tear on x86-64.
        unsafe {
            let address = bindings::per_cpu_ptr(self.field(field).cast(), cpu.0);
            ptr::read_volatile(address.cast::<u64>())
        }
    }
}

impl<T: U64s> Drop for PerCpu<T> {
    fn drop(&mut self) {
        // SAFETY: allocated by `__alloc_percpu` in `new`, and no reference
        // to this value, so no user of the memory, is left.
        unsafe { bindings::free_percpu(self.0.as_ptr().cast()) };
    }
}
