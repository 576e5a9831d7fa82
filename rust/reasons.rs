// SPDX-License-Identifier: GPL-2.0

//! Exit reasons by vendor: VMX basic exit reasons (Intel SDM Vol. 3,
//! Appendix C) and SVM exit codes (AMD APM Vol. 2, Appendix C), which ones
//! the manuals define, their names, which ones KVM (Linux 6.12) handles,
//! and the counter slot each one is counted in.
//!
//! `tests/host/reasons_match_kernel.rs` checks these tables against the kernel
//! source the module is built for.

use core::fmt;

/// The highest basic exit reason the Intel SDM defines (81, UWRMSR; SDM
/// Vol. 3, Appendix C, 2024 revisions).
pub const MAX_REASON: u32 = 81;

/// The SVM exit codes the APM defines (Appendix C, 2024 revisions): a dense
/// run from 0, four feature-specific ones from 0x400, and four negative
/// error codes, which KVM keeps in the low 32 bits of the exit code.
const SVM_DENSE: u32 = 0xa7;
const SVM_FEATURE: u32 = 0x400;
const SVM_FEATURE_COUNT: u32 = 4;
const SVM_ERROR_COUNT: u32 = 4;
const SVM_DEFINED: usize = (SVM_DENSE + SVM_FEATURE_COUNT + SVM_ERROR_COUNT) as usize;

/// Counter slots: one per exit reason the vendor's manual defines (VMX uses
/// the first `MAX_REASON + 1`, SVM all but the last), and `Slot::BEYOND`
/// for any other, so that every exit lands in a slot.
pub const SLOTS: usize = SVM_DEFINED + 1;

/// The index of `Slot::BEYOND`.
pub const BEYOND_SLOT: usize = SLOTS - 1;

/// A counter slot: one of `SLOTS`, by construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(usize);

impl Slot {
    /// The slot for exits whose reason the manual does not define.
    pub const BEYOND: Slot = Slot(BEYOND_SLOT);

    /// Its index, below `SLOTS`.
    pub const fn index(self) -> usize {
        self.0
    }

    /// The slot with index `index`, if it is below `SLOTS`.
    pub const fn at(index: usize) -> Option<Slot> {
        if index < SLOTS {
            Some(Slot(index))
        } else {
            None
        }
    }

    /// Every slot, in order.
    pub fn all() -> impl Iterator<Item = Slot> {
        (0..SLOTS).map(Slot)
    }
}

/// Bits 15:0 of the exit-reason field hold the basic exit reason; the
/// other bits are flags (bit 31: VM-entry failure).
const BASIC_REASON_MASK: u32 = 0xffff;

/// Whose exit reasons: KVM's vendor module, which the CPU decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    /// Intel VMX (kvm_intel): basic exit reasons.
    Vmx,
    /// AMD SVM (kvm_amd): exit codes.
    Svm,
}

/// A reason number that neither manual defines, for probing the leaves.
pub const UNDEFINED_EVERYWHERE: u32 = 0xffff;

/// What the manual and KVM say about one exit reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The manual does not define the number.
    Undefined,
    /// Defined by the manual, but KVM does not handle it.
    Unhandled(&'static str),
    /// Defined by the manual and handled by KVM.
    Handled(&'static str),
}

impl Reason {
    /// The name (the kernel's, where it has one).
    pub fn name(self) -> Option<&'static str> {
        match self {
            Reason::Undefined => None,
            Reason::Unhandled(name) | Reason::Handled(name) => Some(name),
        }
    }
}

use Reason::{Handled as H, Undefined as U, Unhandled as N};

