// SPDX-License-Identifier: GPL-2.0

//! kvm-exitstat's logic that needs no kernel: the exit-reason tables, the
//! CPUID leaves and the statistics table are shared with the kernel module
//! (which includes the same files); the output formats serve `exitstat`.

#![no_std]

#[cfg(test)]
extern crate std;

pub mod leaf;
pub mod reasons;
pub mod report;
pub mod table;
