// SPDX-License-Identifier: GPL-2.0

//! `exitstat`'s side: reading the counters back (from the CPUID leaves in a
//! guest, or from the module's host view and the VMs' files) and printing
//! them as JSON or in the Prometheus text format.

use crate::{
    leaf::{
        Counters, CpuidRegs, ExitCounters, Layout, Request, LEAF_LAYOUT_SPECIFIC,
        LEAF_REASON_CYCLES, LEAF_REASON_EXITS, LEAF_TOTALS,
    },
    reasons::{Slot, Vendor, UNDEFINED_EVERYWHERE},
    table::{self, Row},
};
use core::{fmt, fmt::Write as _, str::FromStr};

/// A VM, named as KVM names its debugfs directory: `PID-FD`, its VMM's
/// thread id (usually its process id) and the VM's file descriptor.
/// Ordered by pid, then fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct VmName {
    /// The id of the VMM thread that created the VM.
    pub pid: u32,
    /// The VM's file descriptor in that process.
    pub fd: u32,
}

/// Text that is not `PID-FD` in decimal, as KVM writes it.
#[derive(Debug, PartialEq, Eq)]
pub struct NotAVmName;

impl FromStr for VmName {
    type Err = NotAVmName;

    fn from_str(text: &str) -> Result<Self, NotAVmName> {
        // Only the form KVM writes, so that a name leads back to its directory.
        let decimal = |digits: &str| {
            let canonical = digits.bytes().all(|byte| byte.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'));
            digits.parse().ok().filter(|_| canonical)
        };
        let (pid, fd) = text.split_once('-').ok_or(NotAVmName)?;
        Ok(VmName {
            pid: decimal(pid).ok_or(NotAVmName)?,
            fd: decimal(fd).ok_or(NotAVmName)?,
        })
    }
}

impl fmt::Display for VmName {
    /// A width pads the name on the right, as the VM table's column needs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pid_digits = self.pid.checked_ilog10().unwrap_or(0) as usize + 1;
        let fd_width = f.width().unwrap_or(0).saturating_sub(pid_digits + 1);
        write!(f, "{}-{:<fd_width$}", self.pid, self.fd)
    }
}

/// Where the counters were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The CPUID leaves, in a guest.
    Guest,
    /// The module's host view.
    Host,
    /// A VM's file in KVM's debugfs, on the host.
    Vm(VmName),
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Guest => "guest",
            Source::Host | Source::Vm(_) => "host",
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
/// reason neither vendor defines: the seed and four-leaf layouts give the
/// undefined-reason answer on `0x4ffffffd` and `0x4ffffffc` (and the seed
/// layout on `0x4ffffffe` too, where the four-leaf one gives cycles); the
/// Fall 2022 layout gives it on `0x4ffffffe` and `0x4fffffff`.  Anything
/// else is not kvm-exitstat's: the `0x4ffffffd` answer says what it was.
pub fn layout_of(mut cpuid: impl FnMut(u32, u32) -> CpuidRegs) -> Result<Layout, NotServed> {
    let undefined = CpuidRegs {
        edx: u32::MAX,
        ..CpuidRegs::default()
    };
    let exits = cpuid(LEAF_REASON_EXITS, UNDEFINED_EVERYWHERE);
    let mut probe = |leaf| cpuid(leaf, UNDEFINED_EVERYWHERE) == undefined;
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
/// whichever layout they are served, asking for `vendor`'s exit reasons.
///
/// The reasons are read one by one and the totals last, the total exits
/// after the total cycles, so the totals include every exit the reasons
/// show (and the queries' own).  A reason's exits are the low 32 bits the
/// leaf reports; the exits of reasons the manual does not define
/// (`Slot::BEYOND`) cannot be read this way.
pub fn from_leaves(
    vendor: Vendor,
    mut cpuid: impl FnMut(u32, u32) -> CpuidRegs,
) -> Result<(Layout, Counters), NotServed> {
    let layout = layout_of(&mut cpuid)?;
    // Every layout has a leaf for each of these.
    let leaf = |request| layout.leaf(request).unwrap_or(LEAF_TOTALS);
    let mut all = Counters::ZERO;
    for reason in vendor.handled() {
        let exits = cpuid(leaf(Request::ReasonExits), reason);
        let cycles = cpuid(leaf(Request::ReasonCycles), reason);
        all.by_reason[vendor.slot(reason).index()] = ExitCounters {
            exits: exits.eax.into(),
            cycles: join(cycles.ebx, cycles.ecx),
        };
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

/// The counters in the module's host view (`table::Table`) of `vendor`'s
/// exit reasons.
pub fn parse_table(vendor: Vendor, text: &str) -> Result<Counters, BadLine> {
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
                // The slots the vendor does not use would read as BEYOND's label.
                let slot = Slot::all()
                    .filter(|&slot| slot == Slot::BEYOND || vendor.code(slot).is_some())
                    .find(|&slot| displays_as(ReasonColumn(vendor, slot), reason))
                    .filter(|&slot| name == table::slot_name(vendor, slot))
                    .ok_or(bad)?;
                all.by_reason[slot.index()] = counters(exits, cycles)?;
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

/// Whether `value` is written as exactly `text`; found without allocating.
fn displays_as(value: impl fmt::Display, text: &str) -> bool {
    struct Unmatched<'a>(&'a str);

    impl fmt::Write for Unmatched<'_> {
        fn write_str(&mut self, written: &str) -> fmt::Result {
            self.0 = self.0.strip_prefix(written).ok_or(fmt::Error)?;
            Ok(())
        }
    }

    let mut unmatched = Unmatched(text);
    write!(unmatched, "{value}").is_ok() && unmatched.0.is_empty()
}

/// A used reason slot as the table's reason column shows it: the reason
/// as the vendor's manual writes it, or the label of `Slot::BEYOND`.
struct ReasonColumn(Vendor, Slot);

impl fmt::Display for ReasonColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ReasonColumn(vendor, slot) = *self;
        match vendor.code(slot) {
            Some(reason) => write!(f, "{}", vendor.number(reason)),
            None => f.write_str(table::beyond_label(vendor)),
        }
    }
}

