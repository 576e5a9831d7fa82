// SPDX-License-Identifier: GPL-2.0

//! `exitstat`: kvm-exitstat's VM exit statistics, read in a guest through
//! the CPUID leaves or on the host from the module's debugfs view.

use exitstat::{
    leaf::{Counters, CpuidRegs},
    reasons::{Vendor, UNDEFINED_EVERYWHERE},
    report::{self, Json, Prometheus, Source, VmName, VmTable, VmsJson},
    table::Table,
};
use std::{
    env, fs, io,
    path::{Path, PathBuf},
    process::ExitCode,
};

const HOST_VIEW: &str = "/sys/kernel/debug/kvm_exitstat/stats";
const KVM_DEBUGFS: &str = "/sys/kernel/debug/kvm";
/// The file of a VM's figures in its directory in KVM's debugfs.
const VM_STATS: &str = "exit_stats";

// Linux errno values that std has no `io::ErrorKind` for.
const EIO: i32 = 5;
const ENODEV: i32 = 19;

const USAGE: &str = "\
Usage: exitstat [--guest | --host[=FILE]] [--json | --prom] [--vendor=vmx|svm]
       exitstat [--host[=FILE]] --vms [--kvm-debugfs=DIR] [--json | --prom]
                [--vendor=vmx|svm]
       exitstat --vm=PID-FD [--kvm-debugfs=DIR] [--json | --prom]
                [--vendor=vmx|svm]

Prints kvm-exitstat's VM exit statistics: for each exit reason that
occurred, its exits, their share of all exits, the TSC cycles spent
handling them and the average per exit; then the totals.

  --guest        read them in a guest, with the CPUID leaves
                 0x4ffffffc-0x4fffffff
  --host[=FILE]  read them on the host, from the module's view
                 (default FILE: /sys/kernel/debug/kvm_exitstat/stats; root)
  --vms          on the host, list the VMs instead, with each one's total
                 exits, cycles and average cycles per exit, by PID then FD
  --vm=PID-FD    on the host, read the statistics of one VM: PID is the
                 VMM thread that created it (usually the process id), FD
                 the VM's file descriptor, as KVM names its debugfs
                 directory (--vms lists them)
  --kvm-debugfs=DIR
                 where --vms and --vm find the VMs
                 (default DIR: /sys/kernel/debug/kvm)
  --vendor=vmx|svm
                 take the exit reasons as Intel VMX's or AMD SVM's, not
                 by the CPU's vendor (CPUID leaf 0): for a guest whose VMM
                 presents another vendor's CPU, or a table saved on a host
                 of the other vendor
  --json         print JSON
  --prom         print the Prometheus text format (for node_exporter's
                 textfile collector)
  -h, --help     print this help and exit
  -V, --version  print the version and exit

Without --guest or --host, exitstat reads the host view if it exists, and
the CPUID leaves otherwise.  In a guest the leaves are read one at a time
(each read is itself a CPUID exit), and a reason's exits are the low 32
bits the leaf reports.

The exit reasons are the CPU vendor's: on Intel (VMX) basic exit
reasons, in decimal; on AMD and Hygon (SVM) exit codes, in hex as the APM
writes them, the error codes negative (ERR is -1).  JSON gives the vendor
as \"vendor\": \"VMX\" or \"SVM\" and each reason as a number (an SVM code
as a signed 32-bit integer); Prometheus's reason label is the table's
reason column.

