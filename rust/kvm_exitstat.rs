// SPDX-License-Identifier: GPL-2.0

//! Counts every VM exit and the TSC cycles KVM spends handling it, per CPU
//! and per exit reason, and serves the figures to guests through the CPUID
//! leaves 0x4ffffffc-0x4fffffff and to the host through debugfs.
//!
//! It registers with KVM's exit statistics hook (`<asm/kvm_exit_stats.h>`),
//! added by the patch series in `patches/`.

use core::{
    ffi::c_void,
    fmt::{self, Write},
    mem::{align_of, offset_of, size_of},
    ptr::{self, NonNull},
    sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed},
};
use kernel::{
    bindings, c_str, container_of,
    error::{to_result, Error},
    ffi::{c_char, c_int},
    prelude::*,
    str::CStr,
    types::Opaque,
    uaccess::UserSlice,
};

pub mod leaf;
pub mod reasons;
pub mod table;
use leaf::{Answer, Counters, Counts, ExitCounters, Layout};

module! {
    type: KvmExitStat,
    name: "kvm_exitstat",
    author: "kvm-exitstat developers",
    description: "VM exit counts and handling cycles, served to guests through CPUID",
    license: "GPL",
}

/// The possible CPUs, in ascending order.
fn possible_cpus() -> impl Iterator<Item = u32> {
    let next = |cpu: i32| {
        // SAFETY: `__cpu_possible_mask` is a valid cpumask for the kernel's
        // lifetime, and `cpumask_next` accepts any `cpu` from -1 upwards.
        unsafe { bindings::cpumask_next(cpu, ptr::addr_of!(bindings::__cpu_possible_mask)) }
    };
    // SAFETY: `nr_cpu_ids` is set during boot and never written afterwards.
    let nr_cpu_ids = unsafe { bindings::nr_cpu_ids };
    core::iter::successors(Some(next(-1)), move |&cpu| Some(next(cpu as i32)))
        .take_while(move |&cpu| cpu < nr_cpu_ids)
}

/// One `Counters` per possible CPU, each written only by its own CPU.
struct PerCpuCounters(NonNull<Counters>);

// SAFETY: the per-CPU memory is owned by this value; updates go through
// `this_cpu_add` and reads are single volatile loads, so any thread may do
// either at any time.
unsafe impl Send for PerCpuCounters {}
// SAFETY: as for `Send`.
unsafe impl Sync for PerCpuCounters {}

const TOTAL: usize = offset_of!(Counters, total);
const EXITS: usize = offset_of!(ExitCounters, exits);
const CYCLES: usize = offset_of!(ExitCounters, cycles);

/// The offset of the `ExitCounters` of reason slot `slot` in `Counters`.
fn reason_offset(slot: usize) -> usize {
    offset_of!(Counters, by_reason) + slot * size_of::<ExitCounters>()
}

impl PerCpuCounters {
    fn new() -> Result<Self> {
        // SAFETY: plain allocation; per-CPU memory comes back zeroed.
        let ptr =
            unsafe { bindings::__alloc_percpu(size_of::<Counters>(), align_of::<Counters>()) };
        NonNull::new(ptr.cast()).map(Self).ok_or(ENOMEM)
    }

    /// The per-CPU pointer to the `u64` at `offset` in `Counters`.
    fn field(&self, offset: usize) -> *mut u64 {
        // A per-CPU pointer is an offset into each CPU's area, not an
        // address: derive field pointers with wrapping arithmetic.
        self.0.as_ptr().cast::<u8>().wrapping_add(offset).cast()
    }

    /// CPU `cpu`'s copy of the `u64` at `offset` in `Counters`.
    ///
    /// # Safety
    ///
    /// `cpu` is a possible CPU, and `offset` that of a `u64` in `Counters`.
    unsafe fn cpu_field(&self, cpu: u32, offset: usize) -> *mut u64 {
        // SAFETY: per the contract, this is the address of `cpu`'s copy of
        // a `u64` in our allocation.
        unsafe { bindings::per_cpu_ptr(self.field(offset).cast(), cpu) }.cast()
    }

