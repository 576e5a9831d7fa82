// SPDX-License-Identifier: GPL-2.0

//! `exitstat`'s side: reading the counters back (from the CPUID leaves in a
//! guest, or from the module's host view) and printing them as JSON or in
//! the Prometheus text format.

use crate::{
    leaf::{
        Counters, CpuidRegs, ExitCounters, Layout, Request, LEAF_LAYOUT_SPECIFIC,
        LEAF_REASON_CYCLES, LEAF_REASON_EXITS, LEAF_TOTALS,
    },
    reasons::{self, Reason, BEYOND_SLOT, MAX_REASON},
    table::{self, Row, BEYOND_LABEL},
};
use core::fmt;

/// Where the counters were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The CPUID leaves, in a guest.
    Guest,
    /// The module's host view.
    Host,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Guest => "guest",
            Source::Host => "host",
        }
    }
}

/// The leaves are not answered the way kvm-exitstat answers them.
#[derive(Debug, PartialEq, Eq)]
pub struct NotServed(pub CpuidRegs);

fn join(high: u32, low: u32) -> u64 {
    u64::from(high) << 32 | u64::from(low)
}

/// The layout the leaves are served in, told from their answers for a
/// reason the SDM does not define: the seed and four-leaf layouts give the
/// undefined-reason answer on `0x4ffffffd` and `0x4ffffffc` (and the seed
/// layout on `0x4ffffffe` too, where the four-leaf one gives cycles); the
/// Fall 2022 layout gives it on `0x4ffffffe` and `0x4fffffff`.  Anything
/// else is not kvm-exitstat's: the `0x4ffffffd` answer says what it was.
pub fn layout_of(mut cpuid: impl FnMut(u32, u32) -> CpuidRegs) -> Result<Layout, NotServed> {
    let undefined = CpuidRegs {
        edx: u32::MAX,
        ..CpuidRegs::default()
    };
    let exits = cpuid(LEAF_REASON_EXITS, MAX_REASON + 1);
    let mut probe = |leaf| cpuid(leaf, MAX_REASON + 1) == undefined;
    if exits == undefined && probe(LEAF_REASON_CYCLES) {
        Ok(if probe(LEAF_LAYOUT_SPECIFIC) {
            Layout::Seed
        } else {
            Layout::FourLeaf
        })
    } else if exits != undefined && probe(LEAF_LAYOUT_SPECIFIC) && probe(LEAF_TOTALS) {
        Ok(Layout::Fall2022)
    } else {
        Err(NotServed(exits))
    }
}

/// The counters read through the CPUID leaves with `cpuid(leaf, ecx)`, in
/// whichever layout they are served.
///
/// The reasons are read one by one and the totals last, the total exits
/// after the total cycles, so the totals include every exit the reasons
/// show (and the queries' own).  A reason's exits are the low 32 bits the
/// leaf reports; reasons above `MAX_REASON` cannot be read this way.
pub fn from_leaves(
    mut cpuid: impl FnMut(u32, u32) -> CpuidRegs,
) -> Result<(Layout, Counters), NotServed> {
    let layout = layout_of(&mut cpuid)?;
    // Every layout has a leaf for each of these.
    let leaf = |request| layout.leaf(request).unwrap_or(LEAF_TOTALS);
    let mut all = Counters::ZERO;
    for number in 0..=MAX_REASON {
        if let Reason::Handled(_) = reasons::vmx(number) {
            let exits = cpuid(leaf(Request::ReasonExits), number);
            let cycles = cpuid(leaf(Request::ReasonCycles), number);
            all.by_reason[number as usize] = ExitCounters {
                exits: exits.eax.into(),
                cycles: join(cycles.ebx, cycles.ecx),
            };
        }
    }
    let (cycles, exits) = match layout.leaf(Request::Totals) {
        Some(totals) => {
            let totals = cpuid(totals, 0);
            (totals, totals)
        }
        None => {
            let cycles = cpuid(leaf(Request::TotalCycles), 0);
            (cycles, cpuid(leaf(Request::TotalExits), 0))
        }
    };
    all.total = ExitCounters {
        exits: join(exits.edx, exits.eax),
        cycles: join(cycles.ebx, cycles.ecx),
    };
    Ok((layout, all))
}

/// A line of the host view that is not what the module writes.
#[derive(Debug, PartialEq, Eq)]
pub struct BadLine(pub usize);

