//! Verified in-place readers: check a buffer from the network once, then borrow from it.

use flatbuffers::{InvalidFlatbuffer, Verifiable, VerifierOptions};

use crate::wire;

/// The verifier's bounds where no topology sets them (the V-SOC, the monitor, the tools): far
/// above anything vsiem writes (an incident of 16,384 event references included), far below
/// what would let a hostile buffer cost real time or memory to verify. The vehicle's own
/// readers take theirs from the topology's `[limits]`.
pub const VERIFIER_OPTIONS: VerifierOptions = Bounds {
    max_bytes: 1 << 22,
    max_depth: 16,
    max_tables: 1 << 16,
}
.options();

/// The verifier's bounds on one buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Bounds {
    pub max_bytes: usize,
    /// Table nesting depth.
    pub max_depth: usize,
    /// Tables (and vectors of tables' elements) per buffer.
    pub max_tables: usize,
}

impl Bounds {
    pub const fn options(self) -> VerifierOptions {
        VerifierOptions {
            max_depth: self.max_depth,
            max_tables: self.max_tables,
            max_apparent_size: self.max_bytes,
            ignore_missing_null_terminator: false,
        }
    }
}

/// Verifies `buf` as a `T` within [`VERIFIER_OPTIONS`] and returns a view borrowing from it.
pub fn verified<'a, T>(buf: &'a [u8]) -> Result<T::Inner, InvalidFlatbuffer>
where
    T: flatbuffers::Follow<'a> + Verifiable + 'a,
{
    verified_within::<T>(&VERIFIER_OPTIONS, buf)
}

/// Verifies `buf` as a `T` within `options`; a buffer longer than their size bound is refused
/// before the verifier looks at it.
pub fn verified_within<'a, T>(
    options: &VerifierOptions,
    buf: &'a [u8],
) -> Result<T::Inner, InvalidFlatbuffer>
where
    T: flatbuffers::Follow<'a> + Verifiable + 'a,
{
    if buf.len() > options.max_apparent_size {
        return Err(InvalidFlatbuffer::ApparentSizeTooLarge);
    }
    flatbuffers::root_with_opts::<T>(options, buf)
}

pub fn event(buf: &[u8]) -> Result<wire::SecurityEvent<'_>, InvalidFlatbuffer> {
    verified::<wire::SecurityEvent>(buf)
}

pub fn signal(buf: &[u8]) -> Result<wire::VehicleSignal<'_>, InvalidFlatbuffer> {
    verified::<wire::VehicleSignal>(buf)
}

pub fn order(buf: &[u8]) -> Result<wire::BlockOrder<'_>, InvalidFlatbuffer> {
    verified::<wire::BlockOrder>(buf)
}

pub fn ack(buf: &[u8]) -> Result<wire::BlockAck<'_>, InvalidFlatbuffer> {
    verified::<wire::BlockAck>(buf)
}

pub fn incident(buf: &[u8]) -> Result<wire::Incident<'_>, InvalidFlatbuffer> {
    verified::<wire::Incident>(buf)
}

pub fn incident_ack(buf: &[u8]) -> Result<wire::IncidentAck<'_>, InvalidFlatbuffer> {
    verified::<wire::IncidentAck>(buf)
}

pub fn event_ack(buf: &[u8]) -> Result<wire::EventAck<'_>, InvalidFlatbuffer> {
    verified::<wire::EventAck>(buf)
}

pub fn heartbeat(buf: &[u8]) -> Result<wire::Heartbeat<'_>, InvalidFlatbuffer> {
    verified::<wire::Heartbeat>(buf)
}

/// A short, stable label of a block order's action, for logs and incident records.
pub fn action_summary(order: &wire::BlockOrder<'_>) -> String {
    if let Some(a) = order.action_as_block_someip_client() {
        format!(
            "block SOME/IP client {} (0x{:04x})",
            a.client_ecu().unwrap_or("?"),
            a.client_id()
        )
    } else if let Some(a) = order.action_as_drop_flow() {
        format!(
            "drop flow {} -> {}:{}",
            non_empty(a.src()),
            non_empty(a.dst()),
            a.dst_port()
        )
    } else if let Some(a) = order.action_as_isolate_ecu() {
        format!("isolate {}", a.ecu().unwrap_or("?"))
    } else if let Some(a) = order.action_as_stop_process() {
        format!("stop process {} ({})", a.name().unwrap_or("?"), a.pid())
    } else {
        "unknown action".to_owned()
    }
}

fn non_empty(s: Option<&str>) -> &str {
    match s {
        Some(s) if !s.is_empty() => s,
        _ => "any",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_rejected_not_panicked_on() {
        let inputs: &[&[u8]] = &[
            b"",
            b"\x00",
            b"\xff\xff\xff\xff",
            b"\x08\x00\x00\x00\x00\x00\x00\x00",
            &[
                0x10, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        ];
        for input in inputs {
            assert!(event(input).is_err(), "{input:?} accepted as an event");
            assert!(order(input).is_err(), "{input:?} accepted as an order");
        }
    }

    #[test]
    fn each_bound_refuses_what_exceeds_it() {
        let mut fbb = flatbuffers::FlatBufferBuilder::new();
        let bytes = crate::encode::tests::sample_event(&mut fbb).to_vec();
        let within = |max_bytes, max_depth, max_tables| {
            let bounds = Bounds {
                max_bytes,
                max_depth,
                max_tables,
            };
            verified_within::<wire::SecurityEvent>(&bounds.options(), &bytes).map(|_| ())
        };
        // The verifier counts the bytes it visits, a little more than the buffer's length.
        assert_eq!(within(2 * bytes.len(), 3, 3), Ok(()));
        assert_eq!(
            within(bytes.len() - 1, 3, 3),
            Err(InvalidFlatbuffer::ApparentSizeTooLarge)
        );
        assert_eq!(
            within(2 * bytes.len(), 1, 3),
            Err(InvalidFlatbuffer::DepthLimitReached)
        );
        assert_eq!(
            within(2 * bytes.len(), 3, 1),
            Err(InvalidFlatbuffer::TooManyTables)
        );
    }
}
