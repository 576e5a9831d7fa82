// SPDX-License-Identifier: GPL-2.0

//! VMX basic exit reasons: which ones the Intel SDM defines, their names,
//! and which ones KVM (Linux 6.12) handles.
//!
//! `tests/reasons_match_kernel.rs` checks this table against the kernel
//! source the module is built for.

/// The highest basic exit reason the Intel SDM defines (81, UWRMSR; SDM
/// Vol. 3, Appendix C, 2024 revisions).
pub const MAX_REASON: u32 = 81;

/// Counter slots: one per basic exit reason up to `MAX_REASON`, and one for
/// any basic exit reason above it, so that every exit lands in a slot.
pub const SLOTS: usize = MAX_REASON as usize + 2;

/// The index of `Slot::BEYOND`.
pub const BEYOND_SLOT: usize = SLOTS - 1;

/// A counter slot: one of `SLOTS`, by construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(usize);

impl Slot {
    /// The slot for exits whose basic reason is above `MAX_REASON`.
    pub const BEYOND: Slot = Slot(BEYOND_SLOT);

    /// Its index, below `SLOTS`.
    pub const fn index(self) -> usize {
        self.0
    }

    /// Every slot, in order.
    pub fn all() -> impl Iterator<Item = Slot> {
        (0..SLOTS).map(Slot)
    }
}

/// Bits 15:0 of the exit-reason field hold the basic exit reason; the
/// other bits are flags (bit 31: VM-entry failure).
const BASIC_REASON_MASK: u32 = 0xffff;

/// What the SDM and KVM say about one basic exit reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The SDM does not define the number.
    Undefined,
    /// Defined by the SDM, but KVM has no handler for it.
    Unhandled(&'static str),
    /// Defined by the SDM and handled by KVM.
    Handled(&'static str),
}

impl Reason {
    /// The name (the kernel's, from `VMX_EXIT_REASONS`, where it has one).
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
pub fn vmx(number: u32) -> Reason {
    usize::try_from(number)
        .ok()
        .and_then(|index| VMX.get(index))
        .copied()
        .unwrap_or(Reason::Undefined)
}

/// The counter slot for an exit with exit-reason field `exit_reason`.
/// VM-entry failures count under their basic reason.
pub fn slot(exit_reason: u32) -> Slot {
    let basic = (exit_reason & BASIC_REASON_MASK) as usize;
    Slot(basic.min(BEYOND_SLOT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_numbers() {
        let undefined: std::vec::Vec<u32> = (0..=0x1_0000)
            .filter(|&n| vmx(n) == Reason::Undefined)
            .take(8)
            .collect();
        assert_eq!(undefined, [35, 38, 42, 71, 82, 83, 84, 85]);
        for number in [0xffff, 0x1_0000, 0x8000_0021, u32::MAX] {
            assert_eq!(vmx(number), Reason::Undefined);
        }
    }

    #[test]
    fn names_and_handling() {
        assert_eq!(vmx(0), Reason::Handled("EXCEPTION_NMI"));
        assert_eq!(vmx(10), Reason::Handled("CPUID"));
        assert_eq!(vmx(48), Reason::Handled("EPT_VIOLATION"));
        assert_eq!(vmx(5), Reason::Unhandled("IO_SMI"));
        assert_eq!(vmx(MAX_REASON), Reason::Unhandled("UWRMSR"));
        assert_eq!(vmx(35).name(), None);
    }

    #[test]
    fn names_are_unique_identifiers() {
        let names: std::vec::Vec<&str> = (0..=MAX_REASON).filter_map(|n| vmx(n).name()).collect();
        for (i, name) in names.iter().enumerate() {
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'));
            assert!(!names[i + 1..].contains(name), "{name} twice");
        }
        assert_eq!(names.len(), 78);
    }

    #[test]
    fn slots() {
        assert_eq!(slot(10).index(), 10);
        assert_eq!(slot(0x8000_0021).index(), 33);
        assert_eq!(slot(0x0800_0000 | 60).index(), 60);
        assert_eq!(slot(MAX_REASON).index(), MAX_REASON as usize);
        assert_eq!(slot(MAX_REASON + 1), Slot::BEYOND);
        assert_eq!(slot(0xffff), Slot::BEYOND);
        assert_eq!(slot(u32::MAX), Slot::BEYOND);
        assert_eq!(Slot::all().count(), SLOTS);
        assert!(Slot::all().all(|slot| slot.index() < SLOTS));
    }

    #[test]
    fn nested_only_reasons_are_handled() {
        for reason in [16, 51, 63, 64, 67, 68] {
            assert!(matches!(vmx(reason), Reason::Handled(_)), "{reason}");
        }
    }
}