/// Indexed by basic exit reason.  "Handled" means KVM can take the exit:
/// it has an entry in `kvm_vmx_exit_handlers[]`, is a VM-entry failure
/// (reasons 33 and 34, which KVM reports to userspace as
/// `KVM_EXIT_FAIL_ENTRY`), or is one that nested VMX reflects from L2 to L1
/// (a case of `nested_vmx_l1_wants_exit()` that can say yes: RDTSC, for
/// one, has no handler of its own but reaches KVM when L1 asks for it).
const VMX: [Reason; MAX_REASON as usize + 1] = [
    H("EXCEPTION_NMI"),       // 0
    H("EXTERNAL_INTERRUPT"),  // 1
    H("TRIPLE_FAULT"),        // 2
    N("INIT_SIGNAL"),         // 3
    N("SIPI_SIGNAL"),         // 4
    N("IO_SMI"),              // 5
    N("OTHER_SMI"),           // 6
    H("INTERRUPT_WINDOW"),    // 7
    H("NMI_WINDOW"),          // 8
    H("TASK_SWITCH"),         // 9
    H("CPUID"),               // 10
    N("GETSEC"),              // 11
    H("HLT"),                 // 12
    H("INVD"),                // 13
    H("INVLPG"),              // 14
    H("RDPMC"),               // 15
    H("RDTSC"),               // 16
    N("RSM"),                 // 17
    H("VMCALL"),              // 18
    H("VMCLEAR"),             // 19
    H("VMLAUNCH"),            // 20
    H("VMPTRLD"),             // 21
    H("VMPTRST"),             // 22
    H("VMREAD"),              // 23
    H("VMRESUME"),            // 24
    H("VMWRITE"),             // 25
    H("VMOFF"),               // 26
    H("VMON"),                // 27
    H("CR_ACCESS"),           // 28
    H("DR_ACCESS"),           // 29
    H("IO_INSTRUCTION"),      // 30
    H("MSR_READ"),            // 31
    H("MSR_WRITE"),           // 32
    H("INVALID_STATE"),       // 33
    H("MSR_LOAD_FAIL"),       // 34
    U,                        // 35
    H("MWAIT_INSTRUCTION"),   // 36
    H("MONITOR_TRAP_FLAG"),   // 37
    U,                        // 38
    H("MONITOR_INSTRUCTION"), // 39
    H("PAUSE_INSTRUCTION"),   // 40
    H("MCE_DURING_VMENTRY"),  // 41
    U,                        // 42
    H("TPR_BELOW_THRESHOLD"), // 43
    H("APIC_ACCESS"),         // 44
    H("EOI_INDUCED"),         // 45
    H("GDTR_IDTR"),           // 46
    H("LDTR_TR"),             // 47
    H("EPT_VIOLATION"),       // 48
    H("EPT_MISCONFIG"),       // 49
    H("INVEPT"),              // 50
    H("RDTSCP"),              // 51
    H("PREEMPTION_TIMER"),    // 52
    H("INVVPID"),             // 53
    H("WBINVD"),              // 54
    H("XSETBV"),              // 55
    H("APIC_WRITE"),          // 56
    H("RDRAND"),              // 57
    H("INVPCID"),             // 58
    H("VMFUNC"),              // 59
    H("ENCLS"),               // 60
    H("RDSEED"),              // 61
    H("PML_FULL"),            // 62
    H("XSAVES"),              // 63
    H("XRSTORS"),             // 64
    N("PCONFIG"),             // 65
    N("SPP"),                 // 66
    H("UMWAIT"),              // 67
    H("TPAUSE"),              // 68
    N("LOADIWKEY"),           // 69
    N("ENCLV"),               // 70
    U,                        // 71
    N("ENQCMD_PASID"),        // 72
    N("ENQCMDS_PASID"),       // 73
    H("BUS_LOCK"),            // 74
    H("NOTIFY"),              // 75
    N("SEAMCALL"),            // 76
    N("TDCALL"),              // 77
    N("RDMSRLIST"),           // 78
    N("WRMSRLIST"),           // 79
    N("URDMSR"),              // 80
    N("UWRMSR"),              // 81
];

/// What the SDM and KVM say about `number`, taken as a basic exit reason.
/// Numbers above 0xffff are not basic exit reasons (such a value is a
/// whole exit-reason field, with flag bits) and so are undefined.
fn vmx(number: u32) -> Reason {
    usize::try_from(number)
        .ok()
        .and_then(|index| VMX.get(index))
        .copied()
        .unwrap_or(Reason::Undefined)
}

