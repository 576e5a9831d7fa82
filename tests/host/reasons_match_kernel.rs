// SPDX-License-Identifier: GPL-2.0

//! Checks `reasons.rs` against the kernel the module is built for.
//!
//! VMX: every number from 0 to 0x1ffff is named as the kernel's
//! `VMX_EXIT_REASONS` names it, and handled exactly when KVM can take the
//! exit: a handler in `kvm_vmx_exit_handlers[]`, a VM-entry failure, or a
//! reflection from L2 to L1 in `nested_vmx_l1_wants_exit()`.
//!
//! SVM: every exit code the kernel defines is ours, by the kernel's name,
//! and handled exactly when KVM can take the exit: a handler in
//! `svm_exit_handlers[]`, a failed VMRUN, or a reflection from L2 to L1 in
//! `nested_svm_intercept()`.
//!
//! Run by `make check`: `KVM_EXITSTAT_KSRC=<tree> cargo test --test
//! reasons_match_kernel -- --ignored`.

use exitstat::reasons::{Reason, Slot, Vendor, MAX_REASON};
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

struct VmxKernel {
    /// `EXIT_REASON_X` -> number, from `#define`s.
    numbers: BTreeMap<String, u32>,
    /// Number -> name, from `VMX_EXIT_REASONS`.
    names: BTreeMap<u32, String>,
    /// Numbers with an entry in `kvm_vmx_exit_handlers[]`.
    handlers: Vec<u32>,
    /// Numbers that nested VMX can reflect from L2 to L1.
    reflected: Vec<u32>,
}

fn vmx_kernel() -> VmxKernel {
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
    VmxKernel {
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
fn vmx_reasons_match_the_kernel() {
    let kernel = vmx_kernel();
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
        let ours = Vendor::Vmx.reason(number);
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

/// A value as uapi/asm/svm.h writes it: hex, or a negative decimal that
/// stands for its low 32 bits (SVM_EXIT_ERR is -1).
fn svm_value(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse::<i32>().ok().map(|value| value as u32),
    }
}

/// The body of the C function whose definition starts with `signature`.
fn function<'a>(source: &'a str, signature: &str) -> &'a str {
    let start = source
        .find(signature)
        .unwrap_or_else(|| panic!("no '{signature}'"));
    let body = &source[start..];
    &body[..body.find("\n}\n").expect("the end of the function")]
}

struct SvmKernel {
    /// `SVM_EXIT_*`, `SVM_VMGEXIT_*` and `*_VECTOR` -> value, from
    /// `#define`s.
    symbols: BTreeMap<String, u32>,
    /// The expressions `SVM_EXIT_REASONS` names codes by.
    named: Vec<String>,
    /// The expressions `svm_exit_handlers[]` is indexed by.
    handlers: Vec<String>,
    /// Codes from 0 to this one (excluded) have an intercept bit that L1
    /// can set: 32 bits in each of the `MAX_INTERCEPT` words.
    reflectable_below: u32,
}

impl SvmKernel {
    /// The value of `expression`: a symbol, or a sum of symbols
    /// (`SVM_EXIT_EXCP_BASE + DB_VECTOR`).
    fn value(&self, expression: &str) -> u32 {
        expression
            .split('+')
            .map(|term| match self.symbols.get(term.trim()) {
                Some(&value) => value,
                None => panic!("'{}' in '{expression}' is not defined", term.trim()),
            })
            .sum()
    }
}