    /// Adds one exit with exit-reason field `exit_reason` that took `cycles`
    /// to the current CPU's counters.
    fn record(&self, exit_reason: u32, cycles: u64) {
        let reason = reason_offset(reasons::slot(exit_reason));
        for counters in [TOTAL, reason] {
            // SAFETY: both are per-CPU pointers to `u64`s inside the
            // allocation this value owns.  Each add is one instruction on
            // the current CPU, so it stays correct if the task migrates.
            unsafe {
                bindings::this_cpu_add_u64(self.field(counters + EXITS), 1);
                bindings::this_cpu_add_u64(self.field(counters + CYCLES), cycles);
            }
        }
    }

    /// The `ExitCounters` at `offset` in `Counters`, summed over all
    /// possible CPUs.
    fn sum(&self, offset: usize) -> ExitCounters {
        possible_cpus()
            .map(|cpu| {
                // SAFETY: `cpu` is possible and the offsets are those of
                // `u64`s in `Counters`.  The CPU may be adding to them
                // concurrently: read each once, like READ_ONCE(); 64-bit
                // loads do not tear on x86-64.
                unsafe {
                    ExitCounters {
                        exits: ptr::read_volatile(self.cpu_field(cpu, offset + EXITS)),
                        cycles: ptr::read_volatile(self.cpu_field(cpu, offset + CYCLES)),
                    }
                }
            })
            .sum()
    }

    /// All counters, summed over all possible CPUs.
    fn snapshot(&self) -> Counters {
        let mut all = Counters::ZERO;
        all.total = self.total();
        for (slot, counters) in all.by_reason.iter_mut().enumerate() {
            *counters = self.reason(slot);
        }
        all
    }

    /// Sets every counter to zero.  Exits that are being counted meanwhile
    /// may end up in some of the counters and not in others.
    fn reset(&self) {
        for cpu in possible_cpus() {
            for offset in (0..size_of::<Counters>()).step_by(size_of::<u64>()) {
                // SAFETY: `cpu` is possible and `Counters` is made of `u64`s
                // only, so `offset` is that of one of them.  The CPU may be
                // adding to it concurrently: a single store, like
                // WRITE_ONCE().
                unsafe { ptr::write_volatile(self.cpu_field(cpu, offset), 0) };
            }
        }
    }
}

impl Counts for PerCpuCounters {
    fn total(&self) -> ExitCounters {
        self.sum(TOTAL)
    }

    fn reason(&self, slot: usize) -> ExitCounters {
        self.sum(reason_offset(slot))
    }
}

impl Drop for PerCpuCounters {
    fn drop(&mut self) {
        // SAFETY: allocated by `__alloc_percpu` in `new`; no longer in use
        // since the owner has unregistered from KVM.
        unsafe { bindings::free_percpu(self.0.as_ptr().cast()) };
    }
}

/// What is registered with KVM: the callbacks and the state they use.
#[pin_data]
struct Collector {
    /// Registered with KVM; its `data` points back at this field.
    #[pin]
    ops: Opaque<bindings::kvm_exit_stats_ops>,
    /// Limits the per-query log line.
    #[pin]
    query_log_limit: Opaque<bindings::ratelimit_state>,
    counters: PerCpuCounters,
    /// Whether the leaves are answered; if not, KVM answers as stock.
    guest_access: AtomicBool,
    /// A `Layout`, as `u8`.
    layout: AtomicU8,
    /// Whether each answered query is logged (rate-limited).
    log_queries: AtomicBool,
}

// SAFETY: after initialisation KVM only reads `ops`, `query_log_limit` is
// only used through `___ratelimit`, which takes its lock, and the other
// fields are `Send + Sync`.
unsafe impl Send for Collector {}
// SAFETY: as for `Send`.
unsafe impl Sync for Collector {}

