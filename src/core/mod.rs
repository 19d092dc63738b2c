//! The state logic of a session, in plain Rust with no dependency on the Workers runtime:
//! versions, patches, the op log, limits, roles and keys, and the wire protocol.
//! `cargo test` covers all of it natively; `crate::edge` adapts it to Durable Objects.

pub mod abuse;
pub mod bounded;
pub mod doc;
pub mod document;
pub mod error;
#[cfg(test)]
mod fuzz_tests;
pub mod history;
pub mod http;
pub mod http_presence;
pub mod incoming;
pub mod keys;
pub mod limits;
pub mod measure;
pub mod oplog;
pub mod protocol;
pub mod relay;
pub mod room;
pub mod routes;
pub mod session;
#[cfg(test)]
mod test_rng;