fn svm_kernel() -> SvmKernel {
    let uapi = kernel_file("arch/x86/include/uapi/asm/svm.h");
    let vectors = kernel_file("arch/x86/include/uapi/asm/kvm.h");
    let defines = |text: &str| -> Vec<(String, String)> {
        text.lines()
            .filter_map(|line| {
                let mut words = line.strip_prefix("#define ")?.split_whitespace();
                Some((words.next()?.to_string(), words.next()?.to_string()))
            })
            .collect()
    };
    let symbols: BTreeMap<String, u32> = defines(&uapi)
        .into_iter()
        .filter(|(symbol, _)| symbol.starts_with("SVM_EXIT_") || symbol.starts_with("SVM_VMGEXIT_"))
        .filter_map(|(symbol, value)| Some((symbol, svm_value(&value)?)))
        .chain(
            defines(&vectors)
                .into_iter()
                .filter(|(symbol, _)| symbol.ends_with("_VECTOR"))
                .filter_map(|(symbol, value)| Some((symbol, value.parse().ok()?))),
        )
        .collect();
    let named: Vec<String> = uapi
        .lines()
        .skip_while(|line| !line.starts_with("#define SVM_EXIT_REASONS"))
        .skip(1)
        .scan(true, |continued, line| {
            let this = continued.then_some(line);
            *continued = line.trim_end().ends_with('\\');
            this
        })
        .filter_map(|line| {
            let entry = line.trim().strip_prefix('{')?;
            Some(entry.split(',').next()?.trim().to_string())
        })
        .collect();
    assert!(
        named.len() > 90,
        "too few SVM_EXIT_REASONS: {}",
        named.len()
    );
    let svm = kernel_file("arch/x86/kvm/svm/svm.c");
    let handlers: Vec<String> = block(
        &svm,
        "svm_exit_handlers[])(struct kvm_vcpu *vcpu) = {",
        "};",
    )
    .iter()
    .filter_map(|line| {
        let index = line.trim().strip_prefix('[')?.split(']').next()?;
        Some(index.to_string())
    })
    .collect();
    assert!(
        handlers.len() > 60,
        "too few SVM exit handlers: {}",
        handlers.len()
    );
    // A failed VMRUN never reaches the table: __svm_handle_exit() reports
    // it to userspace as KVM_EXIT_FAIL_ENTRY.
    let handle_exit = function(&svm, "static int __svm_handle_exit(");
    let (_, on_err) = handle_exit
        .split_once("SVM_EXIT_ERR")
        .expect("__svm_handle_exit() checks SVM_EXIT_ERR");
    assert!(on_err.contains("KVM_EXIT_FAIL_ENTRY"));
    // Any code without a case of its own is reflected to L1 when L1
    // intercepts it.
    let nested = kernel_file("arch/x86/kvm/svm/nested.c");
    let intercept = function(&nested, "static int nested_svm_intercept(");
    let (_, default) = intercept
        .split_once("default:")
        .expect("nested_svm_intercept() has a default case");
    assert!(default.contains("vmcb12_is_intercept(&svm->nested.ctl, exit_code)"));
    let intercepts = kernel_file("arch/x86/include/asm/svm.h");
    let words: Vec<&str> = block(&intercepts, "enum intercept_words {", "};")
        .iter()
        .map(|line| line.trim())
        .collect();
    assert_eq!(words.first(), Some(&"INTERCEPT_CR = 0,"));
    assert!(words[1..].iter().all(|word| !word.contains('=')));
    let max_intercept = words
        .iter()
        .position(|&word| word == "MAX_INTERCEPT,")
        .expect("MAX_INTERCEPT in enum intercept_words");
    SvmKernel {
        symbols,
        named,
        handlers,
        reflectable_below: 32 * max_intercept as u32,
    }
}

#[test]
#[ignore = "needs KVM_EXITSTAT_KSRC=<kernel tree>; run by `make check`"]
fn svm_codes_match_the_kernel() {
    let kernel = svm_kernel();
    let ours = |code| Vendor::Svm.reason(code);
    let mut defines = 0;
    for (symbol, &code) in &kernel.symbols {
        let Some(name) = symbol.strip_prefix("SVM_EXIT_") else {
            continue;
        };
        defines += 1;
        match name {
            "EXCP_BASE" | "LAST_EXCP" => {
                assert!(ours(code)
                    .name()
                    .is_some_and(|ours| ours.starts_with("EXCP_")));
            }
            // KVM's own use, never a hardware exit code.
            "SW" => assert_eq!(ours(code), Reason::Undefined, "SVM_EXIT_SW"),
            "AVIC_UNACCELERATED_ACCESS" => {
                assert_eq!(ours(code).name(), Some("AVIC_NOACCEL"), "{symbol}")
            }
            name => assert_eq!(ours(code).name(), Some(name), "{symbol} ({code:#x})"),
        }
    }
    assert!(defines > 90, "too few SVM_EXIT_ defines: {defines}");
    for expression in &kernel.named {
        let code = kernel.value(expression);
        // The GHCB's software exits, which a VMGEXIT carries: not exit codes.
        let software = expression.starts_with("SVM_VMGEXIT_");
        assert_eq!(
            ours(code) == Reason::Undefined,
            software,
            "{expression} ({code:#x}): {:?}",
            ours(code)
        );
    }
    let handlers: Vec<u32> = kernel
        .handlers
        .iter()
        .map(|expression| kernel.value(expression))
        .collect();
    let err = kernel.symbols["SVM_EXIT_ERR"];
    // The APM's dense run of codes: each has an intercept bit.
    for code in 0..=0xa6 {
        assert!(code < kernel.reflectable_below, "{code:#x}");
        assert!(matches!(ours(code), Reason::Handled(_)), "{code:#x}");
    }
    let mut unhandled = Vec::new();
    for code in Slot::all().filter_map(|slot| Vendor::Svm.code(slot)) {
        let handled = handlers.contains(&code) || code == err || code < kernel.reflectable_below;
        assert_eq!(
            matches!(ours(code), Reason::Handled(_)),
            handled,
            "code {code:#x} ({:?}): KVM can take it: {handled}",
            ours(code)
        );
        if let Reason::Unhandled(_) = ours(code) {
            unhandled.push(code as i32);
        }
    }
    assert_eq!(unhandled, [-2, -3, -4]);
    for code in handlers {
        assert!(
            matches!(ours(code), Reason::Handled(_)),
            "handler for {code:#x}"
        );
    }
}
