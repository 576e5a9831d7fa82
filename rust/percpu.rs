// SPDX-License-Identifier: GPL-2.0

//! Per-CPU counters: every CPU adds to its own copy of a struct of `u64`s,
//! with single instructions and no shared cache line, and any CPU reads
//! every copy.  A safe wrapper of `alloc_percpu()`, `this_cpu_*()`,
//! `per_cpu_ptr()` and `for_each_possible_cpu()`.

use core::{
    marker::PhantomData,
    mem::{align_of, size_of},
    ptr::{self, NonNull},
};
use kernel::{bindings, prelude::*};

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

    /// Adds `value` to the current CPU's `field`.  One instruction: it
    /// stays correct if the task migrates.
    pub fn add(&self, field: Field<T>, value: u64) {
        // SAFETY: a per-CPU pointer to a `u64` of our allocation (`Field`
        // checks the offset).
        unsafe { bindings::this_cpu_add_u64(self.field(field), value) }
    }

    /// The current CPU's `field`.
    pub fn read_local(&self, field: Field<T>) -> u64 {
        // SAFETY: as in `add`.
        unsafe { bindings::this_cpu_read_u64(self.field(field)) }
    }

    /// Sets the current CPU's `field` to `value`.
    pub fn write_local(&self, field: Field<T>, value: u64) {
        // SAFETY: as in `add`.
        unsafe { bindings::this_cpu_write_u64(self.field(field), value) }
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