A VM's figures carry its name: \"vm\": \"PID-FD\" in JSON, a vm=\"PID-FD\"
label in Prometheus.  With --vms, --json prints one object,
{\"host\": HOST, \"vms\": [VM, ...]}, where HOST is what --host --json
prints (null without a host view) and each VM what --vm --json prints;
--prom prints the series of every VM and of the host view (without a vm
label) in one exposition.  A VM destroyed while it is read is left out.";

#[derive(Debug, PartialEq, Eq)]
enum Format {
    Table,
    Json,
    Prometheus,
}

#[derive(Debug, PartialEq, Eq)]
enum Origin {
    Auto,
    Guest,
    Host(PathBuf),
    Vms {
        host_view: PathBuf,
        kvm_debugfs: PathBuf,
    },
    Vm {
        vm: VmName,
        kvm_debugfs: PathBuf,
    },
}

#[derive(Debug, PartialEq, Eq)]
enum Command {
    /// What to print; the vendor if `--vendor` chose one.
    Print(Origin, Format, Option<Vendor>),
    Help,
    Version,
}

/// `--vms` or `--vm`.
enum VmChoice {
    All,
    One(VmName),
}

/// Stores `value` in `slot`, unless an earlier option did: then `conflict`.
fn set_once<T>(slot: &mut Option<T>, value: T, conflict: &str) -> Result<(), String> {
    match slot.replace(value) {
        Some(_) => Err(conflict.into()),
        None => Ok(()),
    }
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut origin = None;
    let mut vm_choice = None;
    let mut kvm_debugfs = None;
    let mut format = None;
    let mut vendor = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (option, attached) = match arg.split_once('=') {
            Some((option, value)) => (option, Some(value)),
            None => (arg.as_str(), None),
        };
        // Options that need a value take it attached or as the next argument.
        let mut value = || match attached {
            Some(value) => Some(value.to_owned()),
            None => args.next(),
        };
        let one_origin = "give at most one of --guest and --host";
        let one_format = "give at most one of --json and --prom";
        let one_vm_choice = "give at most one of --vms and --vm";
        match (option, attached) {
            ("-h" | "--help", None) => return Ok(Command::Help),
            ("-V" | "--version", None) => return Ok(Command::Version),
            ("--guest", None) => set_once(&mut origin, Origin::Guest, one_origin)?,
            ("--host", None) => set_once(&mut origin, Origin::Host(HOST_VIEW.into()), one_origin)?,
            ("--host", Some(file)) if !file.is_empty() => {
                set_once(&mut origin, Origin::Host(file.into()), one_origin)?
            }
            ("--json", None) => set_once(&mut format, Format::Json, one_format)?,
            ("--prom", None) => set_once(&mut format, Format::Prometheus, one_format)?,
            ("--vms", None) => set_once(&mut vm_choice, VmChoice::All, one_vm_choice)?,
            ("--vm", _) => {
                let name = value().ok_or("--vm needs a VM: PID-FD")?;
                let vm = name.parse().map_err(|report::NotAVmName| {
                    format!("'{name}' is not a VM: give PID-FD, e.g. 1234-11 (--vms lists them)")
                })?;
                set_once(&mut vm_choice, VmChoice::One(vm), one_vm_choice)?
            }
            ("--vendor", _) => {
                let name = value().ok_or("--vendor needs vmx or svm")?;
                let chosen = [Vendor::Vmx, Vendor::Svm]
                    .into_iter()
                    .find(|vendor| vendor.name().eq_ignore_ascii_case(&name))
                    .ok_or_else(|| format!("'{name}' is not a vendor: give vmx or svm"))?;
                set_once(&mut vendor, chosen, "give --vendor at most once")?
            }
            ("--kvm-debugfs", _) => {
                let dir = value()
                    .filter(|dir| !dir.is_empty())
                    .ok_or("--kvm-debugfs needs a directory")?;
                set_once(
                    &mut kvm_debugfs,
                    PathBuf::from(dir),
                    "give --kvm-debugfs at most once",
                )?
            }
            _ => return Err(format!("unknown argument '{arg}'")),
        }
    }
    let kvm_debugfs = kvm_debugfs.unwrap_or_else(|| KVM_DEBUGFS.into());
    let origin = match (vm_choice, origin) {
        (None, origin) => origin.unwrap_or(Origin::Auto),
        (Some(_), Some(Origin::Guest)) => {
            return Err("--vms and --vm read the host: not with --guest".into())
        }
        (Some(VmChoice::All), Some(Origin::Host(host_view))) => Origin::Vms {
            host_view,
            kvm_debugfs,
        },
        (Some(VmChoice::All), _) => Origin::Vms {
            host_view: HOST_VIEW.into(),
            kvm_debugfs,
        },
        (Some(VmChoice::One(vm)), _) => Origin::Vm { vm, kvm_debugfs },
    };
    Ok(Command::Print(
        origin,
        format.unwrap_or(Format::Table),
        vendor,
    ))
}