/// Indexed by slot: the names of the SVM exit codes, the kernel's
/// (`SVM_EXIT_*`) where it defines the code, else the APM's.
/// AVIC_UNACCELERATED_ACCESS is the APM's AVIC_NOACCEL, to fit the table.
const SVM: [&str; SVM_DEFINED] = [
    "READ_CR0",            // 0x000
    "READ_CR1",            // 0x001
    "READ_CR2",            // 0x002
    "READ_CR3",            // 0x003
    "READ_CR4",            // 0x004
    "READ_CR5",            // 0x005
    "READ_CR6",            // 0x006
    "READ_CR7",            // 0x007
    "READ_CR8",            // 0x008
    "READ_CR9",            // 0x009
    "READ_CR10",           // 0x00a
    "READ_CR11",           // 0x00b
    "READ_CR12",           // 0x00c
    "READ_CR13",           // 0x00d
    "READ_CR14",           // 0x00e
    "READ_CR15",           // 0x00f
    "WRITE_CR0",           // 0x010
    "WRITE_CR1",           // 0x011
    "WRITE_CR2",           // 0x012
    "WRITE_CR3",           // 0x013
    "WRITE_CR4",           // 0x014
    "WRITE_CR5",           // 0x015
    "WRITE_CR6",           // 0x016
    "WRITE_CR7",           // 0x017
    "WRITE_CR8",           // 0x018
    "WRITE_CR9",           // 0x019
    "WRITE_CR10",          // 0x01a
    "WRITE_CR11",          // 0x01b
    "WRITE_CR12",          // 0x01c
    "WRITE_CR13",          // 0x01d
    "WRITE_CR14",          // 0x01e
    "WRITE_CR15",          // 0x01f
    "READ_DR0",            // 0x020
    "READ_DR1",            // 0x021
    "READ_DR2",            // 0x022
    "READ_DR3",            // 0x023
    "READ_DR4",            // 0x024
    "READ_DR5",            // 0x025
    "READ_DR6",            // 0x026
    "READ_DR7",            // 0x027
    "READ_DR8",            // 0x028
    "READ_DR9",            // 0x029
    "READ_DR10",           // 0x02a
    "READ_DR11",           // 0x02b
    "READ_DR12",           // 0x02c
    "READ_DR13",           // 0x02d
    "READ_DR14",           // 0x02e
    "READ_DR15",           // 0x02f
    "WRITE_DR0",           // 0x030
    "WRITE_DR1",           // 0x031
    "WRITE_DR2",           // 0x032
    "WRITE_DR3",           // 0x033
    "WRITE_DR4",           // 0x034
    "WRITE_DR5",           // 0x035
    "WRITE_DR6",           // 0x036
    "WRITE_DR7",           // 0x037
    "WRITE_DR8",           // 0x038
    "WRITE_DR9",           // 0x039
    "WRITE_DR10",          // 0x03a
    "WRITE_DR11",          // 0x03b
    "WRITE_DR12",          // 0x03c
    "WRITE_DR13",          // 0x03d
    "WRITE_DR14",          // 0x03e
    "WRITE_DR15",          // 0x03f
    "EXCP_DE",             // 0x040
    "EXCP_DB",             // 0x041
    "EXCP_NMI",            // 0x042
    "EXCP_BP",             // 0x043
    "EXCP_OF",             // 0x044
    "EXCP_BR",             // 0x045
    "EXCP_UD",             // 0x046
    "EXCP_NM",             // 0x047
    "EXCP_DF",             // 0x048
    "EXCP_9",              // 0x049
    "EXCP_TS",             // 0x04a
    "EXCP_NP",             // 0x04b
    "EXCP_SS",             // 0x04c
    "EXCP_GP",             // 0x04d
    "EXCP_PF",             // 0x04e
    "EXCP_15",             // 0x04f
    "EXCP_MF",             // 0x050
    "EXCP_AC",             // 0x051
    "EXCP_MC",             // 0x052
    "EXCP_XF",             // 0x053
    "EXCP_VE",             // 0x054
    "EXCP_CP",             // 0x055
    "EXCP_22",             // 0x056
    "EXCP_23",             // 0x057
    "EXCP_24",             // 0x058
    "EXCP_25",             // 0x059
    "EXCP_26",             // 0x05a
    "EXCP_27",             // 0x05b
    "EXCP_HV",             // 0x05c
    "EXCP_VC",             // 0x05d
    "EXCP_SX",             // 0x05e
    "EXCP_31",             // 0x05f
    "INTR",                // 0x060
    "NMI",                 // 0x061
    "SMI",                 // 0x062
    "INIT",                // 0x063
    "VINTR",               // 0x064
    "CR0_SEL_WRITE",       // 0x065
    "IDTR_READ",           // 0x066
    "GDTR_READ",           // 0x067
    "LDTR_READ",           // 0x068
    "TR_READ",             // 0x069
    "IDTR_WRITE",          // 0x06a
    "GDTR_WRITE",          // 0x06b
    "LDTR_WRITE",          // 0x06c
    "TR_WRITE",            // 0x06d
    "RDTSC",               // 0x06e
    "RDPMC",               // 0x06f
    "PUSHF",               // 0x070
    "POPF",                // 0x071
    "CPUID",               // 0x072
    "RSM",                 // 0x073
    "IRET",                // 0x074
    "SWINT",               // 0x075
    "INVD",                // 0x076
    "PAUSE",               // 0x077
    "HLT",                 // 0x078
    "INVLPG",              // 0x079
    "INVLPGA",             // 0x07a
    "IOIO",                // 0x07b
    "MSR",                 // 0x07c
    "TASK_SWITCH",         // 0x07d
    "FERR_FREEZE",         // 0x07e
    "SHUTDOWN",            // 0x07f
    "VMRUN",               // 0x080
    "VMMCALL",             // 0x081
    "VMLOAD",              // 0x082
    "VMSAVE",              // 0x083
    "STGI",                // 0x084
    "CLGI",                // 0x085
    "SKINIT",              // 0x086
    "RDTSCP",              // 0x087
    "ICEBP",               // 0x088
    "WBINVD",              // 0x089
    "MONITOR",             // 0x08a
    "MWAIT",               // 0x08b
    "MWAIT_COND",          // 0x08c
    "XSETBV",              // 0x08d
    "RDPRU",               // 0x08e
    "EFER_WRITE_TRAP",     // 0x08f
    "CR0_WRITE_TRAP",      // 0x090
    "CR1_WRITE_TRAP",      // 0x091
    "CR2_WRITE_TRAP",      // 0x092
    "CR3_WRITE_TRAP",      // 0x093
    "CR4_WRITE_TRAP",      // 0x094
    "CR5_WRITE_TRAP",      // 0x095
    "CR6_WRITE_TRAP",      // 0x096
    "CR7_WRITE_TRAP",      // 0x097
    "CR8_WRITE_TRAP",      // 0x098
    "CR9_WRITE_TRAP",      // 0x099
    "CR10_WRITE_TRAP",     // 0x09a
    "CR11_WRITE_TRAP",     // 0x09b
    "CR12_WRITE_TRAP",     // 0x09c
    "CR13_WRITE_TRAP",     // 0x09d
    "CR14_WRITE_TRAP",     // 0x09e
    "CR15_WRITE_TRAP",     // 0x09f
    "INVLPGB",             // 0x0a0
    "INVLPGB_ILLEGAL",     // 0x0a1
    "INVPCID",             // 0x0a2
    "MCOMMIT",             // 0x0a3
    "TLBSYNC",             // 0x0a4
    "BUS_LOCK",            // 0x0a5
    "IDLE_HLT",            // 0x0a6
    "NPF",                 // 0x400
    "AVIC_INCOMPLETE_IPI", // 0x401
    "AVIC_NOACCEL",        // 0x402
    "VMGEXIT",             // 0x403
    "ERR",                 // -1
    "BUSY",                // -2
    "IDLE_REQUIRED",       // -3
    "INVALID_PMC",         // -4
];

