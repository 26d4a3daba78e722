//! The stop signal's sync primitives: std's in every real build, loom's under the `loom`
//! feature, so that the models in `loom_models.rs` explore every interleaving of the very
//! code that ships.
//!
//! `Arc` and `Weak` are std's in both builds: loom 0.7 has no `Weak`, and the token's links
//! between nodes need one. That costs the models nothing they check: loom runs one model
//! thread at a time and switches only at its own operations, so a std reference count
//! changes atomically between two of them, and every order of an upgrade against a drop is
//! still explored at that granularity.

#[cfg(feature = "loom")]
pub(super) use loom::{
    sync::{Condvar, Mutex, MutexGuard, atomic::AtomicU8},
    thread,
};
#[cfg(not(feature = "loom"))]
pub(super) use std::{
    sync::{Condvar, Mutex, MutexGuard, atomic::AtomicU8},
    thread,
};

pub(super) use std::sync::{Arc, Weak};