/// The vendor named by a CPUID leaf 0 answer.
#[cfg(target_arch = "x86_64")]
fn vendor_of_leaf_0(regs: CpuidRegs) -> Vendor {
    let mut name = [0; 12];
    for (part, reg) in name.chunks_exact_mut(4).zip([regs.ebx, regs.edx, regs.ecx]) {
        part.copy_from_slice(&reg.to_le_bytes());
    }
    Vendor::of_cpu(&name)
}

#[cfg(target_arch = "x86_64")]
fn cpuid(leaf: u32, ecx: u32) -> CpuidRegs {
    let regs = std::arch::x86_64::__cpuid_count(leaf, ecx);
    CpuidRegs {
        eax: regs.eax,
        ebx: regs.ebx,
        ecx: regs.ecx,
        edx: regs.edx,
    }
}

/// The vendor of this CPU, as a guest's VMM presents it, which is KVM's
/// on the host.
#[cfg(target_arch = "x86_64")]
fn cpu_vendor() -> Result<Vendor, String> {
    Ok(vendor_of_leaf_0(cpuid(0, 0)))
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_vendor() -> Result<Vendor, String> {
    Err("without CPUID the vendor is unknown: give --vendor=vmx or --vendor=svm".into())
}

#[cfg(target_arch = "x86_64")]
fn read_leaves(vendor: Vendor) -> Result<Counters, String> {
    let (_layout, counters) =
        report::from_leaves(vendor, cpuid).map_err(|report::NotServed(regs)| {
            format!(
                "the CPUID leaves are not kvm-exitstat's here, in any layout (seed, four-leaf, fall-2022): \
                 0x4ffffffd with ECX={UNDEFINED_EVERYWHERE:#x} gave eax={:#x} ebx={:#x} ecx={:#x} edx={:#x}; \
                 is this a KVM guest, with kvm_exitstat loaded on the host and guest access on?",
                regs.eax, regs.ebx, regs.ecx, regs.edx
            )
        })?;
    Ok(counters)
}

#[cfg(not(target_arch = "x86_64"))]
fn read_leaves(_vendor: Vendor) -> Result<Counters, String> {
    Err("the CPUID leaves can only be read on x86-64".into())
}

/// Why a statistics table (the host view, or a VM's) could not be had.
enum TableError {
    Io(io::Error),
    NotATable {
        line: usize,
        /// The vendor it is a table of, when not the one it was read for.
        other_vendor: Option<Vendor>,
    },
}

impl TableError {
    /// One line saying so, with `if_missing` as the hint for a file that
    /// does not exist.
    fn message(&self, file: &Path, if_missing: &str) -> String {
        match self {
            TableError::Io(error) => cannot_read(file, error, if_missing),
            TableError::NotATable { line, other_vendor } => {
                let mut message =
                    format!("{}, line {line}: not a kvm-exitstat table", file.display());
                if let Some(other) = other_vendor {
                    message += &format!(
                        " of {} exit reasons but of {}'s: give --vendor={}",
                        other_than(*other).name(),
                        other.name(),
                        other.name().to_ascii_lowercase()
                    );
                }
                message
            }
        }
    }

    /// Whether the file was removed: debugfs answers ENOENT to opening a
    /// removed file, and EIO to reading one removed while it was open.
    fn vanished(&self) -> bool {
        matches!(self, TableError::Io(error)
            if error.kind() == io::ErrorKind::NotFound || error.raw_os_error() == Some(EIO))
    }

    /// Whether no collector answered: KVM's per-VM file without the module.
    fn no_collector(&self) -> bool {
        matches!(self, TableError::Io(error) if error.raw_os_error() == Some(ENODEV))
    }
}

fn cannot_read(path: &Path, error: &io::Error, if_missing: &str) -> String {
    let hint = match error.kind() {
        io::ErrorKind::NotFound => if_missing,
        io::ErrorKind::PermissionDenied => ": debugfs is root's",
        _ if error.raw_os_error() == Some(ENODEV) => ": kvm_exitstat is not loaded",
        _ => "",
    };
    format!("cannot read {}: {error}{hint}", path.display())
}

fn other_than(vendor: Vendor) -> Vendor {
    match vendor {
        Vendor::Vmx => Vendor::Svm,
        Vendor::Svm => Vendor::Vmx,
    }
}

/// The table of `vendor`'s exit reasons in a file's text, as it was read.
fn parse_file(vendor: Vendor, text: io::Result<String>) -> Result<Counters, TableError> {
    let text = text.map_err(TableError::Io)?;
    report::parse_table(vendor, &text).map_err(|report::BadLine(line)| {
        let other = other_than(vendor);
        TableError::NotATable {
            line,
            other_vendor: report::parse_table(other, &text).is_ok().then_some(other),
        }
    })
}

const HOST_VIEW_MISSING: &str = ": is kvm_exitstat loaded and debugfs mounted?";

fn read_host_view(vendor: Vendor, file: &Path) -> Result<Counters, String> {
    parse_file(vendor, fs::read_to_string(file))
        .map_err(|error| error.message(file, HOST_VIEW_MISSING))
}

/// The host view, if there is one.
fn read_host_view_if_any(vendor: Vendor, file: &Path) -> Result<Option<Counters>, String> {
    match parse_file(vendor, fs::read_to_string(file)) {
        Ok(counters) => Ok(Some(counters)),
        Err(error) if error.vanished() => Ok(None),
        Err(error) => Err(error.message(file, HOST_VIEW_MISSING)),
    }
}

fn vm_stats_file(kvm_debugfs: &Path, vm: VmName) -> PathBuf {
    kvm_debugfs.join(vm.to_string()).join(VM_STATS)
}

fn read_vm(vendor: Vendor, kvm_debugfs: &Path, vm: VmName) -> Result<Counters, String> {
    let file = vm_stats_file(kvm_debugfs, vm);
    parse_file(vendor, fs::read_to_string(&file)).map_err(|error| {
        if error.vanished() {
            format!(
                "no VM {vm} in {}: 'exitstat --vms' lists the VMs",
                kvm_debugfs.display()
            )
        } else {
            error.message(&file, "")
        }
    })
}

/// The VMs in KVM's debugfs directory that have exit statistics, by pid
/// then fd.
fn list_vms(kvm_debugfs: &Path) -> Result<Vec<VmName>, String> {
    let unreadable =
        |error| cannot_read(kvm_debugfs, &error, ": is kvm loaded and debugfs mounted?");
    let mut vms = Vec::new();
    for entry in fs::read_dir(kvm_debugfs).map_err(unreadable)? {
        let name = entry.map_err(unreadable)?.file_name();
        if let Some(vm) = name.to_str().and_then(|name| name.parse().ok()) {
            if vm_stats_file(kvm_debugfs, vm).is_file() {
                vms.push(vm);
            }
        }
    }
    vms.sort_unstable();
    Ok(vms)
}

/// The figures of every VM that is still there to read, by pid then fd;
/// `read_file` is `fs::read_to_string` but for tests that play debugfs.
fn read_vms(
    vendor: Vendor,
    kvm_debugfs: &Path,
    read_file: impl Fn(&Path) -> io::Result<String>,
) -> Result<Vec<(VmName, Counters)>, String> {
    let mut figures = Vec::new();
    let mut any_without_collector = false;
    for vm in list_vms(kvm_debugfs)? {
        let file = vm_stats_file(kvm_debugfs, vm);
        match parse_file(vendor, read_file(&file)) {
            Ok(counters) => figures.push((vm, counters)),
            Err(error) if error.vanished() => {}
            // The module came or went meanwhile: what it answered counts.
            Err(error) if error.no_collector() => any_without_collector = true,
            Err(error) => return Err(error.message(&file, "")),
        }
    }
    if figures.is_empty() && any_without_collector {
        return Err(format!(
            "kvm_exitstat is not loaded: the VMs' {VM_STATS} files in {} answer ENODEV",
            kvm_debugfs.display()
        ));
    }
    Ok(figures)
}

fn print_vms(
    vendor: Vendor,
    host_view: &Path,
    kvm_debugfs: &Path,
    format: Format,
) -> Result<String, String> {
    let vms = read_vms(vendor, kvm_debugfs, |file| fs::read_to_string(file))?;
    Ok(match format {
        Format::Table => VmTable(&vms).to_string(),
        Format::Json => {
            let host = read_host_view_if_any(vendor, host_view)?;
            VmsJson {
                vendor,
                host: host.as_ref(),
                vms: &vms,
            }
            .to_string()
        }
        Format::Prometheus => {
            let host = read_host_view_if_any(vendor, host_view)?;
            let sources: Vec<_> = (host.iter().map(|counters| (Source::Host, counters)))
                .chain(vms.iter().map(|(vm, counters)| (Source::Vm(*vm), counters)))
                .collect();
            Prometheus(vendor, &sources).to_string()
        }
    })
}

fn run(origin: Origin, format: Format, vendor: Option<Vendor>) -> Result<String, String> {
    let vendor = match vendor {
        Some(vendor) => vendor,
        None => cpu_vendor()?,
    };
    let origin = match origin {
        Origin::Auto if fs::metadata(HOST_VIEW).is_ok() => Origin::Host(HOST_VIEW.into()),
        Origin::Auto => Origin::Guest,
        origin => origin,
    };
    let (counters, source) = match origin {
        Origin::Vms {
            host_view,
            kvm_debugfs,
        } => return print_vms(vendor, &host_view, &kvm_debugfs, format),
        Origin::Vm { vm, kvm_debugfs } => (read_vm(vendor, &kvm_debugfs, vm)?, Source::Vm(vm)),
        Origin::Host(file) => (read_host_view(vendor, &file)?, Source::Host),
        Origin::Guest | Origin::Auto => (read_leaves(vendor)?, Source::Guest),
    };
    Ok(match format {
        Format::Table => Table(vendor, &counters).to_string(),
        Format::Json => Json(vendor, &counters, source).to_string(),
        Format::Prometheus => Prometheus(vendor, &[(source, &counters)]).to_string(),
    })
}

fn main() -> ExitCode {
    let result = match parse_args(env::args().skip(1)) {
        Ok(Command::Help) => Ok(format!("{USAGE}\n")),
        Ok(Command::Version) => Ok(format!("exitstat {}\n", env!("CARGO_PKG_VERSION"))),
        Ok(Command::Print(origin, format, vendor)) => run(origin, format, vendor),
        Err(error) => {
            eprintln!("exitstat: {error}\nTry 'exitstat --help'.");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("exitstat: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|arg| arg.to_string()))
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse(&[]),
            Ok(Command::Print(Origin::Auto, Format::Table, None))
        );
        assert_eq!(
            parse(&["--guest", "--prom"]),
            Ok(Command::Print(Origin::Guest, Format::Prometheus, None))
        );
        assert_eq!(
            parse(&["--json", "--host=/tmp/stats"]),
            Ok(Command::Print(
                Origin::Host("/tmp/stats".into()),
                Format::Json,
                None
            ))
        );
        assert_eq!(
            parse(&["--host"]),
            Ok(Command::Print(
                Origin::Host(HOST_VIEW.into()),
                Format::Table,
                None
            ))
        );
        assert_eq!(parse(&["--json", "--help"]), Ok(Command::Help));
        assert_eq!(parse(&["-V"]), Ok(Command::Version));
        for bad in [
            &["--guest", "--host"][..],
            &["--json", "--prom"],
            &["--host="],
            &["-x"],
            &["table"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn host_view_errors_say_what_to_do() {
        let missing = read_host_view(Vendor::Vmx, Path::new("/nonexistent/stats")).unwrap_err();
        assert!(missing.contains("is kvm_exitstat loaded"), "{missing}");
        let dir = env::temp_dir().join(format!("exitstat-test-{}", std::process::id()));
        fs::write(&dir, "reason name\nbogus\n").unwrap();
        let bad = read_host_view(Vendor::Vmx, &dir).unwrap_err();
        let mut svm_exits = Counters::ZERO;
        svm_exits.record(Vendor::Svm, 0x72, 100);
        fs::write(&dir, Table(Vendor::Svm, &svm_exits).to_string()).unwrap();
        let other_vendor = read_host_view(Vendor::Vmx, &dir).unwrap_err();
        assert_eq!(read_host_view(Vendor::Svm, &dir), Ok(svm_exits));
        fs::remove_file(&dir).unwrap();
        assert!(bad.ends_with("line 2: not a kvm-exitstat table"), "{bad}");
        assert!(
            other_vendor.ends_with(
                "line 2: not a kvm-exitstat table of VMX exit reasons but of SVM's: give --vendor=svm"
            ),
            "{other_vendor}"
        );
    }

    #[test]
    fn vendor_arguments() {
        assert_eq!(
            parse(&["--vendor=svm"]),
            Ok(Command::Print(
                Origin::Auto,
                Format::Table,
                Some(Vendor::Svm)
            ))
        );
        assert_eq!(
            parse(&["--host=/tmp/stats", "--vendor", "vmx", "--json"]),
            Ok(Command::Print(
                Origin::Host("/tmp/stats".into()),
                Format::Json,
                Some(Vendor::Vmx)
            ))
        );
        assert_eq!(
            parse(&["--vendor=SVM", "--guest"]),
            Ok(Command::Print(
                Origin::Guest,
                Format::Table,
                Some(Vendor::Svm)
            ))
        );
        for (bad, error) in [
            (&["--vendor"][..], "--vendor needs vmx or svm"),
            (&["--vendor="], "'' is not a vendor: give vmx or svm"),
            (&["--vendor=amd"], "'amd' is not a vendor"),
            (&["--vendor", "--json"], "'--json' is not a vendor"),
            (&["--vendor=vmx", "--vendor=svm"], "--vendor at most once"),
        ] {
            let message = parse(bad).unwrap_err();
            assert!(message.contains(error), "{bad:?}: {message}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vendor_of_the_cpu() {
        let leaf_0 = |ebx, edx, ecx| CpuidRegs {
            eax: 0xd,
            ebx,
            ecx,
            edx,
        };
        let intel = leaf_0(0x756e_6547, 0x4965_6e69, 0x6c65_746e);
        let amd = leaf_0(0x6874_7541, 0x6974_6e65, 0x444d_4163);
        assert_eq!(vendor_of_leaf_0(intel), Vendor::Vmx);
        assert_eq!(vendor_of_leaf_0(amd), Vendor::Svm);
    }

    #[test]
    fn vm_arguments() {
        let vms = |host_view: &str, kvm_debugfs: &str, format| {
            Ok(Command::Print(
                Origin::Vms {
                    host_view: host_view.into(),
                    kvm_debugfs: kvm_debugfs.into(),
                },
                format,
                None,
            ))
        };
        let vm = |pid, fd, kvm_debugfs: &str, format| {
            Ok(Command::Print(
                Origin::Vm {
                    vm: VmName { pid, fd },
                    kvm_debugfs: kvm_debugfs.into(),
                },
                format,
                None,
            ))
        };
        assert_eq!(
            parse(&["--vms"]),
            vms(HOST_VIEW, KVM_DEBUGFS, Format::Table)
        );
        assert_eq!(
            parse(&["--host", "--vms", "--json"]),
            vms(HOST_VIEW, KVM_DEBUGFS, Format::Json)
        );
        assert_eq!(
            parse(&[
                "--prom",
                "--kvm-debugfs=/tmp/kvm",
                "--vms",
                "--host=/tmp/stats"
            ]),
            vms("/tmp/stats", "/tmp/kvm", Format::Prometheus)
        );
        assert_eq!(
            parse(&["--vm", "1234-11"]),
            vm(1234, 11, KVM_DEBUGFS, Format::Table)
        );
        assert_eq!(
            parse(&["--kvm-debugfs", "/tmp/kvm", "--vm=1234-11", "--prom"]),
            vm(1234, 11, "/tmp/kvm", Format::Prometheus)
        );
        assert_eq!(
            parse(&["--json", "--host", "--vm", "0-3"]),
            vm(0, 3, KVM_DEBUGFS, Format::Json)
        );
        // Where no VM is read, the directory is not either.
        assert_eq!(
            parse(&["--kvm-debugfs=/tmp/kvm"]),
            Ok(Command::Print(Origin::Auto, Format::Table, None))
        );
        for (bad, error) in [
            (&["--guest", "--vms"][..], "not with --guest"),
            (&["--vm=1-2", "--guest"], "not with --guest"),
            (&["--vms", "--vm", "1-2"], "at most one of --vms and --vm"),
            (
                &["--vm", "1-2", "--vm", "3-4"],
                "at most one of --vms and --vm",
            ),
            (&["--vms", "--vms"], "at most one of --vms and --vm"),
            (&["--vm"], "--vm needs a VM"),
            (&["--vm", "12"], "'12' is not a VM: give PID-FD"),
            (&["--vm="], "'' is not a VM"),
            (&["--vm=a-1"], "'a-1' is not a VM"),
            (&["--vm", "1-2-3"], "'1-2-3' is not a VM"),
            (&["--vm", "--json"], "'--json' is not a VM"),
            (&["--kvm-debugfs"], "--kvm-debugfs needs a directory"),
            (&["--kvm-debugfs="], "--kvm-debugfs needs a directory"),
            (
                &["--kvm-debugfs=/a", "--kvm-debugfs=/b"],
                "--kvm-debugfs at most once",
            ),
            (&["--vms=1"], "unknown argument '--vms=1'"),
            (&["--json=yes"], "unknown argument '--json=yes'"),
        ] {
            let message = parse(bad).unwrap_err();
            assert!(message.contains(error), "{bad:?}: {message}");
        }
    }

    /// A fresh directory for one test, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(test: &str) -> TempDir {
            let path = env::temp_dir().join(format!("exitstat-{test}-{}", std::process::id()));
            // Left over by an interrupted run, perhaps.
            let _ = fs::remove_dir_all(&path);
            fs::create_dir(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn cpuid_exits(count: u64) -> Counters {
        let mut all = Counters::ZERO;
        for _ in 0..count {
            all.record(Vendor::Vmx, 10, 100);
        }
        all
    }

    /// A KVM debugfs directory: VMs 3-4, 3-12, 20-3 and 100-1 with
    /// `exit_stats` (4, 12, 3 and 1 CPUID exits), VM 5-6 without, KVM's
    /// host-wide statistics files, and names KVM does not give VMs.
    fn fake_kvm_debugfs(test: &str) -> TempDir {
        let kvm = TempDir::new(test);
        let vm_stats = |vm: &str, text: &str| {
            fs::create_dir_all(kvm.0.join(vm).join("vcpu0")).unwrap();
            fs::write(kvm.0.join(vm).join(VM_STATS), text).unwrap();
        };
        for (vm, exits) in [("20-3", 3), ("3-12", 12), ("100-1", 1), ("3-4", 4)] {
            vm_stats(vm, &Table(Vendor::Vmx, &cpuid_exits(exits)).to_string());
        }
        for not_a_vm in ["x-1", "07-1", "1-2-3", "-1"] {
            vm_stats(not_a_vm, &Table(Vendor::Vmx, &cpuid_exits(7)).to_string());
        }
        fs::create_dir_all(kvm.0.join("5-6").join("vcpu0")).unwrap();
        for file in ["exits", "halt_exits", "8-9"] {
            fs::write(kvm.0.join(file), "0\n").unwrap();
        }
        kvm
    }

    fn vm(name: &str) -> VmName {
        name.parse().unwrap()
    }

    #[test]
    fn lists_vms_by_pid_then_fd() {
        let kvm = fake_kvm_debugfs("list");
        assert_eq!(
            list_vms(&kvm.0),
            Ok(vec![vm("3-4"), vm("3-12"), vm("20-3"), vm("100-1")])
        );
        let missing = list_vms(&kvm.0.join("none")).unwrap_err();
        assert!(
            missing.ends_with("is kvm loaded and debugfs mounted?"),
            "{missing}"
        );
        let empty = TempDir::new("list-empty");
        assert_eq!(list_vms(&empty.0), Ok(vec![]));
    }

    #[test]
    fn reads_one_vm() {
        let kvm = fake_kvm_debugfs("one");
        assert_eq!(
            read_vm(Vendor::Vmx, &kvm.0, vm("3-12")),
            Ok(cpuid_exits(12))
        );
        let kvm_name = kvm.0.display();
        assert_eq!(
            read_vm(Vendor::Vmx, &kvm.0, vm("5-6")),
            Err(format!(
                "no VM 5-6 in {kvm_name}: 'exitstat --vms' lists the VMs"
            ))
        );
        assert_eq!(
            read_vm(Vendor::Vmx, &kvm.0, vm("9-9")),
            Err(format!(
                "no VM 9-9 in {kvm_name}: 'exitstat --vms' lists the VMs"
            ))
        );
    }

    fn os_error(errno: i32) -> io::Result<String> {
        Err(io::Error::from_raw_os_error(errno))
    }

    /// The name of the VM whose file `file` is.
    fn vm_of(file: &Path) -> &str {
        file.parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
    }

    #[test]
    fn reads_the_vms_still_there() {
        let kvm = fake_kvm_debugfs("read");
        assert_eq!(
            read_vms(Vendor::Vmx, &kvm.0, |file| fs::read_to_string(file)),
            Ok(vec![
                (vm("3-4"), cpuid_exits(4)),
                (vm("3-12"), cpuid_exits(12)),
                (vm("20-3"), cpuid_exits(3)),
                (vm("100-1"), cpuid_exits(1)),
            ])
        );
        // Destroyed after the listing (ENOENT), or while being read (EIO);
        // read before the module was loaded (ENODEV).
        let destroyed_or_early = |file: &Path| match vm_of(file) {
            "3-4" => os_error(2),
            "20-3" => os_error(EIO),
            "100-1" => os_error(ENODEV),
            _ => fs::read_to_string(file),
        };
        assert_eq!(
            read_vms(Vendor::Vmx, &kvm.0, destroyed_or_early),
            Ok(vec![(vm("3-12"), cpuid_exits(12))])
        );
        let destroyed = |_: &Path| os_error(2);
        assert_eq!(read_vms(Vendor::Vmx, &kvm.0, destroyed), Ok(vec![]));
    }

    #[test]
    fn vms_errors_say_what_to_do() {
        let kvm = fake_kvm_debugfs("errors");
        let without_module = |file: &Path| match vm_of(file) {
            "3-4" => os_error(2),
            _ => os_error(ENODEV),
        };
        assert_eq!(
            read_vms(Vendor::Vmx, &kvm.0, without_module),
            Err(format!(
                "kvm_exitstat is not loaded: the VMs' exit_stats files in {} answer ENODEV",
                kvm.0.display()
            ))
        );
        let not_root = |_: &Path| Err(io::ErrorKind::PermissionDenied.into());
        let message = read_vms(Vendor::Vmx, &kvm.0, not_root).unwrap_err();
        assert!(message.contains("3-4/exit_stats: "), "{message}");
        assert!(message.ends_with(": debugfs is root's"), "{message}");
        let not_a_table = |_: &Path| Ok("reason name\nbogus\n".to_string());
        let message = read_vms(Vendor::Vmx, &kvm.0, not_a_table).unwrap_err();
        assert!(
            message.ends_with("3-4/exit_stats, line 2: not a kvm-exitstat table"),
            "{message}"
        );
    }
}
