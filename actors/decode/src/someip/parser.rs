//! SOME/IP message framing and header decoding (AUTOSAR PRS SOME/IP) over one UDP datagram or a
//! reassembled TCP byte run: zero-copy views on top of `someip_parse`, malformed input returned
//! as a [`SomeipError`] value, never a panic.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::iter::FusedIterator;

use someip_parse::err::{SomeipHeaderError, SomeipSliceError};
use someip_parse::SomeipMsgSlice;

/// Bytes of the fixed header: message id, length, request id, versions, type, return code.
pub const HEADER_LEN: usize = 16;

/// Default bound on one message, header included, when framing a TCP stream: a length field
/// above it is an error, never a reason to buffer.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// The length field counts from the request id on, so a message spans 8 bytes more than it says
/// and a length below 8 cannot even cover the rest of the header.
const LENGTH_FIELD_END: usize = 8;
const MIN_LENGTH: u32 = 8;
const MESSAGE_TYPE_OFFSET: usize = 14;

const SD_SERVICE_ID: u16 = 0xFFFF;
const SD_METHOD_ID: u16 = 0x8100;
const E_OK: u8 = 0x00;

/// What is wrong with a SOME/IP message or its SOME/IP-SD payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SomeipError {
    #[error("{available} bytes left, fewer than the {HEADER_LEN}-byte SOME/IP header")]
    TruncatedHeader { available: usize },
    #[error("length field {0} is too small to cover the rest of the header")]
    LengthTooSmall(u32),
    #[error("length field announces a {needed}-byte message but only {available} bytes are left")]
    LengthBeyondData { needed: usize, available: usize },
    #[error("length field {length} exceeds the {max}-byte message limit")]
    MessageTooLong { length: u32, max: usize },
    #[error("protocol version {0} (only 1 is defined)")]
    ProtocolVersion(u8),
    #[error("unknown message type {0:#04x}")]
    UnknownMessageType(u8),
    #[error("not a SOME/IP-SD message: message id {service_id:#06x}/{method_id:#06x}")]
    NotSd { service_id: u16, method_id: u16 },
    #[error("SOME/IP-SD client id {0:#06x} (must be 0)")]
    SdClientId(u16),
    #[error("SOME/IP-SD session id 0 (must be nonzero)")]
    SdSessionIdZero,
    #[error("SOME/IP-SD interface version {0} (must be 1)")]
    SdInterfaceVersion(u8),
    #[error("SOME/IP-SD message type {0:#04x} (must be notification 0x02)")]
    SdMessageType(u8),
    #[error("SOME/IP-SD return code {0:#04x} (must be E_OK)")]
    SdReturnCode(u8),
    #[error("SOME/IP-SD payload needs {needed} bytes but has {available}")]
    SdTruncated { needed: usize, available: usize },
    #[error("SOME/IP-SD entries array length {0} is not a multiple of 16 or is too large")]
    SdEntriesLength(u32),
    #[error("SOME/IP-SD options array length {0} is too large")]
    SdOptionsLength(usize),
    #[error("SOME/IP-SD payload of {0} bytes exceeds the 1400-byte UDP limit")]
    SdTooLong(u32),
    #[error("SOME/IP-SD arrays end at byte {expected} but the payload has {actual} bytes")]
    SdLengthMismatch { expected: usize, actual: usize },
    #[error("unknown SOME/IP-SD entry type {0:#04x}")]
    SdEntryType(u8),
    #[error("unknown non-discardable SOME/IP-SD option type {0:#04x}")]
    SdOptionType(u8),
    #[error("SOME/IP-SD entry option run {run} references options {start}..+{count} of {options}")]
    SdOptionIndex {
        run: u8,
        start: u8,
        count: u8,
        options: usize,
    },
    #[error("SOME/IP-SD option with length 0")]
    SdOptionLengthZero,
    #[error("SOME/IP-SD option of {actual} bytes where its type needs {expected}")]
    SdOptionLength { expected: usize, actual: usize },
    #[error("SOME/IP-SD option needs {needed} bytes but the options array has {available} left")]
    SdOptionTruncated { needed: usize, available: usize },
    #[error("SOME/IP-SD configuration option is not a valid DNS-SD string")]
    SdConfigurationString,
}

