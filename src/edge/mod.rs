//! The Workers adapter (wasm only): the router entry point and the session Durable Object.
//! Everything here is glue around `crate::core`.

mod abuse;
mod contract;
mod fanout;
mod history_store;
mod host;
mod hub;
mod object;
mod relay;
mod respond;
mod router;
mod sockets;
mod sql_store;
mod sse;
