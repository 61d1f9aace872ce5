//! vsiem's wire format: the FlatBuffers schemas' generated code, verified in-place readers,
//! encoders, and the catalog of security event types.
//!
//! Only these types cross process boundaries. Readers verify a buffer and then borrow from it:
//! nothing is decoded into owned structs on the receiving side.

pub mod catalog;
pub mod encode;
pub mod read;

// The generated code is committed and checked against a fresh `flatc` run by a test; it is not
// ours to lint or format.
#[allow(clippy::all, clippy::pedantic, unsafe_op_in_unsafe_fn, mismatched_lifetime_syntaxes)]
#[rustfmt::skip]
#[path = "generated/vsiem_generated.rs"]
mod generated;

pub use generated::vsiem::wire;

/// Nanoseconds since the Unix epoch, the time base of every timestamp on the wire.
pub fn now_ns() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
}