impl SomeipError {
    fn from_slice_error(error: SomeipSliceError) -> Self {
        match error {
            // The crate reports both a short header and a short body as a length error; the
            // required length tells them apart.
            SomeipSliceError::Len(len) if len.required_len <= HEADER_LEN => {
                Self::TruncatedHeader { available: len.len }
            }
            SomeipSliceError::Len(len) => Self::LengthBeyondData {
                needed: len.required_len,
                available: len.len,
            },
            SomeipSliceError::Content(SomeipHeaderError::LengthFieldTooSmall(length)) => {
                Self::LengthTooSmall(length)
            }
            SomeipSliceError::Content(SomeipHeaderError::UnsupportedProtocolVersion(version)) => {
                Self::ProtocolVersion(version)
            }
            SomeipSliceError::Content(SomeipHeaderError::UnknownMessageType(byte)) => {
                Self::UnknownMessageType(byte)
            }
        }
    }
}

/// The message type byte; the `Tp*` variants (bit 0x20) are segments of a larger message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Request,
    RequestNoReturn,
    Notification,
    Response,
    Error,
    TpRequest,
    TpRequestNoReturn,
    TpNotification,
    TpResponse,
    TpError,
}

impl MessageType {
    fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            0x00 => Self::Request,
            0x01 => Self::RequestNoReturn,
            0x02 => Self::Notification,
            0x80 => Self::Response,
            0x81 => Self::Error,
            0x20 => Self::TpRequest,
            0x21 => Self::TpRequestNoReturn,
            0x22 => Self::TpNotification,
            0xA0 => Self::TpResponse,
            0xA1 => Self::TpError,
            _ => return None,
        })
    }

    /// Requests and notifications have no outcome to report, so the PRS fixes their return code
    /// to E_OK; anything else there is a protocol violation.
    fn requires_e_ok(self) -> bool {
        !matches!(
            self,
            Self::Response | Self::Error | Self::TpResponse | Self::TpError
        )
    }
}

/// A protocol violation in a message that could still be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Anomaly {
    /// A request or notification carries this return code instead of E_OK.
    ReturnCodeOnRequest(u8),
}

/// The SOME/IP-TP header of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TpSegment {
    /// Byte offset of this segment's payload in the reassembled payload (a multiple of 16).
    pub offset: u32,
    pub more_segments: bool,
}

/// One framed SOME/IP message with a valid header, borrowed from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    raw: SomeipMsgSlice<'a>,
    message_type: MessageType,
}

impl<'a> Message<'a> {
    /// Frames and checks the message at the start of `buf` (trailing bytes are left alone).
    fn parse(buf: &'a [u8]) -> Result<Self, SomeipError> {
        let raw = SomeipMsgSlice::from_slice(buf).map_err(|error| {
            let error = SomeipError::from_slice_error(error);
            // someip_parse checks a TP segment's room for the TP header before the type itself,
            // so an unknown type with the TP bit set would read as a short length.
            match (&error, buf.get(MESSAGE_TYPE_OFFSET)) {
                (SomeipError::LengthTooSmall(length), Some(&byte))
                    if *length >= MIN_LENGTH && MessageType::from_byte(byte).is_none() =>
                {
                    SomeipError::UnknownMessageType(byte)
                }
                _ => error,
            }
        })?;
        // someip_parse already rejects unknown types; mapping again here keeps the type total
        // without relying on its panicking `message_type()`.
        let byte = raw.message_type_raw();
        let message_type =
            MessageType::from_byte(byte).ok_or(SomeipError::UnknownMessageType(byte))?;
        Ok(Self { raw, message_type })
    }

