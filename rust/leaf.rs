// SPDX-License-Identifier: GPL-2.0

//! Exit counters and the CPUID leaves that report them to the guest
//! (README.md, "The CPUID leaves").
//!
//! Plain `core` code: the kernel module includes it, and on the host it is
//! part of the `exitstat` library, unit-tested with `cargo test`.

use crate::reasons::{Reason, Slot, Vendor, SLOTS};
use core::fmt;

// The leaves, named as the seed and four-leaf layouts use them; what each
// gives depends on the layout (`Layout::request`).

/// The totals (seed, four-leaf); cycles of a reason (fall-2022).
pub const LEAF_TOTALS: u32 = 0x4fff_ffff;
/// Exits of a reason (seed, fall-2022); the total cycles (four-leaf).
pub const LEAF_LAYOUT_SPECIFIC: u32 = 0x4fff_fffe;
/// Exits of a reason (seed, four-leaf); the total cycles (fall-2022).
pub const LEAF_REASON_EXITS: u32 = 0x4fff_fffd;
/// Cycles of a reason (seed, four-leaf); the total exits (fall-2022).
pub const LEAF_REASON_CYCLES: u32 = 0x4fff_fffc;

/// What a leaf gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// The total exits and cycles.
    Totals,
    /// The total exits only.
    TotalExits,
    /// The total cycles only.
    TotalCycles,
    /// The exits of the reason in ECX.
    ReasonExits,
    /// The cycles of the reason in ECX.
    ReasonCycles,
}

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

/// All counters: the totals, and one `ExitCounters` per reason slot
/// (`Vendor::slot`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counters {
    /// Over all exits.
    pub total: ExitCounters,
    /// Indexed by `Vendor::slot`.
    pub by_reason: [ExitCounters; SLOTS],
}

impl Counters {
    /// All zero.
    pub const ZERO: Self = Self {
        total: ExitCounters {
            exits: 0,
            cycles: 0,
        },
        by_reason: [ExitCounters {
            exits: 0,
            cycles: 0,
        }; SLOTS],
    };

    /// Sets the totals to the sum of the reasons, for counters kept by
    /// reason only.
    pub fn total_the_reasons(&mut self) {
        self.total = self.by_reason.iter().copied().sum();
    }

    /// Counts one exit with `vendor`'s exit reason `exit_reason`.
    pub fn record(&mut self, vendor: Vendor, exit_reason: u32, cycles: u64) {
        let one = ExitCounters { exits: 1, cycles };
        self.total = self.total + one;
        let slot = &mut self.by_reason[vendor.slot(exit_reason).index()];
        *slot = *slot + one;
    }
}

/// Where a leaf's figures come from.
pub trait Counts {
    /// The totals over all exits.
    fn total(&self) -> ExitCounters;
    /// The counters of reason slot `slot`.
    fn reason(&self, slot: Slot) -> ExitCounters;
}

impl Counts for Counters {
    fn total(&self) -> ExitCounters {
        self.total
    }

    fn reason(&self, slot: Slot) -> ExitCounters {
        self.by_reason[slot.index()]
    }
}

/// Which leaf gives what: the ways course versions number the leaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum Layout {
    /// The seed's: `0x4fffffff` the totals, `0x4ffffffe` and `0x4ffffffd`
    /// the exits of the reason in ECX, `0x4ffffffc` its cycles.
    #[default]
    Seed = 0,
    /// As the seed's, but `0x4ffffffe` gives the total cycles.
    FourLeaf = 1,
    /// The Fall 2022 handout's: `0x4ffffffc` the total exits, `0x4ffffffd`
    /// the total cycles, `0x4ffffffe` the exits of the reason in ECX,
    /// `0x4fffffff` its cycles.
    Fall2022 = 2,
}

impl Layout {
    /// Every layout.
    pub const ALL: [Layout; 3] = [Layout::Seed, Layout::FourLeaf, Layout::Fall2022];

