//! In-process HTTP tests of the console and the JSON API, on real stores.

mod api;
mod calls;
mod client_address;
mod console;
mod deployment;
mod hardware;
mod harness;
mod mfa;
mod overload;
mod recovery;
mod recovery_undo;
mod serve;
mod throttling;