/// The counters in the module's host view (`table::Table`).
pub fn parse_table(text: &str) -> Result<Counters, BadLine> {
    let mut all = Counters::ZERO;
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, line)| line.split_whitespace().next());
    if header != Some(Some("reason")) {
        return Err(BadLine(1));
    }
    let mut seen_total = false;
    for (index, line) in lines {
        let bad = BadLine(index + 1);
        let fields: [&str; 6] = {
            let mut fields = [""; 6];
            let mut words = line.split_whitespace();
            for field in fields.iter_mut() {
                *field = words.next().unwrap_or("");
            }
            if words.next().is_some() {
                return Err(bad);
            }
            fields
        };
        let number = |text: &str| text.parse::<u64>().map_err(|_| BadLine(index + 1));
        let counters = |exits, cycles| -> Result<ExitCounters, BadLine> {
            Ok(ExitCounters {
                exits: number(exits)?,
                cycles: number(cycles)?,
            })
        };
        match fields {
            ["total", exits, _, cycles, _, ""] if !seen_total => {
                all.total = counters(exits, cycles)?;
                seen_total = true;
            }
            [reason, name, exits, _, cycles, _] if !seen_total => {
                let slot = if reason == BEYOND_LABEL {
                    BEYOND_SLOT
                } else {
                    reason
                        .parse::<usize>()
                        .ok()
                        .filter(|&slot| slot < BEYOND_SLOT)
                        .ok_or(BadLine(index + 1))?
                };
                if name != table::slot_name(slot) {
                    return Err(bad);
                }
                all.by_reason[slot] = counters(exits, cycles)?;
            }
            _ => return Err(bad),
        }
    }
    if seen_total {
        Ok(all)
    } else {
        Err(BadLine(text.lines().count() + 1))
    }
}

/// A reason slot as JSON (`null` for the reasons above `MAX_REASON`) or as a
/// Prometheus label value.
struct ReasonValue {
    slot: usize,
    json: bool,
}

impl fmt::Display for ReasonValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.slot == BEYOND_SLOT, self.json) {
            (false, _) => write!(f, "{}", self.slot),
            (true, true) => f.write_str("null"),
            (true, false) => f.write_str(BEYOND_LABEL),
        }
    }
}

/// The counters as one JSON object.
pub struct Json<'a>(pub &'a Counters, pub Source);

impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Json(all, source) = self;
        writeln!(f, "{{")?;
        writeln!(f, "  \"source\": \"{}\",", source.name())?;
        writeln!(f, "  \"exits\": {},", all.total.exits)?;
        writeln!(f, "  \"cycles\": {},", all.total.cycles)?;
        write!(f, "  \"reasons\": [")?;
        for (index, Row { slot, counters, .. }) in table::rows(all).enumerate() {
            let slot = slot.unwrap_or(BEYOND_SLOT);
            write!(
                f,
                "{}\n    {{\"reason\": {}, \"name\": \"{}\", \"exits\": {}, \"cycles\": {}, \"avg_cycles\": {}}}",
                if index == 0 { "" } else { "," },
                ReasonValue { slot, json: true },
                table::slot_name(slot),
                counters.exits,
                counters.cycles,
                counters.cycles.checked_div(counters.exits).unwrap_or(0)
            )?;
        }
        writeln!(f, "\n  ]\n}}")
    }
}

/// A metric family: name part, help text, and the value it takes.
type Family = (&'static str, &'static str, fn(&ExitCounters) -> u64);

/// The counters in the Prometheus text exposition format, for
/// node_exporter's textfile collector.
pub struct Prometheus<'a>(pub &'a Counters, pub Source);

