//! The network sensor's decoders: pure functions over captured bytes, one folder per protocol
//! (Suricata's layout). A decoder never panics and never fails the pipeline: it returns what it
//! understood, and what it could not understand as a value the detectors turn into an event.

pub mod capture_file;
pub mod detect;
pub mod someip;
