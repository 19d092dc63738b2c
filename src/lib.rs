//! session-sync: live shared state for static browser apps, one Durable Object per session.
//!
//! `core` holds the state logic and the wire protocol (native, tested with `cargo test`);
//! `edge` is the thin Workers adapter: the router and the Durable Object (wasm only).
#![deny(clippy::await_holding_refcell_ref)]

pub mod core;

#[cfg(target_arch = "wasm32")]
mod edge;
