// SPDX-License-Identifier: GPL-2.0

//! The kernel's message ratelimit (`<linux/ratelimit.h>`), with its
//! defaults: at most 10 messages per 5 s.

use kernel::{bindings, prelude::*, str::CStr, types::Opaque};

/// One ratelimit state.
#[pin_data]
pub struct RateLimit {
    #[pin]
    state: Opaque<bindings::ratelimit_state>,
}

// SAFETY: the state is only used through `___ratelimit()`, which takes its
// lock.
unsafe impl Send for RateLimit {}
// SAFETY: as for `Send`.
unsafe impl Sync for RateLimit {}

impl RateLimit {
    /// A state with the kernel's default interval and burst.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            state <- Opaque::ffi_init(|state| {
                // SAFETY: `state` points to writable, pinned storage.
                unsafe { bindings::ratelimit_default_init(state) }
            }),
        })
    }

    /// Whether a message may be printed now; `name` is the one in the
    /// "callbacks suppressed" note.
    pub fn allow(&self, name: &CStr) -> bool {
        // SAFETY: the state was initialised by `ratelimit_default_init()`
        // and is pinned; `name` is a NUL-terminated string.
        unsafe { bindings::___ratelimit(self.state.get(), name.as_char_ptr()) != 0 }
    }
}
