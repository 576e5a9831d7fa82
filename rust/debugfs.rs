// SPDX-License-Identifier: GPL-2.0

//! A debugfs directory of small files, each read as text made by its
//! owner's `show` (`seq_file`) and written through its owner's `store`: a
//! safe wrapper of `debugfs_create_dir()`, `debugfs_create_file()` and
//! `single_open()`.

use core::{
    ffi::c_void,
    fmt::{self, Write},
    ptr,
};
use kernel::{
    bindings,
    ffi::{c_char, c_int},
    prelude::*,
    str::CStr,
    sync::Arc,
    uaccess::UserSlice,
};

/// The longest write a file accepts.
pub const MAX_INPUT: usize = 32;

/// What a directory's files show and take.
pub trait Files: Send + Sync {
    /// Names one file of the directory.
    type File: Copy + Send + Sync;

    /// Writes the contents of `file` to `out`.
    fn show(&self, file: Self::File, out: &mut SeqWriter) -> fmt::Result;

    /// Takes a write of `input` (at most `MAX_INPUT` bytes) to `file`.
    fn store(&self, file: Self::File, input: &[u8]) -> Result;
}

/// One file to create: its name, mode and what it is to its owner.
pub struct Spec<F> {
    /// The file's name.
    pub name: &'static CStr,
    /// Its permissions, e.g. 0o400.
    pub mode: u16,
    /// What the owner calls it.
    pub file: F,
}

/// Writes formatted text into the `seq_file` of a read in progress.
pub struct SeqWriter(*mut bindings::seq_file);

impl SeqWriter {
    /// # Safety
    ///
    /// `seq` is the `seq_file` of a `show` call in progress, and the writer
    /// is used only within that call.
    pub unsafe fn new(seq: *mut bindings::seq_file) -> Self {
        Self(seq)
    }
}

impl Write for SeqWriter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // SAFETY: `self.0` is the `seq_file` of the `show` call that made
        // this writer.  On overflow seq_read() calls `show` again with a
        // larger buffer.
        match unsafe { bindings::seq_write(self.0, text.as_ptr().cast(), text.len()) } {
            0 => Ok(()),
            _ => Err(fmt::Error),
        }
    }
}

/// What a file's `i_private` points at.
struct Entry<T: Files> {
    owner: *const T,
    file: T::File,
}

/// A directory in the debugfs root, removed (waiting for file operations
/// in progress) when dropped.
pub struct Dir<T: Files> {
    dir: *mut bindings::dentry,
    /// Referenced by the files; freed after they are removed.
    _entries: KVec<Entry<T>>,
    _fops: KBox<bindings::file_operations>,
    /// What the entries point at.
    _owner: Arc<T>,
}

// SAFETY: the dentry may be removed from any thread, and the entries point
// at an `Arc<T>` with `T: Send + Sync`.
unsafe impl<T: Files> Send for Dir<T> {}
// SAFETY: `Dir` has no methods that use it through a shared reference.
unsafe impl<T: Files> Sync for Dir<T> {}

impl<T: Files> Dir<T> {
    /// Creates directory `name` with `files`, served by `owner`.
    /// `module` owns the file operations, so that an open file keeps it.
    pub fn create(
        name: &CStr,
        module: &'static ThisModule,
        owner: Arc<T>,
        files: &[Spec<T::File>],
    ) -> Result<Self> {
        let fops = KBox::new(
            bindings::file_operations {
                owner: module.as_ptr(),
                open: Some(open::<T>),
                read: Some(bindings::seq_read),
                write: Some(write::<T>),
                llseek: Some(bindings::seq_lseek),
                release: Some(bindings::single_release),
                ..Default::default()
            },
            GFP_KERNEL,
        )?;
        let mut entries = KVec::with_capacity(files.len(), GFP_KERNEL)?;
        for spec in files {
            entries.push(
                Entry {
                    owner: ptr::from_ref::<T>(&owner),
                    file: spec.file,
                },
                GFP_KERNEL,
            )?;
        }
        // SAFETY: a valid name; no parent means the debugfs root.
        let dir = unsafe { bindings::debugfs_create_dir(name.as_char_ptr(), ptr::null_mut()) };
        for (spec, entry) in files.iter().zip(entries.iter()) {
            // SAFETY: `dir` is ours (debugfs ignores an error pointer
            // there); `entry` and `fops` live, and do not move, until `dir`
            // is removed in `drop`.
            unsafe {
                bindings::debugfs_create_file(
                    spec.name.as_char_ptr(),
                    spec.mode,
                    dir,
                    ptr::from_ref(entry).cast_mut().cast(),
                    &*fops,
                )
            };
        }
        Ok(Self {
            dir,
            _entries: entries,
            _fops: fops,
            _owner: owner,
        })
    }
}

