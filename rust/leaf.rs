// SPDX-License-Identifier: GPL-2.0

//! Exit totals and the CPUID leaves that report them to the guest.
//!
//! Plain `core` code: the kernel module includes it, and on the host it is
//! the `exitstat` library, unit-tested with `cargo test`.

/// The leaf that reports the totals over all exits of all vCPUs.
pub const LEAF_TOTALS: u32 = 0x4fff_ffff;

/// Exits counted, and the TSC cycles spent handling them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExitCounters {
    /// Number of exits.
    pub exits: u64,
    /// TSC cycles spent handling those exits.
    pub cycles: u64,
}

impl core::ops::Add for ExitCounters {
    type Output = Self;

    /// Counters wrap like the per-CPU counters they are summed from.
    fn add(self, other: Self) -> Self {
        Self {
            exits: self.exits.wrapping_add(other.exits),
            cycles: self.cycles.wrapping_add(other.cycles),
        }
    }
}

impl core::iter::Sum for ExitCounters {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |total, counters| total + counters)
    }
}

/// The four registers of a CPUID answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuidRegs {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
}

const fn low32(value: u64) -> u32 {
    value as u32
}

const fn high32(value: u64) -> u32 {
    (value >> 32) as u32
}

/// The answer to a guest's CPUID `leaf`, or `None` for a leaf that KVM
/// answers as it does without the module.
///
/// `finished` gives the exits whose handling has finished; it is called only
/// for a leaf that is answered.  The query's own CPUID exit is still being
/// handled and is counted in the exits (as the classroom original did), but
/// not in the cycles.  ECX is ignored.
pub fn answer(leaf: u32, finished: impl FnOnce() -> ExitCounters) -> Option<CpuidRegs> {
    match leaf {
        LEAF_TOTALS => {
            let finished = finished();
            let exits = finished.exits.wrapping_add(1);
            Some(CpuidRegs {
                eax: low32(exits),
                ebx: high32(finished.cycles),
                ecx: low32(finished.cycles),
                edx: high32(exits),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(exits: u64, cycles: u64) -> ExitCounters {
        ExitCounters { exits, cycles }
    }

    #[test]
    fn totals_leaf_layout() {
        let regs = answer(LEAF_TOTALS, || {
            counters(0x1234_5678_9abc_def0, 0x0fed_cba9_8765_4321)
        });
        assert_eq!(
            regs,
            Some(CpuidRegs {
                eax: 0x9abc_def1,
                ebx: 0x0fed_cba9,
                ecx: 0x8765_4321,
                edx: 0x1234_5678,
            })
        );
    }

    #[test]
    fn query_counts_its_own_exit() {
        assert_eq!(
            answer(LEAF_TOTALS, ExitCounters::default),
            Some(CpuidRegs {
                eax: 1,
                ..CpuidRegs::default()
            })
        );
    }

    #[test]
    fn own_exit_carries_into_high_half() {
        let regs = answer(LEAF_TOTALS, || counters(0xffff_ffff, 7)).unwrap();
        assert_eq!((regs.edx, regs.eax), (1, 0));
        assert_eq!((regs.ebx, regs.ecx), (0, 7));
    }

    #[test]
    fn counters_wrap_instead_of_overflowing() {
        let regs = answer(LEAF_TOTALS, || counters(u64::MAX, u64::MAX)).unwrap();
        assert_eq!(
            regs,
            CpuidRegs {
                eax: 0,
                ebx: u32::MAX,
                ecx: u32::MAX,
                edx: 0
            }
        );
        let sum: ExitCounters = [counters(u64::MAX, 1), counters(2, u64::MAX)]
            .into_iter()
            .sum();
        assert_eq!(sum, counters(1, 0));
    }

    #[test]
    fn sum_over_cpus() {
        let per_cpu = [counters(3, 300), counters(0, 0), counters(5, 1_000_000_007)];
        assert_eq!(
            per_cpu.into_iter().sum::<ExitCounters>(),
            counters(8, 1_000_000_307)
        );
        assert_eq!(
            core::iter::empty().sum::<ExitCounters>(),
            ExitCounters::default()
        );
    }

    #[test]
    fn other_leaves_are_left_to_kvm() {
        for leaf in (0x4fff_fff0..LEAF_TOTALS).chain([0, 1, 0x4000_0000, 0x8000_0000, u32::MAX]) {
            let not_summed = || -> ExitCounters { panic!("leaf {leaf:#x} summed the counters") };
            assert_eq!(answer(leaf, not_summed), None, "leaf {leaf:#x}");
        }
    }
}