impl fmt::Display for Prometheus<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Prometheus(all, source) = self;
        let families: [Family; 2] = [
            ("exits", "VM exits of all vCPUs", |c| c.exits),
            ("cycles", "TSC cycles spent handling VM exits", |c| c.cycles),
        ];
        for (what, help, value) in families {
            writeln!(f, "# HELP kvm_exitstat_{what}_total {help}.")?;
            writeln!(f, "# TYPE kvm_exitstat_{what}_total counter")?;
            writeln!(
                f,
                "kvm_exitstat_{what}_total{{source=\"{}\"}} {}",
                source.name(),
                value(&all.total)
            )?;
        }
        for (what, help, value) in families {
            writeln!(
                f,
                "# HELP kvm_exitstat_reason_{what}_total {help}, by basic exit reason."
            )?;
            writeln!(f, "# TYPE kvm_exitstat_reason_{what}_total counter")?;
            for Row { slot, counters, .. } in table::rows(all) {
                let slot = slot.unwrap_or(BEYOND_SLOT);
                writeln!(
                    f,
                    "kvm_exitstat_reason_{what}_total{{source=\"{}\",reason=\"{}\",name=\"{}\"}} {}",
                    source.name(),
                    ReasonValue { slot, json: false },
                    table::slot_name(slot),
                    value(&counters)
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        leaf::{self, Layout},
        table::tests::sample,
    };
    use std::{cell::RefCell, string::ToString, vec::Vec};

    #[test]
    fn host_view_round_trip() {
        let all = sample();
        assert_eq!(parse_table(&table::Table(&all).to_string()), Ok(all));
        let empty = Counters::ZERO;
        assert_eq!(parse_table(&table::Table(&empty).to_string()), Ok(empty));
    }

    #[test]
    fn host_view_errors_name_the_line() {
        let text = table::Table(&sample()).to_string();
        assert_eq!(parse_table(""), Err(BadLine(1)));
        assert_eq!(parse_table(&text.replace("reason", "x")), Err(BadLine(1)));
        assert_eq!(
            parse_table(&text.replace("EPT_VIOLATION", "EPT")),
            Err(BadLine(2))
        );
        assert_eq!(
            parse_table(&text.replace("    48 ", "    99 ")),
            Err(BadLine(2))
        );
        assert_eq!(parse_table(&text.replace("total", "sum")), Err(BadLine(7)));
        let truncated: Vec<&str> = text.lines().take(3).collect();
        assert_eq!(parse_table(&truncated.join("\n")), Err(BadLine(4)));
        assert_eq!(parse_table(&(text.clone() + &text)), Err(BadLine(8)));
    }

    /// The module's answers, from `leaf::answer`, as a guest's CPUID sees
    /// them; the queries themselves count as CPUID exits.
    struct Guest {
        counters: RefCell<Counters>,
        layout: Layout,
    }

    impl Guest {
        fn cpuid(&self, leaf: u32, ecx: u32) -> CpuidRegs {
            let counters = self.counters.borrow();
            let answer = leaf::answer(leaf, ecx, Some(leaf::CPUID_EXIT), self.layout, &*counters);
            drop(counters);
            self.counters.borrow_mut().record(leaf::CPUID_EXIT, 100);
            answer.expect("a kvm-exitstat leaf").regs()
        }
    }

    #[test]
    fn reads_the_leaves_in_every_layout() {
        for layout in Layout::ALL {
            let guest = Guest {
                counters: RefCell::new(sample()),
                layout,
            };
            let (read_layout, read) = from_leaves(|leaf, ecx| guest.cpuid(leaf, ecx)).unwrap();
            assert_eq!(read_layout, layout);
            let handled =
                (0..=MAX_REASON).filter(|&n| matches!(reasons::vmx(n), Reason::Handled(_)));
            let totals_queries = if layout == Layout::Fall2022 { 2 } else { 1 };
            let queries = 3 + 2 * handled.count() as u64 + totals_queries;
            let after = *guest.counters.borrow();
            // The total exits are read by the last query, which is counted
            // in them; the cycles leave out the totals queries.
            assert_eq!(
                read.total,
                ExitCounters {
                    exits: 7 + queries,
                    cycles: after.total.cycles - 100 * totals_queries
                }
            );
            assert_eq!(after.total.exits, read.total.exits);
            assert_eq!(
                read.by_reason[48],
                ExitCounters {
                    exits: 3,
                    cycles: 3000
                }
            );
            assert_eq!(
                read.by_reason[33],
                ExitCounters {
                    exits: 1,
                    cycles: 7
                }
            );
            assert_eq!(read.by_reason[BEYOND_SLOT], ExitCounters::default());
            // Reason 10 is read after the probes, two queries per handled
            // reason below it, and with its own query.
            let before = (0..10).filter(|&n| matches!(reasons::vmx(n), Reason::Handled(_)));
            assert_eq!(
                read.by_reason[10].exits,
                1 + 3 + 2 * before.count() as u64 + 1
            );
        }
    }

    #[test]
    fn other_answers_are_not_served() {
        let stock = CpuidRegs {
            eax: 0xd,
            ebx: 0x756e_6547,
            ecx: 0x6c65_746e,
            edx: 0x4965_6e69,
        };
        assert_eq!(layout_of(|_, _| stock), Err(NotServed(stock)));
        assert_eq!(
            layout_of(|_, _| CpuidRegs::default()),
            Err(NotServed(CpuidRegs::default()))
        );
        // Undefined everywhere is no layout either.
        let undefined = CpuidRegs {
            edx: u32::MAX,
            ..CpuidRegs::default()
        };
        assert_eq!(
            layout_of(|leaf, _| if leaf == LEAF_REASON_EXITS {
                undefined
            } else {
                stock
            }),
            Err(NotServed(undefined))
        );
    }

    #[test]
    fn leaves_not_served() {
        let stock = CpuidRegs {
            eax: 0x1f,
            ..CpuidRegs::default()
        };
        assert_eq!(from_leaves(|_, _| stock), Err(NotServed(stock)));
        assert_eq!(
            from_leaves(|_, _| CpuidRegs::default()),
            Err(NotServed(CpuidRegs::default()))
        );
    }

    #[test]
    fn json() {
        let text = Json(&sample(), Source::Host).to_string();
        assert_eq!(
            text,
            concat!(
                "{\n",
                "  \"source\": \"host\",\n",
                "  \"exits\": 7,\n",
                "  \"cycles\": 3272,\n",
                "  \"reasons\": [\n",
                "    {\"reason\": 48, \"name\": \"EPT_VIOLATION\", \"exits\": 3, \"cycles\": 3000, \"avg_cycles\": 1000},\n",
                "    {\"reason\": 1, \"name\": \"EXTERNAL_INTERRUPT\", \"exits\": 1, \"cycles\": 10, \"avg_cycles\": 10},\n",
                "    {\"reason\": 10, \"name\": \"CPUID\", \"exits\": 1, \"cycles\": 250, \"avg_cycles\": 250},\n",
                "    {\"reason\": 33, \"name\": \"INVALID_STATE\", \"exits\": 1, \"cycles\": 7, \"avg_cycles\": 7},\n",
                "    {\"reason\": null, \"name\": \"(undefined)\", \"exits\": 1, \"cycles\": 5, \"avg_cycles\": 5}\n",
                "  ]\n",
                "}\n"
            )
        );
        assert_eq!(
            Json(&Counters::ZERO, Source::Guest).to_string(),
            "{\n  \"source\": \"guest\",\n  \"exits\": 0,\n  \"cycles\": 0,\n  \"reasons\": [\n  ]\n}\n"
        );
    }

    #[test]
    fn prometheus() {
        let text = Prometheus(&sample(), Source::Guest).to_string();
        let expected = concat!(
            "# HELP kvm_exitstat_exits_total VM exits of all vCPUs.\n",
            "# TYPE kvm_exitstat_exits_total counter\n",
            "kvm_exitstat_exits_total{source=\"guest\"} 7\n",
            "# HELP kvm_exitstat_cycles_total TSC cycles spent handling VM exits.\n",
            "# TYPE kvm_exitstat_cycles_total counter\n",
            "kvm_exitstat_cycles_total{source=\"guest\"} 3272\n",
            "# HELP kvm_exitstat_reason_exits_total VM exits of all vCPUs, by basic exit reason.\n",
            "# TYPE kvm_exitstat_reason_exits_total counter\n",
            "kvm_exitstat_reason_exits_total{source=\"guest\",reason=\"48\",name=\"EPT_VIOLATION\"} 3\n",
            "kvm_exitstat_reason_exits_total{source=\"guest\",reason=\"1\",name=\"EXTERNAL_INTERRUPT\"} 1\n",
            "kvm_exitstat_reason_exits_total{source=\"guest\",reason=\"10\",name=\"CPUID\"} 1\n",
            "kvm_exitstat_reason_exits_total{source=\"guest\",reason=\"33\",name=\"INVALID_STATE\"} 1\n",
            "kvm_exitstat_reason_exits_total{source=\"guest\",reason=\">81\",name=\"(undefined)\"} 1\n",
            "# HELP kvm_exitstat_reason_cycles_total TSC cycles spent handling VM exits, by basic exit reason.\n",
            "# TYPE kvm_exitstat_reason_cycles_total counter\n",
            "kvm_exitstat_reason_cycles_total{source=\"guest\",reason=\"48\",name=\"EPT_VIOLATION\"} 3000\n",
            "kvm_exitstat_reason_cycles_total{source=\"guest\",reason=\"1\",name=\"EXTERNAL_INTERRUPT\"} 10\n",
            "kvm_exitstat_reason_cycles_total{source=\"guest\",reason=\"10\",name=\"CPUID\"} 250\n",
            "kvm_exitstat_reason_cycles_total{source=\"guest\",reason=\"33\",name=\"INVALID_STATE\"} 7\n",
            "kvm_exitstat_reason_cycles_total{source=\"guest\",reason=\">81\",name=\"(undefined)\"} 5\n",
        );
        assert_eq!(text, expected);
    }
}