    /// The name a user writes to select it.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Seed => "seed",
            Layout::FourLeaf => "four-leaf",
            Layout::Fall2022 => "fall-2022",
        }
    }

    /// What `leaf` gives, or `None` for a leaf left to KVM.
    pub fn request(self, leaf: u32) -> Option<Request> {
        use Layout::{Fall2022, FourLeaf, Seed};
        Some(match (self, leaf) {
            (Seed | FourLeaf, LEAF_TOTALS) => Request::Totals,
            (Seed, LEAF_LAYOUT_SPECIFIC) => Request::ReasonExits,
            (FourLeaf, LEAF_LAYOUT_SPECIFIC) => Request::TotalCycles,
            (Seed | FourLeaf, LEAF_REASON_EXITS) => Request::ReasonExits,
            (Seed | FourLeaf, LEAF_REASON_CYCLES) => Request::ReasonCycles,
            (Fall2022, LEAF_REASON_CYCLES) => Request::TotalExits,
            (Fall2022, LEAF_REASON_EXITS) => Request::TotalCycles,
            (Fall2022, LEAF_LAYOUT_SPECIFIC) => Request::ReasonExits,
            (Fall2022, LEAF_TOTALS) => Request::ReasonCycles,
            _ => return None,
        })
    }

    /// The leaf that gives `request`, if one does.  (For the seed layout's
    /// exits of a reason, `0x4ffffffd`.)
    pub fn leaf(self, request: Request) -> Option<u32> {
        [
            LEAF_REASON_CYCLES,
            LEAF_REASON_EXITS,
            LEAF_LAYOUT_SPECIFIC,
            LEAF_TOTALS,
        ]
        .into_iter()
        .find(|&leaf| self.request(leaf) == Some(request))
    }

    /// The layout named `input`, ignoring surrounding white space.
    pub fn parse(input: &[u8]) -> Option<Self> {
        let input = trim_blanks(input);
        Self::ALL
            .into_iter()
            .find(|layout| layout.name().as_bytes() == input)
    }

    /// The layout stored as `value` by `Layout as u8`.
    pub fn from_u8(value: u8) -> Self {
        Self::ALL
            .into_iter()
            .find(|&layout| layout as u8 == value)
            .unwrap_or_default()
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

/// What a query asked for and the figure it got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// The totals.
    Totals(ExitCounters),
    /// The total exits.
    TotalExits(u64),
    /// The total cycles.
    TotalCycles(u64),
    /// The exits of a reason.
    ReasonExits(u32, u64),
    /// The cycles of a reason.
    ReasonCycles(u32, u64),
    /// ECX is not an exit reason the vendor's manual defines.
    Undefined(u32),
    /// ECX is an exit reason KVM does not handle.
    Unhandled(u32),
}

/// The module's answer to one CPUID query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Whose exit reasons ECX names.
    pub vendor: Vendor,
    /// EAX in.
    pub leaf: u32,
    /// What was asked for, and the figure.
    pub figure: Figure,
}

impl Answer {
    /// The registers the guest gets.
    pub fn regs(&self) -> CpuidRegs {
        match self.figure {
            Figure::Totals(totals) => CpuidRegs {
                eax: low32(totals.exits),
                ebx: high32(totals.cycles),
                ecx: low32(totals.cycles),
                edx: high32(totals.exits),
            },
            Figure::TotalCycles(cycles) | Figure::ReasonCycles(_, cycles) => CpuidRegs {
                ebx: high32(cycles),
                ecx: low32(cycles),
                ..CpuidRegs::default()
            },
            Figure::TotalExits(exits) => CpuidRegs {
                eax: low32(exits),
                edx: high32(exits),
                ..CpuidRegs::default()
            },
            Figure::ReasonExits(_, exits) => CpuidRegs {
                eax: low32(exits),
                ..CpuidRegs::default()
            },
            Figure::Undefined(_) => CpuidRegs {
                edx: u32::MAX,
                ..CpuidRegs::default()
            },
            Figure::Unhandled(_) => CpuidRegs::default(),
        }
    }
}

struct ReasonInEcx(Vendor, u32);

impl fmt::Display for ReasonInEcx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ReasonInEcx(vendor, ecx) = *self;
        match vendor.reason(ecx).name() {
            Some(name) => write!(f, "ecx={} ({name})", vendor.number(ecx)),
            None => write!(f, "ecx={ecx:#x}"),
        }
    }
}

