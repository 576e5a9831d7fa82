// SPDX-License-Identifier: GPL-2.0

//! Checks `reasons.rs` against the kernel the module is built for: every
//! number from 0 to 0x1ffff is named as the kernel's `VMX_EXIT_REASONS`
//! names it, and handled exactly when KVM's VMX exit path handles it.
//!
//! Run by `make check`: `KVM_EXITSTAT_KSRC=<tree> cargo test --test
//! reasons_match_kernel -- --ignored`.

use exitstat::reasons::{self, Reason, MAX_REASON};
use std::{collections::BTreeMap, env, fs, path::PathBuf};

fn kernel_file(path: &str) -> String {
    let tree =
        env::var_os("KVM_EXITSTAT_KSRC").expect("KVM_EXITSTAT_KSRC=<kernel tree> is not set");
    let file = PathBuf::from(tree).join(path);
    fs::read_to_string(&file).unwrap_or_else(|error| panic!("{}: {error}", file.display()))
}

/// The lines of `text` from the one that contains `start` to the next that
/// contains `end`.
fn block<'a>(text: &'a str, start: &str, end: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|line| !line.contains(start));
    assert!(lines.next().is_some(), "no '{start}'");
    lines.take_while(|line| !line.contains(end)).collect()
}

struct Kernel {
    /// `EXIT_REASON_X` -> number, from `#define`s.
    numbers: BTreeMap<String, u32>,
    /// Number -> name, from `VMX_EXIT_REASONS`.
    names: BTreeMap<u32, String>,
    /// Numbers with an entry in `kvm_vmx_exit_handlers[]`.
    handlers: Vec<u32>,
}

fn kernel() -> Kernel {
    let uapi = kernel_file("arch/x86/include/uapi/asm/vmx.h");
    let numbers: BTreeMap<String, u32> = uapi
        .lines()
        .filter_map(|line| {
            let mut words = line
                .strip_prefix("#define EXIT_REASON_")?
                .split_whitespace();
            Some((words.next()?.to_string(), words.next()?.parse().ok()?))
        })
        .collect();
    assert!(
        numbers.len() > 60,
        "too few EXIT_REASON_ defines: {}",
        numbers.len()
    );
    let names = block(&uapi, "#define VMX_EXIT_REASONS \\", "}\n")
        .iter()
        .chain(block(&uapi, "EXIT_REASON_BUS_LOCK,", "#").iter())
        .filter_map(|line| {
            let (symbol, name) = line
                .trim()
                .strip_prefix("{ EXIT_REASON_")?
                .split_once(',')?;
            let name = name.trim().strip_prefix('"')?.split('"').next()?;
            Some((numbers[symbol], name.to_string()))
        })
        .collect::<BTreeMap<_, _>>();
    let vmx = kernel_file("arch/x86/kvm/vmx/vmx.c");
    let handlers = block(
        &vmx,
        "kvm_vmx_exit_handlers[])(struct kvm_vcpu *vcpu) = {",
        "};",
    )
    .iter()
    .filter_map(|line| {
        let symbol = line
            .trim()
            .strip_prefix("[EXIT_REASON_")?
            .split(']')
            .next()?;
        Some(numbers[symbol])
    })
    .collect::<Vec<_>>();
    assert!(
        handlers.len() > 40,
        "too few exit handlers: {}",
        handlers.len()
    );
    // VM-entry failures never reach the table: __vmx_handle_exit() reports
    // them to userspace as KVM_EXIT_FAIL_ENTRY.
    assert!(vmx.contains("if (exit_reason.failed_vmentry) {"));
    assert!(vmx.contains("KVM_EXIT_FAIL_ENTRY"));
    Kernel {
        numbers,
        names,
        handlers,
    }
}

#[test]
#[ignore = "needs KVM_EXITSTAT_KSRC=<kernel tree>; run by `make check`"]
fn reasons_match_the_kernel() {
    let kernel = kernel();
    assert_eq!(
        kernel.names.len(),
        kernel.numbers.len(),
        "a define without a name"
    );
    let failed_vmentry = [
        kernel.numbers["INVALID_STATE"],
        kernel.numbers["MSR_LOAD_FAIL"],
    ];
    for number in 0..=0x1_ffff {
        let ours = reasons::vmx(number);
        if let Some(name) = kernel.names.get(&number) {
            assert!(number <= MAX_REASON);
            assert_eq!(ours.name(), Some(name.as_str()), "reason {number}");
        }
        let handled = kernel.handlers.contains(&number) || failed_vmentry.contains(&number);
        assert_eq!(
            matches!(ours, Reason::Handled(_)),
            handled,
            "reason {number} ({ours:?}): KVM handles it: {handled}"
        );
        if number > MAX_REASON {
            assert_eq!(ours, Reason::Undefined, "reason {number}");
        }
    }
}