/// A reason slot's reason as a JSON number: the VMX basic exit reason, or
/// the SVM exit code as the signed 32-bit integer the APM writes (ERR is
/// -1); `null` for `Slot::BEYOND`.
struct JsonReason(Vendor, Slot);

impl fmt::Display for JsonReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let JsonReason(vendor, slot) = *self;
        match (vendor, vendor.code(slot)) {
            (_, None) => f.write_str("null"),
            (Vendor::Vmx, Some(reason)) => write!(f, "{reason}"),
            (Vendor::Svm, Some(code)) => write!(f, "{}", code as i32),
        }
    }
}

fn average_cycles(counters: &ExitCounters) -> u64 {
    counters.cycles.checked_div(counters.exits).unwrap_or(0)
}

/// `vendor`'s counters as one JSON object; a VM's carry its name in
/// `"vm"`.
pub struct Json<'a>(pub Vendor, pub &'a Counters, pub Source);

impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Json(vendor, all, source) = *self;
        writeln!(f, "{{")?;
        writeln!(f, "  \"source\": \"{}\",", source.name())?;
        if let Source::Vm(vm) = source {
            writeln!(f, "  \"vm\": \"{vm}\",")?;
        }
        writeln!(f, "  \"vendor\": \"{}\",", vendor.name())?;
        writeln!(f, "  \"exits\": {},", all.total.exits)?;
        writeln!(f, "  \"cycles\": {},", all.total.cycles)?;
        write!(f, "  \"reasons\": [")?;
        for (index, Row { slot, counters, .. }) in table::rows(vendor, all).enumerate() {
            let slot = slot.unwrap_or(Slot::BEYOND);
            write!(
                f,
                "{}\n    {{\"reason\": {}, \"name\": \"{}\", \"exits\": {}, \"cycles\": {}, \"avg_cycles\": {}}}",
                if index == 0 { "" } else { "," },
                JsonReason(vendor, slot),
                table::slot_name(vendor, slot),
                counters.exits,
                counters.cycles,
                average_cycles(&counters)
            )?;
        }
        writeln!(f, "\n  ]\n}}")
    }
}

/// Passes JSON on one level deeper into a document: every line but the
/// first indented by `indent`, and the final line break left out, for the
/// enclosing document to follow the value with its own punctuation.
fn write_nested(
    f: &mut fmt::Formatter<'_>,
    indent: &'static str,
    value: impl fmt::Display,
) -> fmt::Result {
    let mut nested = Nested {
        out: f,
        indent,
        held_line_breaks: 0,
    };
    write!(nested, "{value}")
}