/// The SVM exit codes that KVM 6.12 does not handle: the errors that only
/// SEV-SNP and PMC virtualization produce.  Every other code is handled:
/// it has an entry in `svm_exit_handlers[]`, is a failed VMRUN (ERR, which
/// KVM reports to userspace as `KVM_EXIT_FAIL_ENTRY`), or has an intercept
/// bit that L1 can set, so that KVM takes the exit from L2 and reflects it
/// to L1 (`nested_svm_intercept()`).
const SVM_UNHANDLED: [u32; 3] = [-2i32 as u32, -3i32 as u32, -4i32 as u32];

/// The slot of SVM exit code `code` (the low 32 bits of EXITCODE).
fn svm_slot(code: u32) -> Slot {
    let index = if code < SVM_DENSE {
        code
    } else if (SVM_FEATURE..SVM_FEATURE + SVM_FEATURE_COUNT).contains(&code) {
        SVM_DENSE + code - SVM_FEATURE
    } else if !code < SVM_ERROR_COUNT {
        SVM_DENSE + SVM_FEATURE_COUNT + !code
    } else {
        return Slot::BEYOND;
    };
    Slot(index as usize)
}

/// `Slot::BEYOND`, out of line: the module maps a reason on every exit,
/// and KVM's VMX exit reasons are all within the SDM's.
#[cold]
#[inline(never)]
fn beyond() -> Slot {
    Slot::BEYOND
}