impl Collector {
    fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            ops <- Opaque::ffi_init(|ops: *mut bindings::kvm_exit_stats_ops| {
                // SAFETY: `ops` points to writable, pinned storage for the struct.
                unsafe {
                    ops.write(bindings::kvm_exit_stats_ops {
                        record_exit: Some(record_exit),
                        emulate_cpuid: Some(emulate_cpuid),
                        data: ops.cast(),
                    })
                };
            }),
            query_log_limit <- Opaque::ffi_init(|state| {
                // SAFETY: `state` points to writable, pinned storage.
                unsafe { bindings::ratelimit_default_init(state) }
            }),
            counters: PerCpuCounters::new()?,
            guest_access: AtomicBool::new(true),
            layout: AtomicU8::new(Layout::default() as u8),
            log_queries: AtomicBool::new(true),
        })
    }

    /// # Safety
    ///
    /// `data` is the `data` member of the `ops` of a live `Collector`.
    unsafe fn from_data<'a>(data: *mut c_void) -> &'a Self {
        let ops = data.cast::<Opaque<bindings::kvm_exit_stats_ops>>();
        // SAFETY: per the contract, `ops` is the `ops` field of a live
        // `Collector`.
        unsafe { &*container_of!(ops, Collector, ops) }
    }

    fn layout(&self) -> Layout {
        Layout::from_u8(self.layout.load(Relaxed))
    }

    fn log_query(&self, answer: &Answer) {
        if !self.log_queries.load(Relaxed) {
            return;
        }
        // SAFETY: `query_log_limit` was initialised by
        // `ratelimit_default_init` and is pinned; the name is a C string.
        let allowed = unsafe {
            bindings::___ratelimit(
                self.query_log_limit.get(),
                c_str!("kvm_exitstat").as_char_ptr(),
            )
        };
        if allowed != 0 {
            pr_info!("{answer}\n");
        }
    }
}

extern "C" fn record_exit(data: *mut c_void, exit_reason: u32, cycles: u64) {
    // SAFETY: KVM passes back the `data` we registered, and the collector
    // outlives its registration.
    let collector = unsafe { Collector::from_data(data) };
    collector.counters.record(exit_reason, cycles);
}

extern "C" fn emulate_cpuid(
    data: *mut c_void,
    leaf: u32,
    subleaf: u32,
    eax: *mut u32,
    ebx: *mut u32,
    ecx: *mut u32,
    edx: *mut u32,
) -> bool {
    // SAFETY: as in `record_exit`.
    let collector = unsafe { Collector::from_data(data) };
    if !collector.guest_access.load(Relaxed) {
        return false;
    }
    let Some(answer) = leaf::answer(leaf, subleaf, collector.layout(), &collector.counters) else {
        return false;
    };
    let regs = answer.regs();
    // SAFETY: KVM passes four valid, writable registers.
    unsafe {
        *eax = regs.eax;
        *ebx = regs.ebx;
        *ecx = regs.ecx;
        *edx = regs.edx;
    }
    collector.log_query(&answer);
    true
}

/// The files in `/sys/kernel/debug/kvm_exitstat/`.
#[derive(Clone, Copy)]
enum Knob {
    /// The statistics table (read).
    Stats,
    /// `Y` or `N`: whether guests get the leaves (read, write).
    GuestAccess,
    /// `seed` or `four-leaf` (read, write).
    Layout,
    /// `Y` or `N`: whether answered queries are logged (read, write).
    LogQueries,
    /// Writing `1` sets all counters to zero (write).
    Reset,
}

impl Knob {
    const ALL: [Knob; 5] = [
        Knob::Stats,
        Knob::GuestAccess,
        Knob::Layout,
        Knob::LogQueries,
        Knob::Reset,
    ];

    fn name(self) -> &'static CStr {
        match self {
            Knob::Stats => c_str!("stats"),
            Knob::GuestAccess => c_str!("guest_access"),
            Knob::Layout => c_str!("layout"),
            Knob::LogQueries => c_str!("log_queries"),
            Knob::Reset => c_str!("reset"),
        }
    }

    fn mode(self) -> bindings::umode_t {
        match self {
            Knob::Stats => 0o400,
            Knob::Reset => 0o200,
            Knob::GuestAccess | Knob::Layout | Knob::LogQueries => 0o600,
        }
    }
}

/// What a debugfs file's `i_private` points at.
struct KnobFile {
    knob: Knob,
    collector: *const Collector,
}

/// Writes formatted text into a `seq_file`.
struct SeqWriter(*mut bindings::seq_file);

impl Write for SeqWriter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // SAFETY: `self.0` is the `seq_file` of the `show` call in progress.
        // On overflow seq_read() calls `show` again with a larger buffer.
        match unsafe { bindings::seq_write(self.0, text.as_ptr().cast(), text.len()) } {
            0 => Ok(()),
            _ => Err(fmt::Error),
        }
    }
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "Y"
    } else {
        "N"
    }
}

