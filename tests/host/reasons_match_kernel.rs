// SPDX-License-Identifier: GPL-2.0

//! Checks `reasons.rs` against the kernel the module is built for: every
//! number from 0 to 0x1ffff is named as the kernel's `VMX_EXIT_REASONS`
//! names it, and handled exactly when KVM can take the exit: a handler in
//! `kvm_vmx_exit_handlers[]`, a VM-entry failure, or a reflection from L2
//! to L1 in `nested_vmx_l1_wants_exit()`.
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
    /// Numbers that nested VMX can reflect from L2 to L1.
    reflected: Vec<u32>,
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
    let reflected = reflected_to_l1(&kernel_file("arch/x86/kvm/vmx/nested.c"), &numbers);
    Kernel {
        numbers,
        names,
        handlers,
        reflected,
    }
}

/// The reasons that `nested_vmx_l1_wants_exit()` names in a case that can
/// return something other than a plain `false`: KVM takes those exits from
/// L2 and reflects them to L1, handler or not.
fn reflected_to_l1(nested: &str, numbers: &BTreeMap<String, u32>) -> Vec<u32> {
    let body = nested
        .lines()
        .skip_while(|line| !line.starts_with("static bool nested_vmx_l1_wants_exit("))
        .take_while(|line| *line != "}");
    let mut reflected = Vec::new();
    let mut labels = Vec::new();
    for line in body {
        for label in line.split("case EXIT_REASON_").skip(1) {
            let symbol = label.split(':').next().unwrap().trim();
            labels.push(numbers[symbol]);
        }
        if let Some(statement) = line.trim().strip_prefix("return") {
            if statement.trim() != "false;" {
                reflected.append(&mut labels);
            }
            labels.clear();
        }
    }
    assert!(
        reflected.len() > 40,
        "too few reflected exits: {}",
        reflected.len()
    );
    reflected
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
        let handled = kernel.handlers.contains(&number)
            || failed_vmentry.contains(&number)
            || kernel.reflected.contains(&number);
        assert_eq!(
            matches!(ours, Reason::Handled(_)),
            handled,
            "reason {number} ({ours:?}): KVM can take it: {handled}"
        );
        if number > MAX_REASON {
            assert_eq!(ours, Reason::Undefined, "reason {number}");
        }
    }
}