/// The SVM exit code counted in `slot`.
fn svm_code(slot: Slot) -> Option<u32> {
    let index = u32::try_from(slot.0).ok()?;
    let feature = index.checked_sub(SVM_DENSE);
    let error = feature.and_then(|feature| feature.checked_sub(SVM_FEATURE_COUNT));
    match (feature, error) {
        (None, _) => Some(index),
        (Some(feature), None) => Some(SVM_FEATURE + feature),
        (_, Some(error)) if error < SVM_ERROR_COUNT => Some(!error),
        _ => None,
    }
}

impl Vendor {
    /// Its name: "VMX" or "SVM".
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Vmx => "VMX",
            Vendor::Svm => "SVM",
        }
    }

    /// The vendor whose KVM module runs on a CPU with this CPUID vendor
    /// string (leaf 0, EBX-EDX-ECX).
    pub fn of_cpu(vendor: &[u8; 12]) -> Vendor {
        match vendor {
            b"AuthenticAMD" | b"HygonGenuine" => Vendor::Svm,
            _ => Vendor::Vmx,
        }
    }

    /// What the manual and KVM say about reason `number`: a basic exit
    /// reason on VMX, an exit code on SVM.
    pub fn reason(self, number: u32) -> Reason {
        match self {
            Vendor::Vmx => vmx(number),
            Vendor::Svm => match svm_slot(number) {
                Slot::BEYOND => Reason::Undefined,
                slot if SVM_UNHANDLED.contains(&number) => Reason::Unhandled(SVM[slot.0]),
                slot => Reason::Handled(SVM[slot.0]),
            },
        }
    }

    /// The counter slot of an exit with reason `exit_reason`, as KVM
    /// reports it (VMX: the whole exit-reason field; a VM-entry failure
    /// counts under its basic reason).
    pub fn slot(self, exit_reason: u32) -> Slot {
        match self {
            Vendor::Vmx => match exit_reason & BASIC_REASON_MASK {
                basic if basic <= MAX_REASON => Slot(basic as usize),
                _ => beyond(),
            },
            Vendor::Svm => svm_slot(exit_reason),
        }
    }

    /// The reason counted in `slot`; `None` for `Slot::BEYOND` and the
    /// slots the vendor does not use.
    pub fn code(self, slot: Slot) -> Option<u32> {
        match self {
            Vendor::Vmx => u32::try_from(slot.0)
                .ok()
                .filter(|&number| number <= MAX_REASON),
            Vendor::Svm => svm_code(slot),
        }
    }

    /// The reasons that KVM handles, in slot order.
    pub fn handled(self) -> impl Iterator<Item = u32> {
        Slot::all()
            .filter_map(move |slot| self.code(slot))
            .filter(move |&number| matches!(self.reason(number), Reason::Handled(_)))
    }

    /// The reason `number` as the manual writes it: decimal for VMX, hex
    /// for SVM, with its error codes negative.
    pub fn number(self, number: u32) -> Number {
        Number(self, number)
    }
}

/// A reason number, written as its vendor's manual writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Number(Vendor, u32);