impl KnobFile {
    fn show(&self, out: &mut SeqWriter) -> fmt::Result {
        // SAFETY: the collector outlives the debugfs files, which are
        // removed (waiting for running calls) before it is freed.
        let collector = unsafe { &*self.collector };
        match self.knob {
            Knob::Stats => write!(out, "{}", table::Table(&collector.counters.snapshot())),
            Knob::GuestAccess => writeln!(out, "{}", yes_no(collector.guest_access.load(Relaxed))),
            Knob::Layout => writeln!(out, "{}", collector.layout().name()),
            Knob::LogQueries => writeln!(out, "{}", yes_no(collector.log_queries.load(Relaxed))),
            Knob::Reset => Ok(()),
        }
    }

    fn store(&self, input: &[u8]) -> Result {
        // SAFETY: as in `show`.
        let collector = unsafe { &*self.collector };
        match self.knob {
            Knob::Stats => Err(EINVAL),
            Knob::GuestAccess => {
                collector.guest_access.store(parse_bool(input)?, Relaxed);
                Ok(())
            }
            Knob::Layout => {
                let layout = Layout::parse(input).ok_or(EINVAL)?;
                collector.layout.store(layout as u8, Relaxed);
                Ok(())
            }
            Knob::LogQueries => {
                collector.log_queries.store(parse_bool(input)?, Relaxed);
                Ok(())
            }
            Knob::Reset => {
                if parse_bool(input)? {
                    collector.counters.reset();
                }
                Ok(())
            }
        }
    }
}

/// The longest value a knob accepts.
const MAX_INPUT: usize = 32;

/// `input` read the way the kernel reads booleans (`kstrtobool`).
fn parse_bool(input: &[u8]) -> Result<bool> {
    let mut text = [0u8; MAX_INPUT + 1];
    text[..input.len()].copy_from_slice(input);
    let mut value = false;
    // SAFETY: `text` is NUL-terminated, as `input` is at most `MAX_INPUT`
    // bytes long.
    to_result(unsafe { bindings::kstrtobool(text.as_ptr().cast::<c_char>(), &mut value) })?;
    Ok(value)
}

/// `open` of the debugfs files.
///
/// # Safety
///
/// Called by debugfs with a file created by `Knobs::create`.
unsafe extern "C" fn knob_open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: debugfs passes a valid inode and file; `i_private` is the
    // `KnobFile` the file was created with.
    unsafe { bindings::single_open(file, Some(knob_show), (*inode).i_private) }
}

/// `show` of the `seq_file` that `knob_open` sets up.
///
/// # Safety
///
/// Called by seq_read() on a file opened by `knob_open`.
unsafe extern "C" fn knob_show(seq: *mut bindings::seq_file, _: *mut c_void) -> c_int {
    // SAFETY: `single_open` stored the `KnobFile` in `private`, and it lives
    // as long as the file.
    let file = unsafe { &*(*seq).private.cast::<KnobFile>() };
    // Overflow is not an error: seq_read() retries with a larger buffer.
    let _ = file.show(&mut SeqWriter(seq));
    0
}

/// `write` of the debugfs files.
///
/// # Safety
///
/// Called by debugfs on a file opened by `knob_open`, with a user buffer of
/// `count` bytes.
unsafe extern "C" fn knob_write(
    file: *mut bindings::file,
    buffer: *const c_char,
    count: usize,
    _: *mut bindings::loff_t,
) -> isize {
    // SAFETY: the file was opened by `knob_open`, so its private data is the
    // `seq_file` whose `private` is the `KnobFile`.
    let knob = unsafe {
        &*(*(*file).private_data.cast::<bindings::seq_file>())
            .private
            .cast::<KnobFile>()
    };
    let store = || -> Result {
        if count > MAX_INPUT {
            return Err(EINVAL);
        }
        let mut input = [0u8; MAX_INPUT];
        UserSlice::new(buffer as usize, count)
            .reader()
            .read_slice(&mut input[..count])?;
        knob.store(&input[..count])
    };
    match store() {
        Ok(()) => count as isize,
        Err(error) => error.to_errno() as isize,
    }
}