impl<T: Files> Drop for Dir<T> {
    fn drop(&mut self) {
        // SAFETY: created in `create`.  Returns once no file operation runs
        // any more; an open file keeps the module, and so this, alive.
        unsafe { bindings::debugfs_remove(self.dir) };
    }
}

/// # Safety
///
/// `entry` is the `i_private` of a file that a live `Dir<T>` created.
unsafe fn entry<'a, T: Files>(entry: *mut c_void) -> (&'a T, T::File) {
    // SAFETY: per the contract, an `Entry<T>` whose owner the `Dir` keeps.
    let entry = unsafe { &*entry.cast::<Entry<T>>() };
    // SAFETY: as above.
    (unsafe { &*entry.owner }, entry.file)
}

/// `open`: a `seq_file` whose `show` is the owner's.
///
/// # Safety
///
/// Called by debugfs with a file that `Dir::create` made.
unsafe extern "C" fn open<T: Files>(
    inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: debugfs passes a valid inode and file; `i_private` is the
    // `Entry` the file was created with.
    unsafe { bindings::single_open(file, Some(show::<T>), (*inode).i_private) }
}

/// # Safety
///
/// Called by seq_read() on a file opened by `open`.
unsafe extern "C" fn show<T: Files>(seq: *mut bindings::seq_file, _: *mut c_void) -> c_int {
    // SAFETY: `single_open` stored the `Entry` in `private`, and it lives
    // as long as the file.
    let (owner, file) = unsafe { entry::<T>((*seq).private) };
    // Overflow is not an error: seq_read() retries with a larger buffer.
    // SAFETY: we are that `show` call.
    let _ = owner.show(file, &mut unsafe { SeqWriter::new(seq) });
    0
}

/// # Safety
///
/// Called by debugfs on a file opened by `open`, with a user buffer of
/// `count` bytes.
unsafe extern "C" fn write<T: Files>(
    file: *mut bindings::file,
    buffer: *const c_char,
    count: usize,
    _: *mut bindings::loff_t,
) -> isize {
    // SAFETY: the file was opened by `open`, so its private data is the
    // `seq_file` whose `private` is the `Entry`.
    let (owner, file) =
        unsafe { entry::<T>((*(*file).private_data.cast::<bindings::seq_file>()).private) };
    let store = || -> Result {
        if count > MAX_INPUT {
            return Err(EINVAL);
        }
        let mut input = [0u8; MAX_INPUT];
        UserSlice::new(buffer as usize, count)
            .reader()
            .read_slice(&mut input[..count])?;
        owner.store(file, &input[..count])
    };
    match store() {
        Ok(()) => count as isize,
        Err(error) => error.to_errno() as isize,
    }
}

/// `input` read the way the kernel reads booleans (`kstrtobool()`).
pub fn parse_bool(input: &[u8]) -> Result<bool> {
    if input.len() > MAX_INPUT {
        return Err(EINVAL);
    }
    let mut text = [0u8; MAX_INPUT + 1];
    text[..input.len()].copy_from_slice(input);
    let mut value = false;
    // SAFETY: `text` is NUL-terminated: `input` fits before its last byte.
    kernel::error::to_result(unsafe {
        bindings::kstrtobool(text.as_ptr().cast::<c_char>(), &mut value)
    })?;
    Ok(value)
}