/// The per-query log line (without the trailing newline).
impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CPUID {:#010x}", self.leaf)?;
        let in_ecx = |number| ReasonInEcx(self.vendor, number);
        match self.figure {
            Figure::Totals(totals) => {
                write!(f, ": exits={} cycles={}", totals.exits, totals.cycles)
            }
            Figure::TotalExits(exits) => write!(f, ": exits={exits}"),
            Figure::TotalCycles(cycles) => write!(f, ": cycles={cycles}"),
            Figure::ReasonExits(reason, exits) => {
                write!(f, " {}: exits={exits}", in_ecx(reason))
            }
            Figure::ReasonCycles(reason, cycles) => {
                write!(f, " {}: cycles={cycles}", in_ecx(reason))
            }
            Figure::Undefined(ecx) => {
                write!(f, " {}: not an exit reason", in_ecx(ecx))
            }
            Figure::Unhandled(reason) => {
                write!(f, " {}: not handled by KVM", in_ecx(reason))
            }
        }
    }
}

/// The figure of reason `ecx`: `figure` of its counters if KVM handles it.
fn per_reason(
    vendor: Vendor,
    ecx: u32,
    counts: &impl Counts,
    figure: impl FnOnce(ExitCounters) -> Figure,
) -> Figure {
    match vendor.reason(ecx) {
        Reason::Undefined => Figure::Undefined(ecx),
        Reason::Unhandled(_) => Figure::Unhandled(ecx),
        Reason::Handled(_) => figure(counts.reason(vendor.slot(ecx))),
    }
}

/// The answer to a guest's CPUID `leaf` with `ecx`, a `vendor` exit reason
/// where the leaf takes one, or `None` for a leaf that KVM answers as it
/// does without the module.
///
/// `own_exit` is the exit reason of the exit within which KVM runs
/// the query (CPUID's, or e.g. an exception's when KVM's emulator runs the
/// instruction), or `None` when KVM runs it outside of an exit.  That exit
/// is still being handled: it is counted in the exits (the total, and its
/// reason's), as the classroom original did, but not in the cycles.
pub fn answer(
    vendor: Vendor,
    leaf: u32,
    ecx: u32,
    own_exit: Option<u32>,
    layout: Layout,
    counts: &impl Counts,
) -> Option<Answer> {
    let own_slot = own_exit.map(|exit| vendor.slot(exit));
    let reason_exits = |c: ExitCounters| {
        let own = u64::from(own_slot == Some(vendor.slot(ecx)));
        Figure::ReasonExits(ecx, c.exits.wrapping_add(own))
    };
    let total_exits = |c: ExitCounters| c.exits.wrapping_add(u64::from(own_exit.is_some()));
    let figure = match layout.request(leaf)? {
        Request::Totals => {
            let total = counts.total();
            Figure::Totals(ExitCounters {
                exits: total_exits(total),
                cycles: total.cycles,
            })
        }
        Request::TotalExits => Figure::TotalExits(total_exits(counts.total())),
        Request::TotalCycles => Figure::TotalCycles(counts.total().cycles),
        Request::ReasonExits => per_reason(vendor, ecx, counts, reason_exits),
        Request::ReasonCycles => {
            per_reason(vendor, ecx, counts, |c| Figure::ReasonCycles(ecx, c.cycles))
        }
    };
    Some(Answer {
        vendor,
        leaf,
        figure,
    })
}

