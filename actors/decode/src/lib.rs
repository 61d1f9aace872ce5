//! The network sensor's decoders: pure functions over captured bytes, one folder per protocol
//! (Suricata's layout). A decoder never panics and never allocates in proportion to what an
//! attacker claims: it returns what it understood, and what it could not understand as an error
//! value that the detectors (`vsiem_actors::sensor::net`) turn into an event. No actors, no
//! transport and no topology judgement live here, so that each decoder is unit-tested on byte
//! literals and fuzzed on its own (`tests/fuzz`).

pub mod capture_file;
pub mod dns;
pub mod doip;
pub mod frame;
pub mod someip;
pub mod tcp;
#[cfg(test)]
mod testing;
pub mod tls;
pub mod uds;