impl fmt::Display for Number {
    /// A width pads it as a number is padded, on the left unless asked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Number(Vendor::Vmx, number) => fmt::Display::fmt(&number, f),
            Number(Vendor::Svm, code) if !code < SVM_ERROR_COUNT => {
                fmt::Display::fmt(&(code as i32), f)
            }
            Number(Vendor::Svm, code) => {
                // "0x" and three digits or more, as the APM's table has them.
                let digits = (code.checked_ilog2().unwrap_or(0) / 4 + 1).max(3) as usize;
                let padding = f.width().unwrap_or(0).saturating_sub(2 + digits);
                let left = f.align() == Some(fmt::Alignment::Left);
                if !left {
                    write!(f, "{:padding$}", "")?;
                }
                write!(f, "{code:#0width$x}", width = 2 + digits)?;
                if left {
                    write!(f, "{:padding$}", "")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{string::ToString, vec::Vec};

    const fn negative(code: i32) -> u32 {
        code as u32
    }

    #[test]
    fn undefined_numbers() {
        let undefined: Vec<u32> = (0..=0x1_0000)
            .filter(|&n| vmx(n) == Reason::Undefined)
            .take(8)
            .collect();
        assert_eq!(undefined, [35, 38, 42, 71, 82, 83, 84, 85]);
        for number in [0xffff, 0x1_0000, 0x8000_0021, u32::MAX] {
            assert_eq!(vmx(number), Reason::Undefined);
        }
        let svm = |n| Vendor::Svm.reason(n);
        let undefined: Vec<u32> = (0..=0x1_0000)
            .filter(|&n| svm(n) == Reason::Undefined)
            .take(3)
            .collect();
        assert_eq!(undefined, [0xa7, 0xa8, 0xa9]);
        for code in [
            0x3ff,
            0x404,
            0xf000_0000,
            0x8000_0001,
            negative(-5),
            UNDEFINED_EVERYWHERE,
        ] {
            assert_eq!(svm(code), Reason::Undefined, "{code:#x}");
        }
        assert_eq!(vmx(UNDEFINED_EVERYWHERE), Reason::Undefined);
    }

    #[test]
    fn names_and_handling() {
        assert_eq!(vmx(0), Reason::Handled("EXCEPTION_NMI"));
        assert_eq!(vmx(10), Reason::Handled("CPUID"));
        assert_eq!(vmx(48), Reason::Handled("EPT_VIOLATION"));
        assert_eq!(vmx(5), Reason::Unhandled("IO_SMI"));
        assert_eq!(vmx(MAX_REASON), Reason::Unhandled("UWRMSR"));
        assert_eq!(vmx(35).name(), None);
        assert_eq!(Vendor::Vmx.reason(10), vmx(10));
        let svm = |n| Vendor::Svm.reason(n);
        assert_eq!(svm(0x72), Reason::Handled("CPUID"));
        assert_eq!(svm(0x7b), Reason::Handled("IOIO"));
        assert_eq!(svm(0x4e), Reason::Handled("EXCP_PF"));
        assert_eq!(svm(0x5f), Reason::Handled("EXCP_31"));
        assert_eq!(svm(0xa6), Reason::Handled("IDLE_HLT"));
        assert_eq!(svm(0x400), Reason::Handled("NPF"));
        assert_eq!(svm(0x403), Reason::Handled("VMGEXIT"));
        assert_eq!(svm(u32::MAX), Reason::Handled("ERR"));
        assert_eq!(svm(negative(-2)), Reason::Unhandled("BUSY"));
        assert_eq!(svm(negative(-4)), Reason::Unhandled("INVALID_PMC"));
    }

    #[test]
    fn names_are_unique_identifiers() {
        for (vendor, count) in [(Vendor::Vmx, 78), (Vendor::Svm, SVM_DEFINED)] {
            let names: Vec<&str> = Slot::all()
                .filter_map(|slot| vendor.reason(vendor.code(slot)?).name())
                .collect();
            for (i, name) in names.iter().enumerate() {
                assert!(name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'));
                assert!(name.len() <= 22, "{name} is wider than the table's column");
                assert!(!names[i + 1..].contains(name), "{name} twice");
            }
            assert_eq!(names.len(), count, "{vendor:?}");
        }
    }

    #[test]
    fn slots() {
        let vmx = |n| Vendor::Vmx.slot(n);
        assert_eq!(vmx(10).index(), 10);
        assert_eq!(vmx(0x8000_0021).index(), 33);
        assert_eq!(vmx(0x0800_0000 | 60).index(), 60);
        assert_eq!(vmx(MAX_REASON).index(), MAX_REASON as usize);
        assert_eq!(vmx(MAX_REASON + 1), Slot::BEYOND);
        assert_eq!(vmx(0xffff), Slot::BEYOND);
        assert_eq!(vmx(u32::MAX), Slot::BEYOND);
        let svm = |n| Vendor::Svm.slot(n);
        assert_eq!(svm(0x72).index(), 0x72);
        assert_eq!(svm(0xa6).index(), 0xa6);
        assert_eq!(svm(0xa7), Slot::BEYOND);
        assert_eq!(svm(0x400).index(), 0xa7);
        assert_eq!(svm(0x403).index(), 0xaa);
        assert_eq!(svm(u32::MAX).index(), 0xab);
        assert_eq!(svm(negative(-4)).index(), BEYOND_SLOT - 1);
        assert_eq!(svm(negative(-5)), Slot::BEYOND);
        assert_eq!(svm(0xf000_0000), Slot::BEYOND);
        assert_eq!(Slot::all().count(), SLOTS);
        assert!(Slot::all().all(|slot| slot.index() < SLOTS));
    }

    #[test]
    fn codes_and_slots_agree() {
        for vendor in [Vendor::Vmx, Vendor::Svm] {
            let mut used = 0;
            for slot in Slot::all() {
                if let Some(code) = vendor.code(slot) {
                    assert_eq!(vendor.slot(code), slot, "{vendor:?} {code:#x}");
                    used += usize::from(vendor.reason(code) != Reason::Undefined);
                }
            }
            assert_eq!(vendor.code(Slot::BEYOND), None);
            let defined = (0..=0x1_0000)
                .chain(0xffff_0000..=u32::MAX)
                .filter(|&n| vendor.reason(n) != Reason::Undefined)
                .count();
            assert_eq!(used, defined, "{vendor:?}");
        }
    }

    #[test]
    fn handled_reasons() {
        for reason in [16, 51, 63, 64, 67, 68] {
            assert!(matches!(vmx(reason), Reason::Handled(_)), "{reason}");
        }
        assert_eq!(Vendor::Vmx.handled().count(), 60);
        assert_eq!(
            Vendor::Svm.handled().count(),
            SVM_DEFINED - SVM_UNHANDLED.len()
        );
        assert_eq!(Vendor::Svm.handled().last(), Some(u32::MAX));
    }

    #[test]
    fn vendor_of_the_cpu() {
        assert_eq!(Vendor::of_cpu(b"GenuineIntel"), Vendor::Vmx);
        assert_eq!(Vendor::of_cpu(b"AuthenticAMD"), Vendor::Svm);
        assert_eq!(Vendor::of_cpu(b"HygonGenuine"), Vendor::Svm);
        assert_eq!(Vendor::of_cpu(b"CentaurHauls"), Vendor::Vmx);
    }

    #[test]
    fn numbers_as_the_manuals_write_them() {
        let show = |vendor: Vendor, n| vendor.number(n).to_string();
        assert_eq!(show(Vendor::Vmx, 48), "48");
        assert_eq!(show(Vendor::Svm, 0x72), "0x072");
        assert_eq!(show(Vendor::Svm, 0x400), "0x400");
        assert_eq!(show(Vendor::Svm, 0x8000_0001), "0x80000001");
        assert_eq!(show(Vendor::Svm, u32::MAX), "-1");
        assert_eq!(show(Vendor::Svm, negative(-4)), "-4");
        assert_eq!(
            std::format!("[{:>6}]", Vendor::Svm.number(0x7b)),
            "[ 0x07b]"
        );
        assert_eq!(
            std::format!("[{:<6}]", Vendor::Svm.number(0x7b)),
            "[0x07b ]"
        );
        assert_eq!(
            std::format!("[{:>6}]", Vendor::Svm.number(u32::MAX)),
            "[    -1]"
        );
        assert_eq!(std::format!("[{:>6}]", Vendor::Vmx.number(10)), "[    10]");
    }
}