struct Nested<'a, 'b> {
    out: &'a mut fmt::Formatter<'b>,
    indent: &'static str,
    held_line_breaks: usize,
}

impl fmt::Write for Nested<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for (index, line) in text.split('\n').enumerate() {
            self.held_line_breaks += usize::from(index > 0);
            if !line.is_empty() && self.held_line_breaks > 0 {
                for _ in 0..self.held_line_breaks {
                    self.out.write_char('\n')?;
                }
                self.out.write_str(self.indent)?;
                self.held_line_breaks = 0;
            }
            self.out.write_str(line)?;
        }
        Ok(())
    }
}

/// Every VM's counters, and the host view's where there is one, as one
/// JSON object: `{"host": H, "vms": [V, ...]}`, where `H` is the host
/// view's `Json` object (`null` without a host view) and each `V` a VM's.
pub struct VmsJson<'a> {
    /// Whose exit reasons they all count.
    pub vendor: Vendor,
    /// The host view's counters, if there is a host view.
    pub host: Option<&'a Counters>,
    /// Each VM's.
    pub vms: &'a [(VmName, Counters)],
}

impl fmt::Display for VmsJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{\n  \"host\": ")?;
        match self.host {
            Some(host) => write_nested(f, "  ", Json(self.vendor, host, Source::Host))?,
            None => f.write_str("null")?,
        }
        f.write_str(",\n  \"vms\": [")?;
        for (index, (vm, counters)) in self.vms.iter().enumerate() {
            f.write_str(if index == 0 { "\n    " } else { ",\n    " })?;
            write_nested(f, "    ", Json(self.vendor, counters, Source::Vm(*vm)))?;
        }
        f.write_str("\n  ]\n}\n")
    }
}

/// Each VM's totals, a line per VM in the order given.
pub struct VmTable<'a>(pub &'a [(VmName, Counters)]);

impl fmt::Display for VmTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Wide enough for any PID-FD.
        const NAME_WIDTH: usize = 21;
        writeln!(
            f,
            "{:<NAME_WIDTH$} {:>12} {:>16} {:>11}",
            "vm", "exits", "cycles", "avg cycles"
        )?;
        for (vm, all) in self.0 {
            writeln!(
                f,
                "{vm:<NAME_WIDTH$} {:>12} {:>16} {:>11}",
                all.total.exits,
                all.total.cycles,
                average_cycles(&all.total)
            )?;
        }
        Ok(())
    }
}

/// A metric family: name part, help text, and the value it takes.
type Family = (&'static str, &'static str, fn(&ExitCounters) -> u64);

/// The labels of every series read from `source`.
struct Labels(Source);

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "source=\"{}\"", self.0.name())?;
        if let Source::Vm(vm) = self.0 {
            write!(f, ",vm=\"{vm}\"")?;
        }
        Ok(())
    }
}