/// `input` without surrounding white space, as a debugfs write has it.
pub fn trim_blanks(input: &[u8]) -> &[u8] {
    // Not `trim_ascii`: it needs Rust 1.80, the kernel's minimum is 1.78.
    let blank = |byte: &u8| byte.is_ascii_whitespace();
    let start = input.iter().position(|b| !blank(b)).unwrap_or(input.len());
    let end = input
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |last| last + 1);
    &input[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reasons::{BEYOND_SLOT, MAX_REASON};
    use std::{cell::Cell, format, vec::Vec};

    /// The exit reason of a CPUID exit on VMX: a query's own exit.
    const CPUID_EXIT: u32 = 10;

    fn counters(exits: u64, cycles: u64) -> ExitCounters {
        ExitCounters { exits, cycles }
    }

    /// Counters with `n` exits of reason `n`, 1000 cycles each.
    fn sample() -> Counters {
        let mut all = Counters::ZERO;
        for n in 0..SLOTS as u32 {
            for _ in 0..n {
                all.record(Vendor::Vmx, n, 1000);
            }
        }
        all
    }

    fn regs(leaf: u32, ecx: u32, layout: Layout, counts: &Counters) -> CpuidRegs {
        answer(Vendor::Vmx, leaf, ecx, Some(CPUID_EXIT), layout, counts)
            .unwrap()
            .regs()
    }

    const UNDEFINED: CpuidRegs = CpuidRegs {
        eax: 0,
        ebx: 0,
        ecx: 0,
        edx: u32::MAX,
    };

    #[test]
    fn totals_leaf_layout() {
        let mut all = Counters::ZERO;
        all.total = counters(0x1234_5678_9abc_def0, 0x0fed_cba9_8765_4321);
        let expected = CpuidRegs {
            eax: 0x9abc_def1,
            ebx: 0x0fed_cba9,
            ecx: 0x8765_4321,
            edx: 0x1234_5678,
        };
        for layout in [Layout::Seed, Layout::FourLeaf] {
            for ecx in [0, 10, 35, u32::MAX] {
                assert_eq!(regs(LEAF_TOTALS, ecx, layout, &all), expected);
            }
        }
        // Fall 2022: the exits (with EDX their high half) and the cycles
        // each have a leaf of their own.
        for ecx in [0, 10, 35, u32::MAX] {
            assert_eq!(
                regs(LEAF_REASON_CYCLES, ecx, Layout::Fall2022, &all),
                CpuidRegs {
                    eax: expected.eax,
                    edx: expected.edx,
                    ..CpuidRegs::default()
                }
            );
            assert_eq!(
                regs(LEAF_REASON_EXITS, ecx, Layout::Fall2022, &all),
                CpuidRegs {
                    ebx: expected.ebx,
                    ecx: expected.ecx,
                    ..CpuidRegs::default()
                }
            );
        }
    }

    #[test]
    fn query_counts_its_own_exit() {
        let none = Counters::ZERO;
        for layout in Layout::ALL {
            let leaf = |request| layout.leaf(request).unwrap();
            let total_exits = layout
                .leaf(Request::Totals)
                .unwrap_or_else(|| leaf(Request::TotalExits));
            assert_eq!(regs(total_exits, 0, layout, &none).eax, 1);
            assert_eq!(regs(leaf(Request::ReasonExits), 10, layout, &none).eax, 1);
            assert_eq!(regs(leaf(Request::ReasonExits), 12, layout, &none).eax, 0);
            assert_eq!(
                regs(leaf(Request::ReasonCycles), 10, layout, &none),
                CpuidRegs::default()
            );
        }
        assert_eq!(regs(LEAF_LAYOUT_SPECIFIC, 10, Layout::Seed, &none).eax, 1);
    }

    #[test]
    fn own_exit_carries_into_high_half() {
        let mut all = Counters::ZERO;
        all.total = counters(0xffff_ffff, 7);
        let regs = regs(LEAF_TOTALS, 0, Layout::Seed, &all);
        assert_eq!((regs.edx, regs.eax), (1, 0));
        assert_eq!((regs.ebx, regs.ecx), (0, 7));
    }

    #[test]
    fn counters_wrap_instead_of_overflowing() {
        let mut all = Counters::ZERO;
        all.total = counters(u64::MAX, u64::MAX);
        assert_eq!(
            regs(LEAF_TOTALS, 0, Layout::Seed, &all),
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
    fn record_counts_total_and_reason() {
        let mut all = Counters::ZERO;
        all.record(Vendor::Vmx, 48, 500);
        all.record(Vendor::Vmx, 0x8000_0021, 20);
        all.record(Vendor::Vmx, 0x1234, 3);
        all.record(Vendor::Vmx, 48, 100);
        assert_eq!(all.total, counters(4, 623));
        assert_eq!(all.by_reason[48], counters(2, 600));
        assert_eq!(all.by_reason[33], counters(1, 20));
        assert_eq!(all.by_reason[BEYOND_SLOT], counters(1, 3));
        assert_eq!(
            all.by_reason.iter().copied().sum::<ExitCounters>(),
            all.total
        );
    }

    #[test]
    fn per_reason_leaves_every_ecx() {
        let all = sample();
        let mut values: Vec<u32> = (0..=0x1_0001).collect();
        values.extend([
            0x7fff_ffff,
            0x8000_0000,
            0x8000_0021,
            0x8000_0022,
            0x8000_0029,
        ]);
        values.extend([0xffff_fffe, u32::MAX]);
        let fall_totals = (
            regs(LEAF_REASON_CYCLES, 0, Layout::Fall2022, &all),
            regs(LEAF_REASON_EXITS, 0, Layout::Fall2022, &all),
        );
        for ecx in values {
            let seed_exits = regs(LEAF_LAYOUT_SPECIFIC, ecx, Layout::Seed, &all);
            // Fall 2022: ECX does not matter to the totals' leaves.
            assert_eq!(
                (
                    regs(LEAF_REASON_CYCLES, ecx, Layout::Fall2022, &all),
                    regs(LEAF_REASON_EXITS, ecx, Layout::Fall2022, &all)
                ),
                fall_totals,
                "ecx {ecx:#x}"
            );
            for layout in Layout::ALL {
                let exits = regs(
                    layout.leaf(Request::ReasonExits).unwrap(),
                    ecx,
                    layout,
                    &all,
                );
                let cycles = regs(
                    layout.leaf(Request::ReasonCycles).unwrap(),
                    ecx,
                    layout,
                    &all,
                );
                assert_eq!(exits, seed_exits, "ecx {ecx:#x}");
                match Vendor::Vmx.reason(ecx) {
                    Reason::Undefined => {
                        assert_eq!((exits, cycles), (UNDEFINED, UNDEFINED), "ecx {ecx:#x}")
                    }
                    Reason::Unhandled(_) => assert_eq!(
                        (exits, cycles),
                        (CpuidRegs::default(), CpuidRegs::default()),
                        "ecx {ecx:#x}"
                    ),
                    Reason::Handled(_) => {
                        let slot = all.by_reason[ecx as usize];
                        let own = u64::from(ecx == 10);
                        assert_eq!(
                            exits,
                            CpuidRegs {
                                eax: (slot.exits + own) as u32,
                                ..CpuidRegs::default()
                            }
                        );
                        assert_eq!(
                            cycles,
                            CpuidRegs {
                                ebx: high32(slot.cycles),
                                ecx: low32(slot.cycles),
                                ..CpuidRegs::default()
                            }
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn svm_reason_leaves() {
        const SVM_CPUID_EXIT: u32 = 0x72;
        let mut all = Counters::ZERO;
        for (code, exits) in [(0x72, 5), (0x7b, 7), (0x400, 3), (u32::MAX, 2), (0x4321, 1)] {
            for _ in 0..exits {
                all.record(Vendor::Svm, code, 100);
            }
        }
        let query = |leaf, ecx| {
            answer(
                Vendor::Svm,
                leaf,
                ecx,
                Some(SVM_CPUID_EXIT),
                Layout::Seed,
                &all,
            )
            .unwrap()
        };
        let exits = |ecx| query(LEAF_REASON_EXITS, ecx).regs();
        assert_eq!(exits(0x72).eax, 6, "its own exit counts");
        assert_eq!(exits(0x7b).eax, 7);
        assert_eq!(exits(0x400).eax, 3);
        assert_eq!(exits(u32::MAX).eax, 2, "ERR, a failed VMRUN");
        assert_eq!(query(LEAF_REASON_CYCLES, 0x7b).regs().ecx, 700);
        assert_eq!(exits(0x4e), CpuidRegs::default(), "handled, none yet");
        for unhandled in [0xffff_fffe, 0xffff_fffd, 0xffff_fffc] {
            assert_eq!(exits(unhandled), CpuidRegs::default(), "{unhandled:#x}");
        }
        for undefined in [0xa7, 0x3ff, 0x404, 0x4321, 0xf000_0000, 0xffff_fffb] {
            assert_eq!(exits(undefined), UNDEFINED, "{undefined:#x}");
        }
        assert_eq!(all.by_reason[BEYOND_SLOT], counters(1, 100));
        let line = |ecx| format!("{}", query(LEAF_REASON_EXITS, ecx));
        assert_eq!(line(0x72), "CPUID 0x4ffffffd ecx=0x072 (CPUID): exits=6");
        assert_eq!(line(u32::MAX), "CPUID 0x4ffffffd ecx=-1 (ERR): exits=2");
        assert_eq!(line(0xa7), "CPUID 0x4ffffffd ecx=0xa7: not an exit reason");
        assert_eq!(
            line(0xffff_fffe),
            "CPUID 0x4ffffffd ecx=-2 (BUSY): not handled by KVM"
        );
    }

    #[test]
    fn four_leaf_layout_gives_total_cycles() {
        let mut all = sample();
        all.total.cycles = 0x0000_0003_0000_0004;
        for ecx in [0, 10, 35, 0x8000_0021, u32::MAX] {
            assert_eq!(
                regs(LEAF_LAYOUT_SPECIFIC, ecx, Layout::FourLeaf, &all),
                CpuidRegs {
                    eax: 0,
                    ebx: 3,
                    ecx: 4,
                    edx: 0
                }
            );
        }
    }

    #[test]
    fn reason_exits_are_the_low_32_bits() {
        let mut all = Counters::ZERO;
        all.by_reason[48] = counters(0x2_0000_0005, 0);
        assert_eq!(regs(LEAF_REASON_EXITS, 48, Layout::Seed, &all).eax, 5);
    }

    struct Untouchable;

    impl Counts for Untouchable {
        fn total(&self) -> ExitCounters {
            panic!("summed the totals")
        }
        fn reason(&self, _: Slot) -> ExitCounters {
            panic!("summed a reason")
        }
    }

    #[test]
    fn other_leaves_are_left_to_kvm() {
        for leaf in
            (0x4fff_fff0..LEAF_REASON_CYCLES).chain([0, 1, 0x4000_0000, 0x8000_0000, u32::MAX])
        {
            for layout in Layout::ALL {
                assert_eq!(
                    answer(Vendor::Vmx, leaf, 0, Some(CPUID_EXIT), layout, &Untouchable),
                    None,
                    "leaf {leaf:#x}"
                );
            }
        }
    }

    #[test]
    fn undefined_and_unhandled_read_no_counter() {
        for ecx in [5, 35, 0x1_0000, u32::MAX] {
            for leaf in [LEAF_REASON_EXITS, LEAF_REASON_CYCLES] {
                assert!(answer(Vendor::Vmx, leaf, ecx, None, Layout::Seed, &Untouchable).is_some());
            }
        }
    }

    #[test]
    fn reads_only_what_the_leaf_reports() {
        struct OnlyReason(Cell<Option<Slot>>);
        impl Counts for OnlyReason {
            fn total(&self) -> ExitCounters {
                panic!("summed the totals")
            }
            fn reason(&self, slot: Slot) -> ExitCounters {
                self.0.set(Some(slot));
                counters(1, 2)
            }
        }
        let counts = OnlyReason(Cell::new(None));
        answer(
            Vendor::Vmx,
            LEAF_REASON_CYCLES,
            48,
            Some(CPUID_EXIT),
            Layout::Seed,
            &counts,
        );
        assert_eq!(counts.0.get(), Some(Vendor::Vmx.slot(48)));
    }

    #[test]
    fn every_layout_has_every_figure() {
        for layout in Layout::ALL {
            for request in [Request::ReasonExits, Request::ReasonCycles] {
                assert!(layout.leaf(request).is_some(), "{layout:?} {request:?}");
            }
            let has = |request| layout.leaf(request).is_some();
            assert!(
                has(Request::Totals) || (has(Request::TotalExits) && has(Request::TotalCycles)),
                "{layout:?}"
            );
        }
        assert_eq!(
            Layout::Seed.leaf(Request::ReasonExits),
            Some(LEAF_REASON_EXITS)
        );
        assert_eq!(
            Layout::FourLeaf.leaf(Request::TotalCycles),
            Some(LEAF_LAYOUT_SPECIFIC)
        );
        assert_eq!(
            Layout::Fall2022.leaf(Request::TotalExits),
            Some(LEAF_REASON_CYCLES)
        );
        assert_eq!(
            Layout::Fall2022.leaf(Request::ReasonCycles),
            Some(LEAF_TOTALS)
        );
    }

    #[test]
    fn layout_names() {
        assert_eq!(Layout::default(), Layout::Seed);
        for layout in Layout::ALL {
            assert_eq!(Layout::parse(layout.name().as_bytes()), Some(layout));
            assert_eq!(Layout::from_u8(layout as u8), layout);
        }
        assert_eq!(Layout::parse(b"four-leaf\n"), Some(Layout::FourLeaf));
        assert_eq!(Layout::parse(b" seed "), Some(Layout::Seed));
        for bad in [&b""[..], b"Seed", b"four", b"seed four-leaf", b"\xff"] {
            assert_eq!(Layout::parse(bad), None);
        }
    }

    #[test]
    fn log_lines() {
        let all = sample();
        let line = |leaf, ecx, layout| {
            let answer = answer(Vendor::Vmx, leaf, ecx, Some(CPUID_EXIT), layout, &all);
            format!("{}", answer.unwrap())
        };
        let cases = [
            (
                LEAF_TOTALS,
                0,
                Layout::Seed,
                format!(
                    "CPUID 0x4fffffff: exits={} cycles={}",
                    all.total.exits + 1,
                    all.total.cycles
                ),
            ),
            (
                LEAF_LAYOUT_SPECIFIC,
                3,
                Layout::FourLeaf,
                format!("CPUID 0x4ffffffe: cycles={}", all.total.cycles),
            ),
            (
                LEAF_REASON_CYCLES,
                3,
                Layout::Fall2022,
                format!("CPUID 0x4ffffffc: exits={}", all.total.exits + 1),
            ),
            (
                LEAF_REASON_EXITS,
                3,
                Layout::Fall2022,
                format!("CPUID 0x4ffffffd: cycles={}", all.total.cycles),
            ),
            (
                LEAF_TOTALS,
                48,
                Layout::Fall2022,
                "CPUID 0x4fffffff ecx=48 (EPT_VIOLATION): cycles=48000".into(),
            ),
        ]
        .into_iter()
        .chain(
            [
                (LEAF_REASON_EXITS, 10, "0x4ffffffd ecx=10 (CPUID): exits=11"),
                (
                    LEAF_REASON_CYCLES,
                    48,
                    "0x4ffffffc ecx=48 (EPT_VIOLATION): cycles=48000",
                ),
                (
                    LEAF_LAYOUT_SPECIFIC,
                    35,
                    "0x4ffffffe ecx=0x23: not an exit reason",
                ),
                (
                    LEAF_REASON_EXITS,
                    5,
                    "0x4ffffffd ecx=5 (IO_SMI): not handled by KVM",
                ),
            ]
            .map(|(leaf, ecx, text)| (leaf, ecx, Layout::Seed, format!("CPUID {text}"))),
        );
        for (leaf, ecx, layout, expected) in cases {
            assert_eq!(line(leaf, ecx, layout), expected);
        }
    }

    #[test]
    fn own_exit_counts_under_its_reason() {
        let all = sample();
        let query = |leaf, ecx, own_exit| {
            answer(Vendor::Vmx, leaf, ecx, own_exit, Layout::Seed, &all)
                .unwrap()
                .regs()
        };
        // Emulated after an exception exit (forced emulation): the query's
        // own exit is reason 0's, not CPUID's.
        assert_eq!(query(LEAF_REASON_EXITS, 0, Some(0)).eax, 1);
        assert_eq!(query(LEAF_REASON_EXITS, 10, Some(0)).eax, 10);
        assert_eq!(query(LEAF_REASON_EXITS, 33, Some(0x8000_0021)).eax, 34);
        // Emulated outside of an exit: nothing is in flight.
        assert_eq!(query(LEAF_REASON_EXITS, 10, None).eax, 10);
        assert_eq!(query(LEAF_TOTALS, 0, None).eax, all.total.exits as u32);
        assert_eq!(
            query(LEAF_TOTALS, 0, Some(0)).eax,
            all.total.exits as u32 + 1
        );
        // An own exit above MAX_REASON counts in the total only.
        assert_eq!(
            query(LEAF_TOTALS, 0, Some(0xdead)).eax,
            all.total.exits as u32 + 1
        );
        for ecx in [0xdead, 0xffff, MAX_REASON + 1] {
            assert_eq!(query(LEAF_REASON_EXITS, ecx, Some(0xdead)).edx, u32::MAX);
        }
    }
}