    pub(super) fn raw(&self) -> &SomeipMsgSlice<'a> {
        &self.raw
    }

    pub fn service_id(&self) -> u16 {
        self.raw.service_id()
    }

    /// The method or event id as on the wire: events have the top bit set.
    pub fn method_id(&self) -> u16 {
        self.raw.event_or_method_id()
    }

    pub fn is_event(&self) -> bool {
        self.raw.is_event()
    }

    /// The length field: bytes from the request id to the end of the payload.
    pub fn length(&self) -> u32 {
        self.raw.length()
    }

    pub fn client_id(&self) -> u16 {
        let [high, low, _, _] = self.raw.request_id().to_be_bytes();
        u16::from_be_bytes([high, low])
    }

    pub fn session_id(&self) -> u16 {
        let [_, _, high, low] = self.raw.request_id().to_be_bytes();
        u16::from_be_bytes([high, low])
    }

    pub fn protocol_version(&self) -> u8 {
        self.raw.protocol_version()
    }

    pub fn interface_version(&self) -> u8 {
        self.raw.interface_version()
    }

    pub fn message_type(&self) -> MessageType {
        self.message_type
    }

    pub fn return_code(&self) -> u8 {
        self.raw.return_code()
    }

    /// The TP header if this is a segment.
    pub fn tp(&self) -> Option<TpSegment> {
        self.raw.tp_header().map(|header| TpSegment {
            offset: header.offset(),
            more_segments: header.more_segment,
        })
    }

    /// The payload after the header (and after the TP header of a segment).
    pub fn payload(&self) -> &'a [u8] {
        self.raw.payload()
    }

    /// The whole message, header included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw.slice()
    }

    /// Whether this is SOME/IP-SD (service 0xFFFF, method 0x8100); see [`super::sd`].
    pub fn is_sd(&self) -> bool {
        self.service_id() == SD_SERVICE_ID && self.method_id() == SD_METHOD_ID
    }

    pub fn anomaly(&self) -> Option<Anomaly> {
        let code = self.return_code();
        (self.message_type.requires_e_ok() && code != E_OK)
            .then_some(Anomaly::ReturnCodeOnRequest(code))
    }
}

/// The messages of one datagram or byte run, in order; see [`messages`].
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    rest: &'a [u8],
    max_message_len: usize,
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, SomeipError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = match frame_len_with_max(self.rest, self.max_message_len) {
            Some(Err(e @ SomeipError::MessageTooLong { .. })) => Err(e),
            _ => Message::parse(self.rest),
        };
        // After an error the boundary of the next message is unknown, so the iteration ends.
        self.rest = match &result {
            Ok(message) => self
                .rest
                .get(message.as_bytes().len()..)
                .unwrap_or_default(),
            Err(_) => &[],
        };
        Some(result)
    }
}

impl FusedIterator for Messages<'_> {}

/// The SOME/IP messages packed back to back in one UDP datagram or reassembled TCP byte run; the
/// iterator stops after the first error.
pub fn messages(datagram: &[u8]) -> Messages<'_> {
    messages_with_max(datagram, MAX_MESSAGE_LEN)
}

/// [`messages`], where a message announcing more than `max_message_len` bytes (header included)
/// is [`SomeipError::MessageTooLong`] whether or not its bytes are there.
pub fn messages_with_max(datagram: &[u8], max_message_len: usize) -> Messages<'_> {
    Messages {
        rest: datagram,
        max_message_len,
    }
}

/// [`frame_len_with_max`] with the default [`MAX_MESSAGE_LEN`].
pub fn frame_len(buf: &[u8]) -> Option<Result<usize, SomeipError>> {
    frame_len_with_max(buf, MAX_MESSAGE_LEN)
}