/// Sets of `vendor`'s counters in one Prometheus text exposition, for
/// node_exporter's textfile collector: each metric's series of every set
/// together, under one HELP and TYPE.  The `reason` label is the table's
/// reason column.
pub struct Prometheus<'a>(pub Vendor, pub &'a [(Source, &'a Counters)]);

impl fmt::Display for Prometheus<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Prometheus(vendor, sets) = *self;
        let families: [Family; 2] = [
            ("exits", "VM exits of all vCPUs", |c| c.exits),
            ("cycles", "TSC cycles spent handling VM exits", |c| c.cycles),
        ];
        for (what, help, value) in families {
            writeln!(f, "# HELP kvm_exitstat_{what}_total {help}.")?;
            writeln!(f, "# TYPE kvm_exitstat_{what}_total counter")?;
            for &(source, all) in sets {
                writeln!(
                    f,
                    "kvm_exitstat_{what}_total{{{}}} {}",
                    Labels(source),
                    value(&all.total)
                )?;
            }
        }
        let by_what = match vendor {
            Vendor::Vmx => "basic exit reason",
            Vendor::Svm => "exit code",
        };
        for (what, help, value) in families {
            writeln!(
                f,
                "# HELP kvm_exitstat_reason_{what}_total {help}, by {by_what}."
            )?;
            writeln!(f, "# TYPE kvm_exitstat_reason_{what}_total counter")?;
            for &(source, all) in sets {
                for Row { slot, counters, .. } in table::rows(vendor, all) {
                    let slot = slot.unwrap_or(Slot::BEYOND);
                    writeln!(
                        f,
                        "kvm_exitstat_reason_{what}_total{{{},reason=\"{}\",name=\"{}\"}} {}",
                        Labels(source),
                        ReasonColumn(vendor, slot),
                        table::slot_name(vendor, slot),
                        value(&counters)
                    )?;
                }
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
        reasons::BEYOND_SLOT,
        table::tests::sample,
    };
    use std::{
        cell::RefCell,
        format,
        string::{String, ToString},
        vec::Vec,
    };

    /// SVM's ERR: a failed VMRUN, -1 in the low 32 bits of EXITCODE.
    const SVM_ERR: u32 = u32::MAX;
    const SVM_NPF: u32 = 0x400;

    /// As `sample`, on SVM: three nested page faults, one exit each of two
    /// other codes, a failed VMRUN and an exit with a code the APM does not
    /// define.
    fn svm_sample() -> Counters {
        let mut all = Counters::ZERO;
        for _ in 0..3 {
            all.record(Vendor::Svm, SVM_NPF, 1000);
        }
        all.record(Vendor::Svm, 0x72, 250);
        all.record(Vendor::Svm, 0x7b, 10);
        all.record(Vendor::Svm, SVM_ERR, 7);
        all.record(Vendor::Svm, 0xf000_0000, 5);
        all
    }

    fn table_of(vendor: Vendor, all: &Counters) -> String {
        table::Table(vendor, all).to_string()
    }

    #[test]
    fn host_view_round_trip() {
        let empty = Counters::ZERO;
        for (vendor, all) in [(Vendor::Vmx, sample()), (Vendor::Svm, svm_sample())] {
            assert_eq!(parse_table(vendor, &table_of(vendor, &all)), Ok(all));
            assert_eq!(parse_table(vendor, &table_of(vendor, &empty)), Ok(empty));
        }
    }

    #[test]
    fn svm_host_view_has_errors_and_the_feature_codes() {
        let text = table_of(Vendor::Svm, &svm_sample());
        for row in [" 0x400 NPF ", "    -1 ERR ", " other (undefined) "] {
            assert!(text.contains(row), "{row:?} in\n{text}");
        }
        let read = parse_table(Vendor::Svm, &text).unwrap();
        let slot = |code| Vendor::Svm.slot(code).index();
        assert_eq!(read.by_reason[slot(SVM_ERR)].cycles, 7);
        assert_eq!(read.by_reason[slot(SVM_NPF)].exits, 3);
        assert_eq!(read.by_reason[BEYOND_SLOT].cycles, 5);
    }

    #[test]
    fn host_view_errors_name_the_line() {
        let parse = |text: &str| parse_table(Vendor::Vmx, text);
        let text = table_of(Vendor::Vmx, &sample());
        assert_eq!(parse(""), Err(BadLine(1)));
        assert_eq!(parse(&text.replace("reason", "x")), Err(BadLine(1)));
        assert_eq!(
            parse(&text.replace("EPT_VIOLATION", "EPT")),
            Err(BadLine(2))
        );
        assert_eq!(parse(&text.replace("    48 ", "    99 ")), Err(BadLine(2)));
        assert_eq!(parse(&text.replace("    48 ", "   048 ")), Err(BadLine(2)));
        assert_eq!(parse(&text.replace("total", "sum")), Err(BadLine(7)));
        let truncated: Vec<&str> = text.lines().take(3).collect();
        assert_eq!(parse(&truncated.join("\n")), Err(BadLine(4)));
        assert_eq!(parse(&(text.clone() + &text)), Err(BadLine(8)));
        let parse = |text: &str| parse_table(Vendor::Svm, text);
        let text = table_of(Vendor::Svm, &svm_sample());
        assert_eq!(parse(&text.replace(" 0x072 ", "  0x72 ")), Err(BadLine(3)));
        assert_eq!(parse(&text.replace(" 0x072 ", " 0x0a7 ")), Err(BadLine(3)));
        assert_eq!(parse(&text.replace("    -1 ", "    -5 ")), Err(BadLine(5)));
        assert_eq!(parse(&text.replace("CPUID", "IOIO ")), Err(BadLine(3)));
    }

    #[test]
    fn a_table_is_its_vendors_alone() {
        let vmx = table_of(Vendor::Vmx, &sample());
        let svm = table_of(Vendor::Svm, &svm_sample());
        assert_eq!(parse_table(Vendor::Svm, &vmx), Err(BadLine(2)));
        assert_eq!(parse_table(Vendor::Vmx, &svm), Err(BadLine(2)));
        let beyond = |vendor| {
            let mut all = Counters::ZERO;
            all.record(vendor, 0xffff, 1);
            table_of(vendor, &all)
        };
        assert_eq!(
            parse_table(Vendor::Svm, &beyond(Vendor::Vmx)),
            Err(BadLine(2))
        );
        assert_eq!(
            parse_table(Vendor::Vmx, &beyond(Vendor::Svm)),
            Err(BadLine(2))
        );
    }

    /// The exit reason of a CPUID exit: a query's own exit.
    fn cpuid_exit(vendor: Vendor) -> u32 {
        match vendor {
            Vendor::Vmx => 10,
            Vendor::Svm => 0x72,
        }
    }

    /// The module's answers, from `leaf::answer`, as a guest's CPUID sees
    /// them; the queries themselves count as CPUID exits.
    struct Guest {
        vendor: Vendor,
        counters: RefCell<Counters>,
        layout: Layout,
    }

    impl Guest {
        fn cpuid(&self, leaf: u32, ecx: u32) -> CpuidRegs {
            let own_exit = cpuid_exit(self.vendor);
            let counters = self.counters.borrow();
            let answer = leaf::answer(
                self.vendor,
                leaf,
                ecx,
                Some(own_exit),
                self.layout,
                &*counters,
            );
            drop(counters);
            self.counters
                .borrow_mut()
                .record(self.vendor, own_exit, 100);
            answer.expect("a kvm-exitstat leaf").regs()
        }
    }

    /// Reads `sample` through the leaves of every layout as a `vendor`
    /// guest, and checks the totals, CPUID's exits and `expected`.
    fn reads_the_leaves(vendor: Vendor, sample: Counters, expected: &[(u32, ExitCounters)]) {
        for layout in Layout::ALL {
            let guest = Guest {
                vendor,
                counters: RefCell::new(sample),
                layout,
            };
            let (read_layout, read) =
                from_leaves(vendor, |leaf, ecx| guest.cpuid(leaf, ecx)).unwrap();
            assert_eq!(read_layout, layout);
            let totals_queries = if layout == Layout::Fall2022 { 2 } else { 1 };
            let queries = 3 + 2 * vendor.handled().count() as u64 + totals_queries;
            let after = *guest.counters.borrow();
            // The total exits are read by the last query, which is counted
            // in them; the cycles leave out the totals queries.
            assert_eq!(
                read.total,
                ExitCounters {
                    exits: sample.total.exits + queries,
                    cycles: after.total.cycles - 100 * totals_queries
                }
            );
            assert_eq!(after.total.exits, read.total.exits);
            for &(reason, counters) in expected {
                assert_eq!(
                    read.by_reason[vendor.slot(reason).index()],
                    counters,
                    "{vendor:?} {reason:#x}"
                );
            }
            assert_eq!(read.by_reason[BEYOND_SLOT], ExitCounters::default());
            // CPUID is read after the probes, two queries per handled
            // reason before it, and with its own query.
            let cpuid = vendor.slot(cpuid_exit(vendor)).index();
            let before = vendor
                .handled()
                .take_while(|&reason| vendor.slot(reason).index() != cpuid);
            assert_eq!(
                read.by_reason[cpuid].exits,
                sample.by_reason[cpuid].exits + 3 + 2 * before.count() as u64 + 1
            );
        }
    }

    #[test]
    fn reads_the_leaves_in_every_layout() {
        let counters = |exits, cycles| ExitCounters { exits, cycles };
        reads_the_leaves(
            Vendor::Vmx,
            sample(),
            &[(48, counters(3, 3000)), (33, counters(1, 7))],
        );
    }

    #[test]
    fn reads_the_svm_leaves_in_every_layout() {
        let counters = |exits, cycles| ExitCounters { exits, cycles };
        reads_the_leaves(
            Vendor::Svm,
            svm_sample(),
            &[
                (SVM_NPF, counters(3, 3000)),
                (0x7b, counters(1, 10)),
                (SVM_ERR, counters(1, 7)),
            ],
        );
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
        assert_eq!(
            from_leaves(Vendor::Vmx, |_, _| stock),
            Err(NotServed(stock))
        );
        assert_eq!(
            from_leaves(Vendor::Vmx, |_, _| CpuidRegs::default()),
            Err(NotServed(CpuidRegs::default()))
        );
    }

    #[test]
    fn json() {
        let text = Json(Vendor::Vmx, &sample(), Source::Host).to_string();
        assert_eq!(
            text,
            concat!(
                "{\n",
                "  \"source\": \"host\",\n",
                "  \"vendor\": \"VMX\",\n",
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
            Json(Vendor::Vmx, &Counters::ZERO, Source::Guest).to_string(),
            "{\n  \"source\": \"guest\",\n  \"vendor\": \"VMX\",\n  \"exits\": 0,\n  \"cycles\": 0,\n  \"reasons\": [\n  ]\n}\n"
        );
    }

    #[test]
    fn prometheus() {
        let text = Prometheus(Vendor::Vmx, &[(Source::Guest, &sample())]).to_string();
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

    #[test]
    fn svm_json() {
        assert_eq!(
            Json(Vendor::Svm, &svm_sample(), Source::Guest).to_string(),
            concat!(
                "{\n",
                "  \"source\": \"guest\",\n",
                "  \"vendor\": \"SVM\",\n",
                "  \"exits\": 7,\n",
                "  \"cycles\": 3272,\n",
                "  \"reasons\": [\n",
                "    {\"reason\": 1024, \"name\": \"NPF\", \"exits\": 3, \"cycles\": 3000, \"avg_cycles\": 1000},\n",
                "    {\"reason\": 114, \"name\": \"CPUID\", \"exits\": 1, \"cycles\": 250, \"avg_cycles\": 250},\n",
                "    {\"reason\": 123, \"name\": \"IOIO\", \"exits\": 1, \"cycles\": 10, \"avg_cycles\": 10},\n",
                "    {\"reason\": -1, \"name\": \"ERR\", \"exits\": 1, \"cycles\": 7, \"avg_cycles\": 7},\n",
                "    {\"reason\": null, \"name\": \"(undefined)\", \"exits\": 1, \"cycles\": 5, \"avg_cycles\": 5}\n",
                "  ]\n",
                "}\n"
            )
        );
    }

    #[test]
    fn svm_prometheus() {
        let text = Prometheus(Vendor::Svm, &[(Source::Host, &svm_sample())]).to_string();
        let expected = concat!(
            "# HELP kvm_exitstat_exits_total VM exits of all vCPUs.\n",
            "# TYPE kvm_exitstat_exits_total counter\n",
            "kvm_exitstat_exits_total{source=\"host\"} 7\n",
            "# HELP kvm_exitstat_cycles_total TSC cycles spent handling VM exits.\n",
            "# TYPE kvm_exitstat_cycles_total counter\n",
            "kvm_exitstat_cycles_total{source=\"host\"} 3272\n",
            "# HELP kvm_exitstat_reason_exits_total VM exits of all vCPUs, by exit code.\n",
            "# TYPE kvm_exitstat_reason_exits_total counter\n",
            "kvm_exitstat_reason_exits_total{source=\"host\",reason=\"0x400\",name=\"NPF\"} 3\n",
            "kvm_exitstat_reason_exits_total{source=\"host\",reason=\"0x072\",name=\"CPUID\"} 1\n",
            "kvm_exitstat_reason_exits_total{source=\"host\",reason=\"0x07b\",name=\"IOIO\"} 1\n",
            "kvm_exitstat_reason_exits_total{source=\"host\",reason=\"-1\",name=\"ERR\"} 1\n",
            "kvm_exitstat_reason_exits_total{source=\"host\",reason=\"other\",name=\"(undefined)\"} 1\n",
            "# HELP kvm_exitstat_reason_cycles_total TSC cycles spent handling VM exits, by exit code.\n",
            "# TYPE kvm_exitstat_reason_cycles_total counter\n",
            "kvm_exitstat_reason_cycles_total{source=\"host\",reason=\"0x400\",name=\"NPF\"} 3000\n",
            "kvm_exitstat_reason_cycles_total{source=\"host\",reason=\"0x072\",name=\"CPUID\"} 250\n",
            "kvm_exitstat_reason_cycles_total{source=\"host\",reason=\"0x07b\",name=\"IOIO\"} 10\n",
            "kvm_exitstat_reason_cycles_total{source=\"host\",reason=\"-1\",name=\"ERR\"} 7\n",
            "kvm_exitstat_reason_cycles_total{source=\"host\",reason=\"other\",name=\"(undefined)\"} 5\n",
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn vm_names() {
        assert_eq!("1234-11".parse(), Ok(VmName { pid: 1234, fd: 11 }));
        assert_eq!("0-0".parse(), Ok(VmName { pid: 0, fd: 0 }));
        assert_eq!(
            "4294967295-4294967295".parse(),
            Ok(VmName {
                pid: u32::MAX,
                fd: u32::MAX
            })
        );
        for bad in [
            "",
            "12",
            "12-",
            "-3",
            "a-1",
            "1-b",
            "1-2-3",
            "+1-2",
            "1--2",
            "01-2",
            "1-02",
            " 1-2",
            "1-2 ",
            "4294967296-1",
            "vcpu0",
        ] {
            assert_eq!(bad.parse::<VmName>(), Err(NotAVmName), "{bad:?}");
        }
        let mut names: Vec<VmName> = ["10-1", "9-12", "9-3", "100-0"]
            .iter()
            .map(|name| name.parse().unwrap())
            .collect();
        names.sort_unstable();
        let names: Vec<String> = names.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["9-3", "9-12", "10-1", "100-0"]);
        let vm = VmName { pid: 1234, fd: 11 };
        assert_eq!(
            format!("[{vm:<10}] [{vm:<3}] [{vm}]"),
            "[1234-11   ] [1234-11] [1234-11]"
        );
    }

    /// Two CPUID exits, for VM 1234-11.
    fn cpuid_vm() -> (VmName, Counters) {
        let mut all = Counters::ZERO;
        all.record(Vendor::Vmx, 10, 250);
        all.record(Vendor::Vmx, 10, 350);
        (VmName { pid: 1234, fd: 11 }, all)
    }

    /// One EPT violation, for VM 987-3.
    fn ept_vm() -> (VmName, Counters) {
        let mut all = Counters::ZERO;
        all.record(Vendor::Vmx, 48, 1000);
        (VmName { pid: 987, fd: 3 }, all)
    }

    #[test]
    fn json_of_a_vm() {
        let (vm, all) = cpuid_vm();
        assert_eq!(
            Json(Vendor::Vmx, &all, Source::Vm(vm)).to_string(),
            concat!(
                "{\n",
                "  \"source\": \"host\",\n",
                "  \"vm\": \"1234-11\",\n",
                "  \"vendor\": \"VMX\",\n",
                "  \"exits\": 2,\n",
                "  \"cycles\": 600,\n",
                "  \"reasons\": [\n",
                "    {\"reason\": 10, \"name\": \"CPUID\", \"exits\": 2, \"cycles\": 600, \"avg_cycles\": 300}\n",
                "  ]\n",
                "}\n"
            )
        );
    }

    #[test]
    fn json_of_all_vms() {
        let mut host = Counters::ZERO;
        host.record(Vendor::Vmx, 1, 10);
        let vms = [ept_vm(), cpuid_vm()];
        assert_eq!(
            VmsJson {
                vendor: Vendor::Vmx,
                host: Some(&host),
                vms: &vms
            }
            .to_string(),
            concat!(
                "{\n",
                "  \"host\": {\n",
                "    \"source\": \"host\",\n",
                "    \"vendor\": \"VMX\",\n",
                "    \"exits\": 1,\n",
                "    \"cycles\": 10,\n",
                "    \"reasons\": [\n",
                "      {\"reason\": 1, \"name\": \"EXTERNAL_INTERRUPT\", \"exits\": 1, \"cycles\": 10, \"avg_cycles\": 10}\n",
                "    ]\n",
                "  },\n",
                "  \"vms\": [\n",
                "    {\n",
                "      \"source\": \"host\",\n",
                "      \"vm\": \"987-3\",\n",
                "      \"vendor\": \"VMX\",\n",
                "      \"exits\": 1,\n",
                "      \"cycles\": 1000,\n",
                "      \"reasons\": [\n",
                "        {\"reason\": 48, \"name\": \"EPT_VIOLATION\", \"exits\": 1, \"cycles\": 1000, \"avg_cycles\": 1000}\n",
                "      ]\n",
                "    },\n",
                "    {\n",
                "      \"source\": \"host\",\n",
                "      \"vm\": \"1234-11\",\n",
                "      \"vendor\": \"VMX\",\n",
                "      \"exits\": 2,\n",
                "      \"cycles\": 600,\n",
                "      \"reasons\": [\n",
                "        {\"reason\": 10, \"name\": \"CPUID\", \"exits\": 2, \"cycles\": 600, \"avg_cycles\": 300}\n",
                "      ]\n",
                "    }\n",
                "  ]\n",
                "}\n"
            )
        );
        assert_eq!(
            VmsJson {
                vendor: Vendor::Vmx,
                host: None,
                vms: &[]
            }
            .to_string(),
            "{\n  \"host\": null,\n  \"vms\": [\n  ]\n}\n"
        );
    }

    #[test]
    fn vm_table() {
        let mut idle = Counters::ZERO;
        idle.total.cycles = 5;
        let vms = [
            ept_vm(),
            cpuid_vm(),
            (
                VmName {
                    pid: u32::MAX,
                    fd: u32::MAX,
                },
                idle,
            ),
        ];
        assert_eq!(
            VmTable(&vms).to_string(),
            concat!(
                "vm                           exits           cycles  avg cycles\n",
                "987-3                            1             1000        1000\n",
                "1234-11                          2              600         300\n",
                "4294967295-4294967295            0                5           0\n",
            )
        );
        assert_eq!(
            VmTable(&[]).to_string(),
            "vm                           exits           cycles  avg cycles\n"
        );
    }

    #[test]
    fn prometheus_of_vms_and_host() {
        let mut host = Counters::ZERO;
        host.record(Vendor::Vmx, 1, 10);
        let (ept_name, ept) = ept_vm();
        let (cpuid_name, cpuid) = cpuid_vm();
        let sources = [
            (Source::Host, &host),
            (Source::Vm(ept_name), &ept),
            (Source::Vm(cpuid_name), &cpuid),
        ];
        let expected = concat!(
            "# HELP kvm_exitstat_exits_total VM exits of all vCPUs.\n",
            "# TYPE kvm_exitstat_exits_total counter\n",
            "kvm_exitstat_exits_total{source=\"host\"} 1\n",
            "kvm_exitstat_exits_total{source=\"host\",vm=\"987-3\"} 1\n",
            "kvm_exitstat_exits_total{source=\"host\",vm=\"1234-11\"} 2\n",
            "# HELP kvm_exitstat_cycles_total TSC cycles spent handling VM exits.\n",
            "# TYPE kvm_exitstat_cycles_total counter\n",
            "kvm_exitstat_cycles_total{source=\"host\"} 10\n",
            "kvm_exitstat_cycles_total{source=\"host\",vm=\"987-3\"} 1000\n",
            "kvm_exitstat_cycles_total{source=\"host\",vm=\"1234-11\"} 600\n",
            "# HELP kvm_exitstat_reason_exits_total VM exits of all vCPUs, by basic exit reason.\n",
            "# TYPE kvm_exitstat_reason_exits_total counter\n",
            "kvm_exitstat_reason_exits_total{source=\"host\",reason=\"1\",name=\"EXTERNAL_INTERRUPT\"} 1\n",
            "kvm_exitstat_reason_exits_total{source=\"host\",vm=\"987-3\",reason=\"48\",name=\"EPT_VIOLATION\"} 1\n",
            "kvm_exitstat_reason_exits_total{source=\"host\",vm=\"1234-11\",reason=\"10\",name=\"CPUID\"} 2\n",
            "# HELP kvm_exitstat_reason_cycles_total TSC cycles spent handling VM exits, by basic exit reason.\n",
            "# TYPE kvm_exitstat_reason_cycles_total counter\n",
            "kvm_exitstat_reason_cycles_total{source=\"host\",reason=\"1\",name=\"EXTERNAL_INTERRUPT\"} 10\n",
            "kvm_exitstat_reason_cycles_total{source=\"host\",vm=\"987-3\",reason=\"48\",name=\"EPT_VIOLATION\"} 1000\n",
            "kvm_exitstat_reason_cycles_total{source=\"host\",vm=\"1234-11\",reason=\"10\",name=\"CPUID\"} 600\n",
        );
        assert_eq!(Prometheus(Vendor::Vmx, &sources).to_string(), expected);
    }
}