/// The debugfs directory with the statistics view and the settings.
struct Knobs {
    dir: *mut bindings::dentry,
    /// Referenced by the files; freed after they are removed.
    _files: KBox<[KnobFile; Knob::ALL.len()]>,
    _fops: KBox<bindings::file_operations>,
}

impl Knobs {
    fn create(collector: &Collector, module: &'static ThisModule) -> Result<Self> {
        let fops = KBox::new(
            bindings::file_operations {
                owner: module.as_ptr(),
                open: Some(knob_open),
                read: Some(bindings::seq_read),
                write: Some(knob_write),
                llseek: Some(bindings::seq_lseek),
                release: Some(bindings::single_release),
                ..Default::default()
            },
            GFP_KERNEL,
        )?;
        let files = KBox::new(
            Knob::ALL.map(|knob| KnobFile { knob, collector }),
            GFP_KERNEL,
        )?;
        // SAFETY: a valid name; no parent means the debugfs root.
        let dir = unsafe {
            bindings::debugfs_create_dir(c_str!("kvm_exitstat").as_char_ptr(), ptr::null_mut())
        };
        for file in files.iter() {
            // SAFETY: `dir` is ours (debugfs ignores an error pointer there);
            // `file` and `fops` live until `dir` is removed, in `drop`.
            unsafe {
                bindings::debugfs_create_file(
                    file.knob.name().as_char_ptr(),
                    file.knob.mode(),
                    dir,
                    ptr::from_ref(file).cast_mut().cast(),
                    &*fops,
                )
            };
        }
        Ok(Self {
            dir,
            _files: files,
            _fops: fops,
        })
    }
}

impl Drop for Knobs {
    fn drop(&mut self) {
        // SAFETY: created in `create`.  Returns once no file operation runs
        // any more; open files keep the module, and so this, alive.
        unsafe { bindings::debugfs_remove(self.dir) };
    }
}

/// How many reasons the unload summary lists.
const SUMMARY_REASONS: usize = 5;

struct KvmExitStat {
    /// Dropped first: its files use the collector.
    _knobs: Knobs,
    collector: Pin<KBox<Collector>>,
}

// SAFETY: `Knobs` holds debugfs pointers that any thread may use, and its
// files point at the collector, which is `Sync`.
unsafe impl Send for KvmExitStat {}
// SAFETY: as for `Send`.
unsafe impl Sync for KvmExitStat {}

impl kernel::Module for KvmExitStat {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let collector = KBox::pin_init(Collector::new(), GFP_KERNEL)?;
        // SAFETY: `ops` is initialised and pinned inside `collector`, which
        // `drop` (or the error path below) unregisters before freeing it.
        to_result(unsafe { bindings::kvm_exit_stats_register(collector.ops.get()) })?;
        // Only now: a debugfs file opened during a failed init would keep
        // pointers into a module that is being freed.
        let knobs = Knobs::create(&collector, module).inspect_err(|_| {
            // SAFETY: registered just above; no `Knobs` refer to it.
            unsafe { bindings::kvm_exit_stats_unregister(collector.ops.get()) };
        })?;
        pr_info!(
            "loaded: counting VM exits; CPUID {:#010x}-{:#010x} for guests, layout {}; /sys/kernel/debug/kvm_exitstat/ for the host\n",
            leaf::LEAF_REASON_CYCLES,
            leaf::LEAF_TOTALS,
            collector.layout().name()
        );
        Ok(Self {
            _knobs: knobs,
            collector,
        })
    }
}

impl Drop for KvmExitStat {
    fn drop(&mut self) {
        // SAFETY: registered in `init`.  Returns once no callback runs or can
        // run again, so the collector may be freed afterwards.
        unsafe { bindings::kvm_exit_stats_unregister(self.collector.ops.get()) };
        let all = self.collector.counters.snapshot();
        pr_info!(
            "unloaded: {} exits, {} cycles; top reasons:\n",
            all.total.exits,
            all.total.cycles
        );
        pr_info!("{}\n", table::Header);
        for row in table::rows(&all).take(SUMMARY_REASONS) {
            pr_info!("{row}\n");
        }
    }
}
