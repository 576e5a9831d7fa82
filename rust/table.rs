// SPDX-License-Identifier: GPL-2.0

//! The statistics table, in the spirit of `perf kvm stat report`: the
//! module's host view, the rows of its unload summary, and `exitstat`'s
//! default output.

use crate::{
    leaf::{Counters, ExitCounters},
    reasons::{Slot, Vendor, MAX_REASON, SLOTS},
};
use core::{cmp::Reverse, fmt};

/// What the reason column shows for `Slot::BEYOND`: the reasons the manual
/// does not define.
pub fn beyond_label(vendor: Vendor) -> &'static str {
    const _: () = assert!(MAX_REASON == 81);
    match vendor {
        Vendor::Vmx => ">81",
        Vendor::Svm => "other",
    }
}

/// The name shown for `slot`.
pub fn slot_name(vendor: Vendor, slot: Slot) -> &'static str {
    vendor
        .code(slot)
        .and_then(|code| vendor.reason(code).name())
        .unwrap_or("(undefined)")
}

/// `part` as a percentage of `whole`, in hundredths of a percent (rounded
/// down; beyond 2^64 / 10000 exits, to within one).
fn basis_points(part: u64, whole: u64) -> u64 {
    match part.checked_mul(10_000) {
        Some(scaled) => scaled.checked_div(whole),
        None => part.checked_div(whole / 10_000),
    }
    .unwrap_or(0)
}

/// One line of the table: the counters of a reason slot (or the totals)
/// and their share of `all_exits`.
pub struct Row {
    /// Whose exit reasons.
    pub vendor: Vendor,
    /// The reason slot, or `None` for the totals.
    pub slot: Option<Slot>,
    /// Its counters.
    pub counters: ExitCounters,
    /// The exits of all reasons.
    pub all_exits: u64,
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let share = basis_points(self.counters.exits, self.all_exits);
        let average = self
            .counters
            .cycles
            .checked_div(self.counters.exits)
            .unwrap_or(0);
        let vendor = self.vendor;
        match self.slot {
            Some(slot) => match vendor.code(slot) {
                Some(code) => write!(f, "{:>6} ", vendor.number(code))?,
                None => write!(f, "{:>6} ", beyond_label(vendor))?,
            },
            None => write!(f, "{:>6} ", "")?,
        }
        let name = self.slot.map_or("total", |slot| slot_name(vendor, slot));
        write!(f, "{name:<22}")?;
        write!(
            f,
            " {:>12} {:>4}.{:02}% {:>16} {:>11}",
            self.counters.exits,
            share / 100,
            share % 100,
            self.counters.cycles,
            average
        )
    }
}

/// The rows of the reasons that occurred, most exits first (ties: lower
/// reason first).
pub fn rows(vendor: Vendor, counters: &Counters) -> impl Iterator<Item = Row> + '_ {
    // Indices, not slots: this is on the kernel's stack.
    const _: () = assert!(SLOTS <= 256);
    let mut order: [u8; SLOTS] = core::array::from_fn(|index| index as u8);
    let exits = |index: u8| counters.by_reason[usize::from(index)].exits;
    order.sort_unstable_by_key(|&index| (Reverse(exits(index)), index));
    order
        .into_iter()
        .filter(move |&index| exits(index) != 0)
        .filter_map(|index| Slot::at(usize::from(index)))
        .map(move |slot| Row {
            vendor,
            slot: Some(slot),
            counters: counters.by_reason[slot.index()],
            all_exits: counters.total.exits,
        })
}

/// The header line.
pub struct Header;

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>6} {:<22} {:>12} {:>8} {:>16} {:>11}",
            "reason", "name", "exits", "share", "cycles", "avg cycles"
        )
    }
}

/// The whole table: header, a row per reason that occurred, totals.
pub struct Table<'a>(pub Vendor, pub &'a Counters);

impl fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Table(vendor, counters) = *self;
        writeln!(f, "{Header}")?;
        for row in rows(vendor, counters) {
            writeln!(f, "{row}")?;
        }
        let total = Row {
            vendor,
            slot: None,
            counters: counters.total,
            all_exits: counters.total.exits,
        };
        writeln!(f, "{total}")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::string::ToString;

    /// Three EPT violations, one exit each of three other reasons, a failed
    /// VM entry and an exit with a reason above `MAX_REASON`.
    pub(crate) fn sample() -> Counters {
        let mut all = Counters::ZERO;
        for _ in 0..3 {
            all.record(Vendor::Vmx, 48, 1000);
        }
        all.record(Vendor::Vmx, 10, 250);
        all.record(Vendor::Vmx, 1, 10);
        all.record(Vendor::Vmx, 0x8000_0021, 7);
        all.record(Vendor::Vmx, 0x4000, 5);
        all
    }

    #[test]
    fn table_rows_sorted_with_shares_and_averages() {
        let all = sample();
        let expected = concat!(
            "reason name                          exits    share           cycles  avg cycles\n",
            "    48 EPT_VIOLATION                     3   42.85%             3000        1000\n",
            "     1 EXTERNAL_INTERRUPT                1   14.28%               10          10\n",
            "    10 CPUID                             1   14.28%              250         250\n",
            "    33 INVALID_STATE                     1   14.28%                7           7\n",
            "   >81 (undefined)                       1   14.28%                5           5\n",
            "       total                             7  100.00%             3272         467\n"
        );
        assert_eq!(Table(Vendor::Vmx, &all).to_string(), expected);
    }

    #[test]
    fn svm_table_writes_exit_codes_as_the_apm_does() {
        let mut all = Counters::ZERO;
        for code in [0x400, 0x400, 0x72, u32::MAX, 0xf000_0000] {
            all.record(Vendor::Svm, code, 10);
        }
        let expected = concat!(
            "reason name                          exits    share           cycles  avg cycles\n",
            " 0x400 NPF                               2   40.00%               20          10\n",
            " 0x072 CPUID                             1   20.00%               10          10\n",
            "    -1 ERR                               1   20.00%               10          10\n",
            " other (undefined)                       1   20.00%               10          10\n",
            "       total                             5  100.00%               50          10\n"
        );
        assert_eq!(Table(Vendor::Svm, &all).to_string(), expected);
    }

    #[test]
    fn columns_line_up_with_the_header() {
        let mut all = Counters::ZERO;
        all.total = ExitCounters {
            exits: 999_999_999_999,
            cycles: 9_999_999_999_999_999,
        };
        all.by_reason[75] = all.total;
        let text = Table(Vendor::Vmx, &all).to_string();
        let header = text.lines().next().unwrap();
        for line in text.lines().skip(1) {
            assert_eq!(line.len(), header.len(), "{line}");
        }
        assert!(text.contains(" 100.00% "), "{text}");
    }

    #[test]
    fn empty_table() {
        assert_eq!(
            Table(Vendor::Vmx, &Counters::ZERO).to_string(),
            concat!(
                "reason name                          exits    share           cycles  avg cycles\n",
                "       total                             0    0.00%                0           0\n"
            )
        );
    }

    #[test]
    fn shares_never_overflow() {
        assert_eq!(basis_points(1, 3), 3333);
        assert_eq!(basis_points(0, 0), 0);
        assert_eq!(basis_points(u64::MAX / 2, u64::MAX), 5000);
    }
}
