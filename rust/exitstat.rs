// SPDX-License-Identifier: GPL-2.0

//! `exitstat`: kvm-exitstat's VM exit statistics, read in a guest through
//! the CPUID leaves or on the host from the module's debugfs view.

use exitstat::{
    leaf::{Counters, CpuidRegs},
    report::{self, Json, Prometheus, Source},
    table::Table,
};
use std::{env, fs, io, path::PathBuf, process::ExitCode};

const HOST_VIEW: &str = "/sys/kernel/debug/kvm_exitstat/stats";

const USAGE: &str = "\
Usage: exitstat [--guest | --host[=FILE]] [--json | --prom]

Prints kvm-exitstat's VM exit statistics: for each exit reason that
occurred, its exits, their share of all exits, the TSC cycles spent
handling them and the average per exit; then the totals.

  --guest        read them in a guest, with the CPUID leaves
                 0x4ffffffc-0x4fffffff
  --host[=FILE]  read them on the host, from the module's view
                 (default FILE: /sys/kernel/debug/kvm_exitstat/stats; root)
  --json         print JSON
  --prom         print the Prometheus text format (for node_exporter's
                 textfile collector)
  -h, --help     print this help and exit
  -V, --version  print the version and exit

Without --guest or --host, exitstat reads the host view if it exists, and
the CPUID leaves otherwise.  In a guest the leaves are read one at a time
(each read is itself a CPUID exit), and a reason's exits are the low 32
bits the leaf reports.";

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
}

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Print(Origin, Format),
    Help,
    Version,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut origin = Origin::Auto;
    let mut format = Format::Table;
    for arg in args {
        let (new_origin, new_format) = match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--guest" => (Some(Origin::Guest), None),
            "--host" => (Some(Origin::Host(HOST_VIEW.into())), None),
            "--json" => (None, Some(Format::Json)),
            "--prom" => (None, Some(Format::Prometheus)),
            _ => match arg.strip_prefix("--host=") {
                Some(file) if !file.is_empty() => (Some(Origin::Host(file.into())), None),
                _ => return Err(format!("unknown argument '{arg}'")),
            },
        };
        if let Some(new_origin) = new_origin {
            if origin != Origin::Auto {
                return Err("give at most one of --guest and --host".into());
            }
            origin = new_origin;
        }
        if let Some(new_format) = new_format {
            if format != Format::Table {
                return Err("give at most one of --json and --prom".into());
            }
            format = new_format;
        }
    }
    Ok(Command::Print(origin, format))
}

#[cfg(target_arch = "x86_64")]
fn read_leaves() -> Result<Counters, String> {
    let cpuid = |leaf, ecx| {
        let regs = std::arch::x86_64::__cpuid_count(leaf, ecx);
        CpuidRegs {
            eax: regs.eax,
            ebx: regs.ebx,
            ecx: regs.ecx,
            edx: regs.edx,
        }
    };
    let (_layout, counters) = report::from_leaves(cpuid).map_err(|report::NotServed(regs)| {
        format!(
            "the CPUID leaves are not kvm-exitstat's here, in any layout (seed, four-leaf, fall-2022): \
             0x4ffffffd with ECX=82 gave eax={:#x} ebx={:#x} ecx={:#x} edx={:#x}; \
             is this a KVM guest, with kvm_exitstat loaded on the host and guest access on?",
            regs.eax, regs.ebx, regs.ecx, regs.edx
        )
    })?;
    Ok(counters)
}

#[cfg(not(target_arch = "x86_64"))]
fn read_leaves() -> Result<Counters, String> {
    Err("the CPUID leaves can only be read on x86-64".into())
}

fn read_host_view(file: &PathBuf) -> Result<Counters, String> {
    let text = fs::read_to_string(file).map_err(|error| {
        let hint = match error.kind() {
            io::ErrorKind::NotFound => ": is kvm_exitstat loaded and debugfs mounted?",
            io::ErrorKind::PermissionDenied => ": the view is root's",
            _ => "",
        };
        format!("cannot read {}: {error}{hint}", file.display())
    })?;
    report::parse_table(&text).map_err(|report::BadLine(line)| {
        format!("{}, line {line}: not a kvm-exitstat table", file.display())
    })
}

fn run(origin: Origin, format: Format) -> Result<String, String> {
    let origin = match origin {
        Origin::Auto if fs::metadata(HOST_VIEW).is_ok() => Origin::Host(HOST_VIEW.into()),
        Origin::Auto => Origin::Guest,
        origin => origin,
    };
    let (counters, source) = match origin {
        Origin::Host(file) => (read_host_view(&file)?, Source::Host),
        _ => (read_leaves()?, Source::Guest),
    };
    Ok(match format {
        Format::Table => Table(&counters).to_string(),
        Format::Json => Json(&counters, source).to_string(),
        Format::Prometheus => Prometheus(&counters, source).to_string(),
    })
}

fn main() -> ExitCode {
    let result = match parse_args(env::args().skip(1)) {
        Ok(Command::Help) => Ok(format!("{USAGE}\n")),
        Ok(Command::Version) => Ok(format!("exitstat {}\n", env!("CARGO_PKG_VERSION"))),
        Ok(Command::Print(origin, format)) => run(origin, format),
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
        assert_eq!(parse(&[]), Ok(Command::Print(Origin::Auto, Format::Table)));
        assert_eq!(
            parse(&["--guest", "--prom"]),
            Ok(Command::Print(Origin::Guest, Format::Prometheus))
        );
        assert_eq!(
            parse(&["--json", "--host=/tmp/stats"]),
            Ok(Command::Print(
                Origin::Host("/tmp/stats".into()),
                Format::Json
            ))
        );
        assert_eq!(
            parse(&["--host"]),
            Ok(Command::Print(
                Origin::Host(HOST_VIEW.into()),
                Format::Table
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
        let missing = read_host_view(&"/nonexistent/stats".into()).unwrap_err();
        assert!(missing.contains("is kvm_exitstat loaded"), "{missing}");
        let dir = env::temp_dir().join(format!("exitstat-test-{}", std::process::id()));
        fs::write(&dir, "reason name\nbogus\n").unwrap();
        let bad = read_host_view(&dir).unwrap_err();
        fs::remove_file(&dir).unwrap();
        assert!(bad.ends_with("line 2: not a kvm-exitstat table"), "{bad}");
    }
}