/// The length of the first whole message at the start of a TCP stream buffer, or `None` while
/// more bytes are needed. Only the length field is checked, so that a message with a bad header
/// is still framed (and then reported by [`messages`]) without losing the stream.
pub fn frame_len_with_max(
    buf: &[u8],
    max_message_len: usize,
) -> Option<Result<usize, SomeipError>> {
    let &[_, _, _, _, l0, l1, l2, l3] = buf.first_chunk::<LENGTH_FIELD_END>()?;
    let length = u32::from_be_bytes([l0, l1, l2, l3]);
    if length < MIN_LENGTH {
        return Some(Err(SomeipError::LengthTooSmall(length)));
    }
    let total = usize::try_from(length)
        .ok()
        .and_then(|length| length.checked_add(LENGTH_FIELD_END))
        .filter(|&total| total <= max_message_len);
    match total {
        None => Some(Err(SomeipError::MessageTooLong {
            length,
            max: max_message_len,
        })),
        Some(total) if buf.len() >= total => Some(Ok(total)),
        Some(_) => None,
    }
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects,
        reason = "tests index and unwrap freely"
    )]

    use super::*;
    use crate::testing::XorShift;

    /// A header with `length` 8 + payload, client 0x0003, session 0x0042, interface version 1.
    fn message(
        service: u16,
        method: u16,
        message_type: u8,
        return_code: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&service.to_be_bytes());
        bytes.extend_from_slice(&method.to_be_bytes());
        bytes.extend_from_slice(&(8 + payload.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&[
            0x00,
            0x03,
            0x00,
            0x42,
            0x01,
            0x01,
            message_type,
            return_code,
        ]);
        bytes.extend_from_slice(payload);
        bytes
    }

    /// Each message type as it appears on the wire (reference vehicle ids).
    #[rustfmt::skip]
    const BY_TYPE: &[(&[u8], MessageType, &[u8])] = &[
        // DoorLock.Lock request from the IVI, no payload.
        (&[0x11, 0x01, 0x00, 0x01, 0, 0, 0, 8, 0x00, 0x03, 0x00, 0x42, 1, 1, 0x00, 0x00],
         MessageType::Request, &[]),
        // Climate.SetTemperature fire-and-forget, int16 21.5 °C.
        (&[0x12, 0x01, 0x00, 0x01, 0, 0, 0, 10, 0x00, 0x03, 0x00, 0x42, 1, 1, 0x01, 0x00, 0x00, 0xD7],
         MessageType::RequestNoReturn, &[0x00, 0xD7]),
        // VehicleDynamics.Speed event, uint16.
        (&[0x21, 0x01, 0x80, 0x01, 0, 0, 0, 10, 0x00, 0x00, 0x00, 0x42, 1, 1, 0x02, 0x00, 0x27, 0x10],
         MessageType::Notification, &[0x27, 0x10]),
        // Immobilizer.GetState response: armed.
        (&[0x11, 0x02, 0x00, 0x01, 0, 0, 0, 9, 0x00, 0x03, 0x00, 0x42, 1, 1, 0x80, 0x00, 0x00],
         MessageType::Response, &[0x00]),
        // Error response E_UNKNOWN_METHOD.
        (&[0x11, 0x02, 0x00, 0x02, 0, 0, 0, 8, 0x00, 0x03, 0x00, 0x42, 1, 1, 0x81, 0x03],
         MessageType::Error, &[]),
        // TP segments: offset 32 with the more flag, offset 0 last segment, and so on.
        (&[0x11, 0x01, 0x00, 0x01, 0, 0, 0, 13, 0x00, 0x03, 0x00, 0x42, 1, 1, 0x20, 0x00, 0, 0, 0, 0x21, 0xAA],
         MessageType::TpRequest, &[0xAA]),
        (&[0x11, 0x01, 0x00, 0x01, 0, 0, 0, 12, 0x00, 0x03, 0x00, 0x42, 1, 1, 0x21, 0x00, 0, 0, 0, 0x00],
         MessageType::TpRequestNoReturn, &[]),
        (&[0x11, 0x01, 0x80, 0x01, 0, 0, 0, 12, 0x00, 0x03, 0x00, 0x42, 1, 1, 0x22, 0x00, 0, 0, 0, 0x10],
         MessageType::TpNotification, &[]),
        (&[0x11, 0x01, 0x00, 0x01, 0, 0, 0, 12, 0x00, 0x03, 0x00, 0x42, 1, 1, 0xA0, 0x00, 0, 0, 0, 0x00],
         MessageType::TpResponse, &[]),
        (&[0x11, 0x01, 0x00, 0x01, 0, 0, 0, 12, 0x00, 0x03, 0x00, 0x42, 1, 1, 0xA1, 0x01, 0, 0, 0, 0x00],
         MessageType::TpError, &[]),
    ];

    #[test]
    fn decodes_each_message_type() {
        for (bytes, message_type, payload) in BY_TYPE {
            let mut all = messages(bytes);
            let message = all.next().unwrap().unwrap();
            assert!(all.next().is_none());
            assert_eq!(message.message_type(), *message_type);
            assert_eq!(message.payload(), *payload);
            assert_eq!(message.as_bytes(), *bytes);
            assert_eq!(message.length() as usize, bytes.len() - 8);
            assert_eq!(
                message.client_id(),
                u16::from_be_bytes([bytes[8], bytes[9]])
            );
            assert_eq!(message.session_id(), 0x0042);
            assert_eq!(message.protocol_version(), 1);
            assert_eq!(message.interface_version(), 1);
            assert_eq!(message.tp().is_some(), bytes[14] & 0x20 != 0);
            assert!(!message.is_sd());
            assert_eq!(message.anomaly(), None);
        }
    }

    #[test]
    fn decodes_header_fields() {
        let bytes = &BY_TYPE[2].0;
        let message = messages(bytes).next().unwrap().unwrap();
        assert_eq!(message.service_id(), 0x2101);
        assert_eq!(message.method_id(), 0x8001);
        assert!(message.is_event());
        assert_eq!(message.client_id(), 0x0000);
        assert_eq!(message.return_code(), 0);

        let segment = messages(BY_TYPE[5].0).next().unwrap().unwrap();
        assert_eq!(
            segment.tp(),
            Some(TpSegment {
                offset: 32,
                more_segments: true
            })
        );
        assert!(!segment.is_event());
    }

    #[test]
    fn several_messages_in_one_datagram() {
        let datagram: Vec<u8> = BY_TYPE
            .iter()
            .flat_map(|(bytes, _, _)| bytes.iter().copied())
            .collect();
        let types: Vec<MessageType> = messages(&datagram)
            .map(|m| m.unwrap().message_type())
            .collect();
        let expected: Vec<MessageType> = BY_TYPE.iter().map(|(_, t, _)| *t).collect();
        assert_eq!(types, expected);
    }

    #[test]
    fn iteration_stops_at_the_first_error() {
        let mut datagram = message(0x1101, 0x0001, 0x00, 0, &[]);
        datagram.extend_from_slice(&message(0x1101, 0x0001, 0x05, 0, &[]));
        datagram.extend_from_slice(&message(0x1101, 0x0001, 0x00, 0, &[]));
        let results: Vec<_> = messages(&datagram).collect();
        assert_eq!(results.len(), 2);
        assert!(results[0].is_ok());
        assert_eq!(results[1], Err(SomeipError::UnknownMessageType(0x05)));
    }

    #[test]
    fn empty_datagram_has_no_message() {
        assert_eq!(messages(&[]).count(), 0);
    }

    #[test]
    fn recognises_sd_message_id() {
        let sd = message(0xFFFF, 0x8100, 0x02, 0, &[0; 12]);
        assert!(messages(&sd).next().unwrap().unwrap().is_sd());
        for (service, method) in [(0xFFFF, 0x8101), (0xFFFE, 0x8100), (0x1101, 0x8100)] {
            let other = message(service, method, 0x02, 0, &[]);
            assert!(!messages(&other).next().unwrap().unwrap().is_sd());
        }
    }

    #[test]
    fn flags_return_code_on_requests() {
        let cases: &[(u8, u8, Option<Anomaly>)] = &[
            (0x00, 0x00, None),
            (0x00, 0x01, Some(Anomaly::ReturnCodeOnRequest(0x01))),
            (0x01, 0x09, Some(Anomaly::ReturnCodeOnRequest(0x09))),
            (0x02, 0x02, Some(Anomaly::ReturnCodeOnRequest(0x02))),
            (0x80, 0x01, None),
            (0x81, 0x03, None),
        ];
        for &(message_type, code, expected) in cases {
            let bytes = message(0x1101, 0x0002, message_type, code, &[]);
            let message = messages(&bytes).next().unwrap().unwrap();
            assert_eq!(message.return_code(), code);
            assert_eq!(
                message.anomaly(),
                expected,
                "type {message_type:#x} code {code:#x}"
            );
        }
    }

    #[test]
    fn header_anomalies_are_errors() {
        let patched = |patches: &[(usize, &[u8])]| {
            let mut bytes = message(0x1101, 0x0001, 0x00, 0, &[1, 2]);
            for (offset, value) in patches {
                bytes[*offset..offset + value.len()].copy_from_slice(value);
            }
            bytes
        };
        let cases: &[(Vec<u8>, SomeipError)] = &[
            (
                patched(&[(4, &[0, 0, 0, 0])]),
                SomeipError::LengthTooSmall(0),
            ),
            (
                patched(&[(4, &[0, 0, 0, 7])]),
                SomeipError::LengthTooSmall(7),
            ),
            (
                patched(&[(4, &[0, 0, 0, 11])]),
                SomeipError::LengthBeyondData {
                    needed: 19,
                    available: 18,
                },
            ),
            // Announcing more than the bound is refused as such, whatever follows.
            (
                patched(&[(4, &[0xFF, 0xFF, 0xFF, 0xFF])]),
                SomeipError::MessageTooLong {
                    length: 0xFFFF_FFFF,
                    max: MAX_MESSAGE_LEN,
                },
            ),
            (patched(&[(12, &[0])]), SomeipError::ProtocolVersion(0)),
            (patched(&[(12, &[2])]), SomeipError::ProtocolVersion(2)),
            // The deprecated ACK types (0x40..) and garbage alike.
            (
                patched(&[(14, &[0x40])]),
                SomeipError::UnknownMessageType(0x40),
            ),
            (
                patched(&[(14, &[0xFF])]),
                SomeipError::UnknownMessageType(0xFF),
            ),
            // A TP segment needs room for its 4-byte TP header.
            (
                patched(&[(4, &[0, 0, 0, 10]), (14, &[0x20])]),
                SomeipError::LengthTooSmall(10),
            ),
            (vec![0; 15], SomeipError::TruncatedHeader { available: 15 }),
        ];
        for (bytes, expected) in cases {
            let results: Vec<_> = messages(bytes).collect();
            assert_eq!(results, vec![Err(expected.clone())], "{bytes:02x?}");
        }
    }

    #[test]
    fn every_prefix_is_an_error_or_fewer_messages() {
        let datagram: Vec<u8> = BY_TYPE
            .iter()
            .flat_map(|(bytes, _, _)| bytes.iter().copied())
            .collect();
        let boundaries: Vec<usize> = BY_TYPE
            .iter()
            .scan(0, |end, (bytes, _, _)| {
                *end += bytes.len();
                Some(*end)
            })
            .collect();
        for cut in 0..datagram.len() {
            let results: Vec<_> = messages(&datagram[..cut]).collect();
            let whole = boundaries.iter().filter(|&&end| end <= cut).count();
            assert!(results[..whole].iter().all(Result::is_ok), "cut {cut}");
            if boundaries.contains(&cut) || cut == 0 {
                assert_eq!(results.len(), whole, "cut {cut}");
            } else {
                assert_eq!(results.len(), whole + 1, "cut {cut}");
                assert!(results[whole].is_err(), "cut {cut}");
            }
            // Framing a stream prefix never claims a message that is not all there.
            match frame_len(&datagram[..cut]) {
                None => assert!(cut < BY_TYPE[0].0.len()),
                Some(Ok(len)) => assert_eq!(len, BY_TYPE[0].0.len()),
                Some(Err(error)) => panic!("cut {cut}: {error}"),
            }
        }
    }

    #[test]
    fn frames_stream_messages() {
        let first = message(0x1101, 0x0001, 0x00, 0, &[9; 5]);
        let mut stream = first.clone();
        stream.extend_from_slice(&message(0x1101, 0x0002, 0x00, 0, &[]));
        assert_eq!(frame_len(&stream), Some(Ok(first.len())));
        assert_eq!(frame_len(&stream[first.len()..]), Some(Ok(16)));
        assert_eq!(frame_len(&stream[..7]), None);
        assert_eq!(frame_len(&stream[..8]), None);
        assert_eq!(frame_len(&stream[..first.len() - 1]), None);
        // A bad header is still framed, so one bad message does not cost the stream.
        let bad_version = {
            let mut bytes = first.clone();
            bytes[12] = 7;
            bytes
        };
        assert_eq!(frame_len(&bad_version), Some(Ok(first.len())));
    }

    #[test]
    fn hostile_stream_lengths_are_errors_not_buffering() {
        let header = |length: u32| {
            let mut bytes = vec![0x11, 0x01, 0x00, 0x01];
            bytes.extend_from_slice(&length.to_be_bytes());
            bytes
        };
        type Framed = Option<Result<usize, SomeipError>>;
        let cases: &[(u32, usize, Framed)] = &[
            (
                0,
                MAX_MESSAGE_LEN,
                Some(Err(SomeipError::LengthTooSmall(0))),
            ),
            (
                7,
                MAX_MESSAGE_LEN,
                Some(Err(SomeipError::LengthTooSmall(7))),
            ),
            (8, MAX_MESSAGE_LEN, None),
            ((MAX_MESSAGE_LEN - 8) as u32, MAX_MESSAGE_LEN, None),
            (
                (MAX_MESSAGE_LEN - 7) as u32,
                MAX_MESSAGE_LEN,
                Some(Err(SomeipError::MessageTooLong {
                    length: (MAX_MESSAGE_LEN - 7) as u32,
                    max: MAX_MESSAGE_LEN,
                })),
            ),
            (
                u32::MAX,
                MAX_MESSAGE_LEN,
                Some(Err(SomeipError::MessageTooLong {
                    length: u32::MAX,
                    max: MAX_MESSAGE_LEN,
                })),
            ),
            (
                100,
                64,
                Some(Err(SomeipError::MessageTooLong {
                    length: 100,
                    max: 64,
                })),
            ),
        ];
        for (length, max, expected) in cases {
            assert_eq!(
                frame_len_with_max(&header(*length), *max),
                *expected,
                "length {length} max {max}"
            );
        }
    }

    /// Drives every accessor (and SD decoding) over `bytes`; returns the counts of messages,
    /// errors and anomalies.
    fn exercise(bytes: &[u8]) -> (usize, usize, usize) {
        let (mut decoded, mut errors, mut anomalies) = (0, 0, 0);
        for result in messages(bytes) {
            let Ok(message) = result else {
                errors += 1;
                continue;
            };
            decoded += 1;
            let _ = (
                message.service_id(),
                message.method_id(),
                message.is_event(),
                message.length(),
                message.client_id(),
                message.session_id(),
                message.protocol_version(),
                message.interface_version(),
                message.message_type(),
                message.return_code(),
                message.tp(),
                message.payload(),
            );
            anomalies += usize::from(message.anomaly().is_some());
            if message.is_sd() {
                super::super::sd::tests::exercise(&message);
            }
        }
        let _ = frame_len(bytes);
        (decoded, errors, anomalies)
    }

    impl XorShift {
        /// One of `seeds`, replaced by noise, truncated or with a few bytes changed.
        pub fn mutate(&mut self, seeds: &[Vec<u8>]) -> Vec<u8> {
            let mut bytes = seeds[self.next() as usize % seeds.len()].clone();
            // Mostly small changes to valid input, so that checks past the first one are reached.
            match self.next() % 4 {
                0 => bytes = (0..self.next() % 64).map(|_| self.next() as u8).collect(),
                1 => bytes.truncate(self.next() as usize % (bytes.len() + 1)),
                _ => {
                    for _ in 0..1 + self.next() % 3 {
                        let at = self.next() as usize % bytes.len();
                        bytes[at] = self.next() as u8;
                    }
                }
            }
            bytes
        }
    }

    #[test]
    fn fuzz_never_panics() {
        let seeds: Vec<Vec<u8>> = BY_TYPE.iter().map(|(bytes, _, _)| bytes.to_vec()).collect();
        let mut rng = XorShift(0x5EED_0F50_4E1F);
        let mut decoded = 0;
        for _ in 0..100_000 {
            decoded += exercise(&rng.mutate(&seeds)).0;
        }
        assert!(
            decoded > 10_000,
            "too few mutations stayed valid: {decoded}"
        );
    }

    /// The Ethernet frames of a classic pcap file (either byte order, link type Ethernet).
    fn pcap_frames(file: &[u8]) -> Vec<&[u8]> {
        let little = match file[..4] {
            [0xD4, 0xC3, 0xB2, 0xA1] | [0x4D, 0x3C, 0xB2, 0xA1] => true,
            [0xA1, 0xB2, 0xC3, 0xD4] | [0xA1, 0xB2, 0x3C, 0x4D] => false,
            _ => panic!("not a pcap file"),
        };
        let u32_at = |at: usize| {
            let bytes = file[at..at + 4].try_into().unwrap();
            if little {
                u32::from_le_bytes(bytes)
            } else {
                u32::from_be_bytes(bytes)
            }
        };
        assert_eq!(u32_at(20), 1, "link type Ethernet");
        let mut frames = Vec::new();
        let mut at = 24;
        while at < file.len() {
            let len = u32_at(at + 8) as usize;
            frames.push(&file[at + 16..at + 16 + len]);
            at += 16 + len;
        }
        frames
    }

    /// The UDP payload of an untagged Ethernet/IPv4 frame to or from the SOME/IP ports, bounded
    /// by the UDP length so that Ethernet padding is not taken for SOME/IP bytes.
    fn someip_datagram(frame: &[u8]) -> Option<&[u8]> {
        const PORTS: [u16; 2] = [30491, 30501];
        if frame[12..14] != [0x08, 0x00] || frame[23] != 17 {
            return None;
        }
        let udp = &frame[14 + usize::from(frame[14] & 0x0F) * 4..];
        let port = |at: usize| u16::from_be_bytes([udp[at], udp[at + 1]]);
        if !PORTS.contains(&port(0)) && !PORTS.contains(&port(2)) {
            return None;
        }
        Some(&udp[8..usize::from(port(4))])
    }

    /// Every datagram of the independent captures decodes without a panic, one message each,
    /// as tshark 4.0 decodes them (same header fields, no malformed frame). Their "malformed"
    /// and "error on error/event" violations lie in the payload encoding and in request/response
    /// sequencing, which the header decoder cannot see, hence no errors or anomalies here.
    #[test]
    fn decodes_independent_captures() {
        let dir = crate::testing::shared_captures();
        // (file, datagrams, messages, errors, anomalies)
        let expected = [
            ("someip-firewall-normal_dataset.pcap", 5284, 5284, 0, 0),
            (
                "someip-firewall-malformed_payload_dataset.pcap",
                6163,
                6163,
                0,
                0,
            ),
            (
                "someip-firewall-error_on_error_dataset.pcap",
                1810,
                1810,
                0,
                0,
            ),
            (
                "someip-firewall-error_on_event_dataset.pcap",
                1524,
                1524,
                0,
                0,
            ),
        ];
        let measured: Vec<_> = expected
            .iter()
            .map(|&(name, ..)| {
                let file = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
                let (datagrams, decoded, errors, anomalies) = pcap_frames(&file)
                    .into_iter()
                    .filter_map(someip_datagram)
                    .fold((0, 0, 0, 0), |(n, ok, bad, odd), datagram| {
                        let (d, e, a) = exercise(datagram);
                        (n + 1, ok + d, bad + e, odd + a)
                    });
                (name, datagrams, decoded, errors, anomalies)
            })
            .collect();
        assert_eq!(measured, expected);
    }
}
