//! In-process HTTP tests of the console and the JSON API, on real stores.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    unreachable_pub,
    reason = "a test crate: a panic is a failed test, and its helpers are shared between its modules"
)]

mod api;
mod calls;
mod client_address;
mod console;
mod contacts;
mod deployment;
mod disabled;
mod events;
mod fast_path;
mod forward_auth;
mod hardware;
mod harness;
mod mfa;
mod oidc;
mod overload;
mod recovery;
mod recovery_undo;
mod return_to;
mod serve;
mod sessions;
mod throttling;
