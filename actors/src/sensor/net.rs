//! The network sensor: decoders, pure functions over captured bytes with one folder per
//! protocol (Suricata's layout), and the detectors that judge what they decode against the
//! topology. A decoder never panics and never fails the pipeline: it returns what it understood,
//! and what it could not understand as a value the detectors turn into an event.

pub mod capture_file;
pub mod detect;
pub mod dns;
pub mod doip;
pub mod frame;
pub mod pipeline;
pub mod someip;
pub mod tcp;
pub mod tls;
pub mod uds;
