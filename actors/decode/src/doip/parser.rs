//! DoIP (ISO 13400-2) parser, pure over `&[u8]`: the generic header, TCP stream framing,
//! back-to-back messages, and every payload type of the standard, borrowing from the input.

// A decoder sees attacker-controlled bytes: nothing input-derived may panic or overflow.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::fmt;
use std::iter::FusedIterator;

use thiserror::Error;
use vsiem_topology::Transport;

/// Length of the generic DoIP header: version, inverse version, payload type, payload length.
pub const HEADER_LEN: usize = 8;

/// Largest payload [`frame_len`] accepts. A DoIP entity announces its own limit (the max data
/// size of the entity status response), typically a few KiB; anything above this bound is
/// refused rather than buffered, so a hostile length costs no memory.
pub const MAX_PAYLOAD_LEN: u32 = 64 * 1024;

/// The protocol version that only vehicle identification requests may carry ("any version").
pub const DEFAULT_VERSION: u8 = 0xFF;

/// A DoIP payload type (the header's third field). The constants are those of ISO 13400-2;
/// any other value is reserved or manufacturer-specific and decodes as [`Doip::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadType(pub u16);

impl PayloadType {
    pub const GENERIC_NACK: Self = Self(0x0000);
    pub const VEHICLE_ID_REQUEST: Self = Self(0x0001);
    pub const VEHICLE_ID_REQUEST_EID: Self = Self(0x0002);
    pub const VEHICLE_ID_REQUEST_VIN: Self = Self(0x0003);
    /// Vehicle announcement, or the response to a vehicle identification request.
    pub const VEHICLE_ANNOUNCEMENT: Self = Self(0x0004);
    pub const ROUTING_ACTIVATION_REQUEST: Self = Self(0x0005);
    pub const ROUTING_ACTIVATION_RESPONSE: Self = Self(0x0006);
    pub const ALIVE_CHECK_REQUEST: Self = Self(0x0007);
    pub const ALIVE_CHECK_RESPONSE: Self = Self(0x0008);
    pub const ENTITY_STATUS_REQUEST: Self = Self(0x4001);
    pub const ENTITY_STATUS_RESPONSE: Self = Self(0x4002);
    pub const POWER_MODE_REQUEST: Self = Self(0x4003);
    pub const POWER_MODE_RESPONSE: Self = Self(0x4004);
    pub const DIAGNOSTIC_MESSAGE: Self = Self(0x8001);
    pub const DIAGNOSTIC_ACK: Self = Self(0x8002);
    pub const DIAGNOSTIC_NACK: Self = Self(0x8003);

    /// The standard's name for the payload type, `None` when ISO 13400-2 defines none.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::GENERIC_NACK => "generic DoIP header NACK",
            Self::VEHICLE_ID_REQUEST => "vehicle identification request",
            Self::VEHICLE_ID_REQUEST_EID => "vehicle identification request with EID",
            Self::VEHICLE_ID_REQUEST_VIN => "vehicle identification request with VIN",
            Self::VEHICLE_ANNOUNCEMENT => "vehicle announcement / identification response",
            Self::ROUTING_ACTIVATION_REQUEST => "routing activation request",
            Self::ROUTING_ACTIVATION_RESPONSE => "routing activation response",
            Self::ALIVE_CHECK_REQUEST => "alive check request",
            Self::ALIVE_CHECK_RESPONSE => "alive check response",
            Self::ENTITY_STATUS_REQUEST => "DoIP entity status request",
            Self::ENTITY_STATUS_RESPONSE => "DoIP entity status response",
            Self::POWER_MODE_REQUEST => "diagnostic power mode information request",
            Self::POWER_MODE_RESPONSE => "diagnostic power mode information response",
            Self::DIAGNOSTIC_MESSAGE => "diagnostic message",
            Self::DIAGNOSTIC_ACK => "diagnostic message positive acknowledgement",
            Self::DIAGNOSTIC_NACK => "diagnostic message negative acknowledgement",
            _ => return None,
        })
    }

    /// Whether ISO 13400-2 lets this payload type travel over `transport`: vehicle discovery,
    /// entity status and power mode are UDP-only, routing activation, alive check and
    /// diagnostic messages TCP-only, the header NACK goes both ways. Unknown types: never.
    pub fn allowed_on(self, transport: Transport) -> bool {
        match self {
            Self::GENERIC_NACK => true,
            Self::VEHICLE_ID_REQUEST
            | Self::VEHICLE_ID_REQUEST_EID
            | Self::VEHICLE_ID_REQUEST_VIN
            | Self::VEHICLE_ANNOUNCEMENT
            | Self::ENTITY_STATUS_REQUEST
            | Self::ENTITY_STATUS_RESPONSE
            | Self::POWER_MODE_REQUEST
            | Self::POWER_MODE_RESPONSE => transport == Transport::Udp,
            Self::ROUTING_ACTIVATION_REQUEST
            | Self::ROUTING_ACTIVATION_RESPONSE
            | Self::ALIVE_CHECK_REQUEST
            | Self::ALIVE_CHECK_RESPONSE
            | Self::DIAGNOSTIC_MESSAGE
            | Self::DIAGNOSTIC_ACK
            | Self::DIAGNOSTIC_NACK => transport == Transport::Tcp,
            _ => false,
        }
    }

    /// The payload lengths ISO 13400-2 allows for this type, `None` for unknown types.
    pub fn expected_len(self) -> Option<ExpectedLen> {
        use ExpectedLen::{AtLeast, Exactly, OneOf};
        Some(match self {
            Self::GENERIC_NACK => Exactly(1),
            Self::VEHICLE_ID_REQUEST
            | Self::ALIVE_CHECK_REQUEST
            | Self::ENTITY_STATUS_REQUEST
            | Self::POWER_MODE_REQUEST => Exactly(0),
            Self::VEHICLE_ID_REQUEST_EID => Exactly(6),
            Self::VEHICLE_ID_REQUEST_VIN => Exactly(17),
            // The VIN/GID sync status is optional.
            Self::VEHICLE_ANNOUNCEMENT => OneOf(32, 33),
            // The OEM-specific field is optional.
            Self::ROUTING_ACTIVATION_REQUEST => OneOf(7, 11),
            Self::ROUTING_ACTIVATION_RESPONSE => OneOf(9, 13),
            Self::ALIVE_CHECK_RESPONSE => Exactly(2),
            // The max data size is optional.
            Self::ENTITY_STATUS_RESPONSE => OneOf(3, 7),
            Self::POWER_MODE_RESPONSE => Exactly(1),
            // Empty user data is a DoIP-valid frame (Wireshark agrees); UDS then reports it.
            Self::DIAGNOSTIC_MESSAGE => AtLeast(4),
            Self::DIAGNOSTIC_ACK | Self::DIAGNOSTIC_NACK => AtLeast(5),
            _ => return None,
        })
    }
}

impl fmt::Display for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({:#06x})", self.0),
            None => write!(f, "{:#06x}", self.0),
        }
    }
}

/// The payload lengths a payload type allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedLen {
    Exactly(u32),
    /// Without or with an optional trailing field.
    OneOf(u32, u32),
    AtLeast(u32),
}

impl ExpectedLen {
    pub fn accepts(self, len: u32) -> bool {
        match self {
            Self::Exactly(n) => len == n,
            Self::OneOf(a, b) => len == a || len == b,
            Self::AtLeast(n) => len >= n,
        }
    }
}

impl fmt::Display for ExpectedLen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exactly(n) => write!(f, "{n}"),
            Self::OneOf(a, b) => write!(f, "{a} or {b}"),
            Self::AtLeast(n) => write!(f, "at least {n}"),
        }
    }
}

/// Generic DoIP header negative acknowledgement code (payload type 0x0000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeaderNackCode(pub u8);

impl HeaderNackCode {
    pub const INCORRECT_PATTERN_FORMAT: Self = Self(0x00);
    pub const UNKNOWN_PAYLOAD_TYPE: Self = Self(0x01);
    pub const MESSAGE_TOO_LARGE: Self = Self(0x02);
    pub const OUT_OF_MEMORY: Self = Self(0x03);
    pub const INVALID_PAYLOAD_LENGTH: Self = Self(0x04);

    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::INCORRECT_PATTERN_FORMAT => "incorrect pattern format",
            Self::UNKNOWN_PAYLOAD_TYPE => "unknown payload type",
            Self::MESSAGE_TOO_LARGE => "message too large",
            Self::OUT_OF_MEMORY => "out of memory",
            Self::INVALID_PAYLOAD_LENGTH => "invalid payload length",
            _ => return None,
        })
    }
}

/// Routing activation type (in the routing activation request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActivationType(pub u8);

impl ActivationType {
    pub const DEFAULT: Self = Self(0x00);
    pub const WWH_OBD: Self = Self(0x01);
    /// First of the OEM-specific values (0xE0..=0xFF), used for central security.
    pub const CENTRAL_SECURITY: Self = Self(0xE0);
}

/// Routing activation response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoutingResponseCode(pub u8);

impl RoutingResponseCode {
    pub const UNKNOWN_SOURCE_ADDRESS: Self = Self(0x00);
    pub const ALL_SOCKETS_ACTIVE: Self = Self(0x01);
    pub const SOURCE_ADDRESS_MISMATCH: Self = Self(0x02);
    pub const SOURCE_ADDRESS_ALREADY_ACTIVE: Self = Self(0x03);
    pub const MISSING_AUTHENTICATION: Self = Self(0x04);
    pub const REJECTED_CONFIRMATION: Self = Self(0x05);
    pub const UNSUPPORTED_ACTIVATION_TYPE: Self = Self(0x06);
    pub const TLS_REQUIRED: Self = Self(0x07);
    pub const SUCCESS: Self = Self(0x10);
    pub const CONFIRMATION_REQUIRED: Self = Self(0x11);

    /// Routing is (or, after confirmation, will be) active.
    pub fn is_success(self) -> bool {
        self == Self::SUCCESS || self == Self::CONFIRMATION_REQUIRED
    }

    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::UNKNOWN_SOURCE_ADDRESS => "denied: unknown source address",
            Self::ALL_SOCKETS_ACTIVE => "denied: all sockets registered and active",
            Self::SOURCE_ADDRESS_MISMATCH => "denied: source address differs from the socket's",
            Self::SOURCE_ADDRESS_ALREADY_ACTIVE => {
                "denied: source address already active on another socket"
            }
            Self::MISSING_AUTHENTICATION => "denied: missing authentication",
            Self::REJECTED_CONFIRMATION => "denied: rejected confirmation",
            Self::UNSUPPORTED_ACTIVATION_TYPE => "denied: unsupported activation type",
            Self::TLS_REQUIRED => "denied: requires TLS",
            Self::SUCCESS => "successfully activated",
            Self::CONFIRMATION_REQUIRED => "will be activated, confirmation required",
            _ => return None,
        })
    }
}

/// Diagnostic message negative acknowledgement code (payload type 0x8003).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DiagnosticNackCode(pub u8);

impl DiagnosticNackCode {
    pub const INVALID_SOURCE_ADDRESS: Self = Self(0x02);
    pub const UNKNOWN_TARGET_ADDRESS: Self = Self(0x03);
    pub const MESSAGE_TOO_LARGE: Self = Self(0x04);
    pub const OUT_OF_MEMORY: Self = Self(0x05);
    pub const TARGET_UNREACHABLE: Self = Self(0x06);
    pub const UNKNOWN_NETWORK: Self = Self(0x07);
    pub const TRANSPORT_PROTOCOL_ERROR: Self = Self(0x08);

    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::INVALID_SOURCE_ADDRESS => "invalid source address",
            Self::UNKNOWN_TARGET_ADDRESS => "unknown target address",
            Self::MESSAGE_TOO_LARGE => "diagnostic message too large",
            Self::OUT_OF_MEMORY => "out of memory",
            Self::TARGET_UNREACHABLE => "target unreachable",
            Self::UNKNOWN_NETWORK => "unknown network",
            Self::TRANSPORT_PROTOCOL_ERROR => "transport protocol error",
            _ => return None,
        })
    }
}

/// Diagnostic power mode (payload type 0x4004).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PowerMode(pub u8);

impl PowerMode {
    pub const NOT_READY: Self = Self(0x00);
    pub const READY: Self = Self(0x01);
    pub const NOT_SUPPORTED: Self = Self(0x02);
}

/// The generic DoIP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Protocol version: 0x01 (2010), 0x02 (2012), 0x03 (2019), 0x04 (2019 Amd1), or
    /// [`DEFAULT_VERSION`]. Not checked here: which versions are acceptable is policy.
    pub version: u8,
    pub payload_type: PayloadType,
    pub payload_len: u32,
}

/// A decoded DoIP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doip<'a> {
    GenericNack {
        code: HeaderNackCode,
    },
    VehicleIdRequest,
    VehicleIdRequestEid {
        eid: [u8; 6],
    },
    VehicleIdRequestVin {
        vin: &'a [u8; 17],
    },
    VehicleAnnouncement(VehicleAnnouncement<'a>),
    RoutingActivationRequest(RoutingActivationRequest),
    RoutingActivationResponse(RoutingActivationResponse),
    AliveCheckRequest,
    AliveCheckResponse {
        source: u16,
    },
    EntityStatusRequest,
    EntityStatusResponse(EntityStatus),
    PowerModeRequest,
    PowerModeResponse {
        mode: PowerMode,
    },
    DiagnosticMessage(DiagnosticMessage<'a>),
    DiagnosticAck(DiagnosticAck<'a>),
    DiagnosticNack(DiagnosticNack<'a>),
    /// A payload type ISO 13400-2 does not define: an entity answers it with a generic header
    /// NACK (see [`Doip::nack_due`]).
    Unknown {
        payload_type: PayloadType,
        payload: &'a [u8],
    },
}

/// Vehicle announcement or vehicle identification response (0x0004).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VehicleAnnouncement<'a> {
    /// ASCII; 0x00 or 0xFF bytes when the entity does not know the VIN (yet).
    pub vin: &'a [u8; 17],
    pub logical_address: u16,
    /// Entity identification, usually a MAC address.
    pub eid: [u8; 6],
    /// Group identification.
    pub gid: [u8; 6],
    /// 0x00 no further action, 0x10 routing activation required for central security,
    /// 0x11..=0xFF OEM-specific.
    pub further_action: u8,
    /// VIN/GID synchronisation: 0x00 synchronised, 0x10 incomplete.
    pub sync_status: Option<u8>,
}

/// Routing activation request (0x0005).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingActivationRequest {
    /// The tester's logical address.
    pub source: u16,
    pub activation_type: ActivationType,
    /// Reserved by ISO 13400-2, zero.
    pub reserved: u32,
    pub oem: Option<u32>,
}

/// Routing activation response (0x0006).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingActivationResponse {
    pub tester: u16,
    pub entity: u16,
    pub code: RoutingResponseCode,
    /// Reserved by ISO 13400-2, zero.
    pub reserved: u32,
    pub oem: Option<u32>,
}

/// DoIP entity status response (0x4002).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityStatus {
    /// 0x00 gateway, 0x01 node.
    pub node_type: u8,
    pub max_sockets: u8,
    pub open_sockets: u8,
    pub max_data_size: Option<u32>,
}

/// Diagnostic message (0x8001): a UDS message between two logical addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagnosticMessage<'a> {
    pub source: u16,
    pub target: u16,
    /// The UDS message (`uds::parse` decodes it).
    pub user_data: &'a [u8],
}

/// Diagnostic message positive acknowledgement (0x8002).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagnosticAck<'a> {
    pub source: u16,
    pub target: u16,
    /// 0x00; other values are reserved.
    pub code: u8,
    /// A copy of (a prefix of) the acknowledged message's user data, possibly empty.
    pub previous: &'a [u8],
}

/// Diagnostic message negative acknowledgement (0x8003).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagnosticNack<'a> {
    pub source: u16,
    pub target: u16,
    pub code: DiagnosticNackCode,
    /// A copy of (a prefix of) the refused message's user data, possibly empty.
    pub previous: &'a [u8],
}

impl Doip<'_> {
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Self::GenericNack { .. } => PayloadType::GENERIC_NACK,
            Self::VehicleIdRequest => PayloadType::VEHICLE_ID_REQUEST,
            Self::VehicleIdRequestEid { .. } => PayloadType::VEHICLE_ID_REQUEST_EID,
            Self::VehicleIdRequestVin { .. } => PayloadType::VEHICLE_ID_REQUEST_VIN,
            Self::VehicleAnnouncement(_) => PayloadType::VEHICLE_ANNOUNCEMENT,
            Self::RoutingActivationRequest(_) => PayloadType::ROUTING_ACTIVATION_REQUEST,
            Self::RoutingActivationResponse(_) => PayloadType::ROUTING_ACTIVATION_RESPONSE,
            Self::AliveCheckRequest => PayloadType::ALIVE_CHECK_REQUEST,
            Self::AliveCheckResponse { .. } => PayloadType::ALIVE_CHECK_RESPONSE,
            Self::EntityStatusRequest => PayloadType::ENTITY_STATUS_REQUEST,
            Self::EntityStatusResponse(_) => PayloadType::ENTITY_STATUS_RESPONSE,
            Self::PowerModeRequest => PayloadType::POWER_MODE_REQUEST,
            Self::PowerModeResponse { .. } => PayloadType::POWER_MODE_RESPONSE,
            Self::DiagnosticMessage(_) => PayloadType::DIAGNOSTIC_MESSAGE,
            Self::DiagnosticAck(_) => PayloadType::DIAGNOSTIC_ACK,
            Self::DiagnosticNack(_) => PayloadType::DIAGNOSTIC_NACK,
            Self::Unknown { payload_type, .. } => *payload_type,
        }
    }

    /// The generic header NACK a DoIP entity owes the sender of this message, if any: a
    /// well-formed message is refused only for an unknown payload type.
    pub fn nack_due(&self) -> Option<HeaderNackCode> {
        match self {
            Self::Unknown { .. } => Some(HeaderNackCode::UNKNOWN_PAYLOAD_TYPE),
            _ => None,
        }
    }
}

/// What is wrong with a DoIP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DoipError {
    /// Fewer bytes than the header announces (or than a header takes).
    #[error("truncated DoIP message: {needed} bytes needed, {available} available")]
    Truncated { needed: usize, available: usize },
    /// The synchronisation pattern is broken: a TCP stream cannot be framed past it.
    #[error("DoIP inverse protocol version {inverse:#04x} is not the complement of version {version:#04x}")]
    BadInverseVersion { version: u8, inverse: u8 },
    #[error("DoIP payload length {len} exceeds the maximum {max}")]
    PayloadTooLong { len: u32, max: u32 },
    /// More bytes than the header announces, in what should be exactly one message.
    #[error("{extra} bytes follow the DoIP message")]
    TrailingBytes { extra: usize },
    #[error("DoIP {payload_type} with a {len}-byte payload, expected {expected}")]
    InvalidPayloadLength {
        payload_type: PayloadType,
        len: u32,
        expected: ExpectedLen,
    },
}

impl DoipError {
    /// The generic header NACK a DoIP entity answers this error with (ISO 13400-2 generic
    /// header handling), taking the bytes as one whole datagram or framed message.
    pub fn nack_due(&self) -> Option<HeaderNackCode> {
        Some(match self {
            Self::BadInverseVersion { .. } => HeaderNackCode::INCORRECT_PATTERN_FORMAT,
            Self::PayloadTooLong { .. } => HeaderNackCode::MESSAGE_TOO_LARGE,
            Self::InvalidPayloadLength { .. } | Self::TrailingBytes { .. } => {
                HeaderNackCode::INVALID_PAYLOAD_LENGTH
            }
            // Without a whole header there is nothing to answer; with one, a datagram shorter
            // than its declared length is an invalid payload length.
            Self::Truncated { needed, .. } if *needed <= HEADER_LEN => return None,
            Self::Truncated { .. } => HeaderNackCode::INVALID_PAYLOAD_LENGTH,
        })
    }
}

/// Decodes the generic header at the start of `buf` (which may hold more).
pub fn header(buf: &[u8]) -> Result<Header, DoipError> {
    check_pattern(buf)?;
    let Some((raw, _)) = buf.split_first_chunk::<HEADER_LEN>() else {
        return Err(DoipError::Truncated {
            needed: HEADER_LEN,
            available: buf.len(),
        });
    };
    let [version, _, t0, t1, l0, l1, l2, l3] = *raw;
    Ok(Header {
        version,
        payload_type: PayloadType(u16::from_be_bytes([t0, t1])),
        payload_len: u32::from_be_bytes([l0, l1, l2, l3]),
    })
}

/// Checks the version/inverse-version pattern as soon as its two bytes are there, so that a
/// stream reader gives up on garbage without waiting for a whole header.
fn check_pattern(buf: &[u8]) -> Result<(), DoipError> {
    match buf {
        [version, inverse, ..] if *inverse != !*version => Err(DoipError::BadInverseVersion {
            version: *version,
            inverse: *inverse,
        }),
        _ => Ok(()),
    }
}

/// TCP stream framing with the default bound [`MAX_PAYLOAD_LEN`]: see [`frame_len_with_max`].
pub fn frame_len(buf: &[u8]) -> Option<Result<usize, DoipError>> {
    frame_len_with_max(buf, MAX_PAYLOAD_LEN)
}

/// TCP stream framing: the total length (header included) of the message starting at `buf`,
/// which may be more than `buf` holds (read until it is there); `None` until a whole header
/// has arrived. An error means the stream cannot be framed any further: a broken pattern, or
/// a payload longer than `max_payload_len`, which is refused instead of buffered.
pub fn frame_len_with_max(buf: &[u8], max_payload_len: u32) -> Option<Result<usize, DoipError>> {
    if let Err(e) = check_pattern(buf) {
        return Some(Err(e));
    }
    let header = header(buf).ok()?;
    if header.payload_len > max_payload_len {
        return Some(Err(DoipError::PayloadTooLong {
            len: header.payload_len,
            max: max_payload_len,
        }));
    }
    Some(
        usize::try_from(header.payload_len)
            .ok()
            .and_then(|len| len.checked_add(HEADER_LEN))
            .ok_or(DoipError::PayloadTooLong {
                len: header.payload_len,
                max: max_payload_len,
            }),
    )
}

/// The back-to-back messages of a UDP datagram or of a run of TCP stream bytes, each as its
/// bytes (header included) for [`parse`]. A framing error (broken pattern, payload over
/// [`MAX_PAYLOAD_LEN`], truncated last message) is the last item: nothing after it can be
/// delimited.
pub fn messages(buf: &[u8]) -> Messages<'_> {
    Messages {
        rest: buf,
        failed: false,
    }
}

/// Iterator returned by [`messages`].
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<&'a [u8], DoipError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let available = self.rest.len();
        let framed = match frame_len(self.rest) {
            None => Err(DoipError::Truncated {
                needed: HEADER_LEN,
                available,
            }),
            Some(Err(e)) => Err(e),
            Some(Ok(len)) => self.rest.split_at_checked(len).ok_or(DoipError::Truncated {
                needed: len,
                available,
            }),
        };
        match framed {
            Ok((message, rest)) => {
                self.rest = rest;
                Some(Ok(message))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

impl FusedIterator for Messages<'_> {}

/// Decodes exactly one DoIP message (header included): a whole UDP datagram, or one item of
/// [`messages`]. The payload must have the length its type allows.
pub fn parse(msg: &[u8]) -> Result<Doip<'_>, DoipError> {
    let header = header(msg)?;
    let body = msg.get(HEADER_LEN..).unwrap_or_default();
    let declared = usize::try_from(header.payload_len).unwrap_or(usize::MAX);
    let payload = match body.split_at_checked(declared) {
        Some((payload, [])) => payload,
        Some((_, extra)) => return Err(DoipError::TrailingBytes { extra: extra.len() }),
        None => {
            return Err(DoipError::Truncated {
                needed: HEADER_LEN.saturating_add(declared),
                available: msg.len(),
            })
        }
    };
    let payload_type = header.payload_type;
    let Some(expected) = payload_type.expected_len() else {
        return Ok(Doip::Unknown {
            payload_type,
            payload,
        });
    };
    let invalid = DoipError::InvalidPayloadLength {
        payload_type,
        len: header.payload_len,
        expected,
    };
    if !expected.accepts(header.payload_len) {
        return Err(invalid);
    }
    // The length check above makes every read below succeed; a failure would still be the
    // same error rather than a panic.
    decode(payload_type, Reader(payload)).ok_or(invalid)
}

fn decode(payload_type: PayloadType, mut r: Reader<'_>) -> Option<Doip<'_>> {
    let doip = match payload_type {
        PayloadType::GENERIC_NACK => Doip::GenericNack {
            code: HeaderNackCode(r.u8()?),
        },
        PayloadType::VEHICLE_ID_REQUEST => Doip::VehicleIdRequest,
        PayloadType::VEHICLE_ID_REQUEST_EID => Doip::VehicleIdRequestEid { eid: *r.array()? },
        PayloadType::VEHICLE_ID_REQUEST_VIN => Doip::VehicleIdRequestVin { vin: r.array()? },
        PayloadType::VEHICLE_ANNOUNCEMENT => Doip::VehicleAnnouncement(VehicleAnnouncement {
            vin: r.array()?,
            logical_address: r.u16()?,
            eid: *r.array()?,
            gid: *r.array()?,
            further_action: r.u8()?,
            sync_status: r.optional(Reader::u8)?,
        }),
        PayloadType::ROUTING_ACTIVATION_REQUEST => {
            Doip::RoutingActivationRequest(RoutingActivationRequest {
                source: r.u16()?,
                activation_type: ActivationType(r.u8()?),
                reserved: r.u32()?,
                oem: r.optional(Reader::u32)?,
            })
        }
        PayloadType::ROUTING_ACTIVATION_RESPONSE => {
            Doip::RoutingActivationResponse(RoutingActivationResponse {
                tester: r.u16()?,
                entity: r.u16()?,
                code: RoutingResponseCode(r.u8()?),
                reserved: r.u32()?,
                oem: r.optional(Reader::u32)?,
            })
        }
        PayloadType::ALIVE_CHECK_REQUEST => Doip::AliveCheckRequest,
        PayloadType::ALIVE_CHECK_RESPONSE => Doip::AliveCheckResponse { source: r.u16()? },
        PayloadType::ENTITY_STATUS_REQUEST => Doip::EntityStatusRequest,
        PayloadType::ENTITY_STATUS_RESPONSE => Doip::EntityStatusResponse(EntityStatus {
            node_type: r.u8()?,
            max_sockets: r.u8()?,
            open_sockets: r.u8()?,
            max_data_size: r.optional(Reader::u32)?,
        }),
        PayloadType::POWER_MODE_REQUEST => Doip::PowerModeRequest,
        PayloadType::POWER_MODE_RESPONSE => Doip::PowerModeResponse {
            mode: PowerMode(r.u8()?),
        },
        PayloadType::DIAGNOSTIC_MESSAGE => {
            let source = r.u16()?;
            let target = r.u16()?;
            return Some(Doip::DiagnosticMessage(DiagnosticMessage {
                source,
                target,
                user_data: r.rest(),
            }));
        }
        PayloadType::DIAGNOSTIC_ACK => {
            let (source, target, code) = (r.u16()?, r.u16()?, r.u8()?);
            return Some(Doip::DiagnosticAck(DiagnosticAck {
                source,
                target,
                code,
                previous: r.rest(),
            }));
        }
        PayloadType::DIAGNOSTIC_NACK => {
            let (source, target, code) = (r.u16()?, r.u16()?, r.u8()?);
            return Some(Doip::DiagnosticNack(DiagnosticNack {
                source,
                target,
                code: DiagnosticNackCode(code),
                previous: r.rest(),
            }));
        }
        _ => return None,
    };
    // Fixed-layout payloads must have been consumed exactly.
    r.rest().is_empty().then_some(doip)
}

/// Big-endian cursor over a payload; every read is checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn array<const N: usize>(&mut self) -> Option<&'a [u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.array().copied().map(u8::from_be_bytes)
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().copied().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().copied().map(u32::from_be_bytes)
    }

    /// An optional trailing field: `Some(None)` when nothing is left.
    fn optional<T>(&mut self, read: fn(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.0.is_empty() {
            Some(None)
        } else {
            read(self).map(Some)
        }
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    reason = "tests index known byte literals and panic on failure"
)]
mod tests {
    use super::*;
    use crate::testing::XorShift;

    /// A DoIP 2012 message of `payload_type` around `payload`.
    fn msg(payload_type: u16, payload: &[u8]) -> Vec<u8> {
        let mut m = vec![0x02, 0xFD];
        m.extend_from_slice(&payload_type.to_be_bytes());
        m.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
        m.extend_from_slice(payload);
        m
    }

    const VIN: &[u8; 17] = b"5VS1M00REF0000001";
    const EID: [u8; 6] = [0x02, 0x00, 0x0A, 0x0A, 0x09, 0x01];
    const GID: [u8; 6] = [0x00, 0x00, 0x00, 0x00, 0x00, 0x01];

    fn announcement(sync: Option<u8>) -> Vec<u8> {
        let mut p = VIN.to_vec();
        p.extend_from_slice(&[0x10, 0x00]);
        p.extend_from_slice(&EID);
        p.extend_from_slice(&GID);
        p.push(0x00);
        p.extend(sync);
        p
    }

    /// One valid message of every payload type, with what it must decode to.
    fn valid() -> Vec<(Vec<u8>, Doip<'static>)> {
        vec![
            (
                msg(0x0000, &[0x01]),
                Doip::GenericNack {
                    code: HeaderNackCode::UNKNOWN_PAYLOAD_TYPE,
                },
            ),
            (msg(0x0001, &[]), Doip::VehicleIdRequest),
            (msg(0x0002, &EID), Doip::VehicleIdRequestEid { eid: EID }),
            (msg(0x0003, VIN), Doip::VehicleIdRequestVin { vin: VIN }),
            (
                msg(0x0004, &announcement(None)),
                Doip::VehicleAnnouncement(VehicleAnnouncement {
                    vin: VIN,
                    logical_address: 0x1000,
                    eid: EID,
                    gid: GID,
                    further_action: 0x00,
                    sync_status: None,
                }),
            ),
            (
                msg(0x0004, &announcement(Some(0x10))),
                Doip::VehicleAnnouncement(VehicleAnnouncement {
                    vin: VIN,
                    logical_address: 0x1000,
                    eid: EID,
                    gid: GID,
                    further_action: 0x00,
                    sync_status: Some(0x10),
                }),
            ),
            (
                msg(0x0005, &[0x0E, 0x00, 0x00, 0, 0, 0, 0]),
                Doip::RoutingActivationRequest(RoutingActivationRequest {
                    source: 0x0E00,
                    activation_type: ActivationType::DEFAULT,
                    reserved: 0,
                    oem: None,
                }),
            ),
            (
                msg(
                    0x0005,
                    &[0x0E, 0x00, 0xE0, 0, 0, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF],
                ),
                Doip::RoutingActivationRequest(RoutingActivationRequest {
                    source: 0x0E00,
                    activation_type: ActivationType::CENTRAL_SECURITY,
                    reserved: 0,
                    oem: Some(0xDEAD_BEEF),
                }),
            ),
            (
                msg(0x0006, &[0x0E, 0x00, 0x10, 0x00, 0x10, 0, 0, 0, 0]),
                Doip::RoutingActivationResponse(RoutingActivationResponse {
                    tester: 0x0E00,
                    entity: 0x1000,
                    code: RoutingResponseCode::SUCCESS,
                    reserved: 0,
                    oem: None,
                }),
            ),
            (
                msg(
                    0x0006,
                    &[0x0E, 0x01, 0x10, 0x00, 0x00, 0, 0, 0, 1, 0, 0, 0, 2],
                ),
                Doip::RoutingActivationResponse(RoutingActivationResponse {
                    tester: 0x0E01,
                    entity: 0x1000,
                    code: RoutingResponseCode::UNKNOWN_SOURCE_ADDRESS,
                    reserved: 1,
                    oem: Some(2),
                }),
            ),
            (msg(0x0007, &[]), Doip::AliveCheckRequest),
            (
                msg(0x0008, &[0x0E, 0x00]),
                Doip::AliveCheckResponse { source: 0x0E00 },
            ),
            (msg(0x4001, &[]), Doip::EntityStatusRequest),
            (
                msg(0x4002, &[0x00, 0x10, 0x01]),
                Doip::EntityStatusResponse(EntityStatus {
                    node_type: 0,
                    max_sockets: 16,
                    open_sockets: 1,
                    max_data_size: None,
                }),
            ),
            (
                msg(0x4002, &[0x01, 0x01, 0x00, 0x00, 0x00, 0x0F, 0xFF]),
                Doip::EntityStatusResponse(EntityStatus {
                    node_type: 1,
                    max_sockets: 1,
                    open_sockets: 0,
                    max_data_size: Some(4095),
                }),
            ),
            (msg(0x4003, &[]), Doip::PowerModeRequest),
            (
                msg(0x4004, &[0x01]),
                Doip::PowerModeResponse {
                    mode: PowerMode::READY,
                },
            ),
            (
                msg(0x8001, &[0x0E, 0x00, 0x10, 0x01, 0x10, 0x03]),
                Doip::DiagnosticMessage(DiagnosticMessage {
                    source: 0x0E00,
                    target: 0x1001,
                    user_data: &[0x10, 0x03],
                }),
            ),
            (
                msg(0x8001, &[0x0E, 0x00, 0x10, 0x01]),
                Doip::DiagnosticMessage(DiagnosticMessage {
                    source: 0x0E00,
                    target: 0x1001,
                    user_data: &[],
                }),
            ),
            (
                msg(0x8002, &[0x10, 0x01, 0x0E, 0x00, 0x00, 0x10, 0x03]),
                Doip::DiagnosticAck(DiagnosticAck {
                    source: 0x1001,
                    target: 0x0E00,
                    code: 0,
                    previous: &[0x10, 0x03],
                }),
            ),
            (
                msg(0x8002, &[0x10, 0x01, 0x0E, 0x00, 0x00]),
                Doip::DiagnosticAck(DiagnosticAck {
                    source: 0x1001,
                    target: 0x0E00,
                    code: 0,
                    previous: &[],
                }),
            ),
            (
                msg(0x8003, &[0x10, 0x01, 0x0E, 0x00, 0x03, 0x27, 0x01]),
                Doip::DiagnosticNack(DiagnosticNack {
                    source: 0x1001,
                    target: 0x0E00,
                    code: DiagnosticNackCode::UNKNOWN_TARGET_ADDRESS,
                    previous: &[0x27, 0x01],
                }),
            ),
            (
                msg(0x9000, &[1, 2, 3]),
                Doip::Unknown {
                    payload_type: PayloadType(0x9000),
                    payload: &[1, 2, 3],
                },
            ),
        ]
    }

    #[test]
    fn every_payload_type_decodes() {
        for (bytes, expected) in valid() {
            let doip = parse(&bytes).unwrap();
            assert_eq!(doip, expected, "{bytes:02x?}");
            assert_eq!(doip.payload_type(), header(&bytes).unwrap().payload_type);
            assert_eq!(frame_len(&bytes), Some(Ok(bytes.len())));
        }
    }

    #[test]
    fn every_prefix_is_truncated_and_every_extension_trailing() {
        for (bytes, _) in valid() {
            for cut in 0..bytes.len() {
                let prefix = &bytes[..cut];
                match parse(prefix) {
                    Err(DoipError::Truncated { available, .. }) => assert_eq!(available, cut),
                    other => panic!("prefix {prefix:02x?}: {other:?}"),
                }
                assert_eq!(frame_len(prefix).is_none(), cut < HEADER_LEN);
                let mut framed = messages(prefix);
                if cut > 0 {
                    assert!(matches!(
                        framed.next(),
                        Some(Err(DoipError::Truncated { .. }))
                    ));
                }
                assert_eq!(framed.next(), None);
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(
                parse(&longer),
                Err(DoipError::TrailingBytes { extra: 1 }),
                "{longer:02x?}"
            );
        }
    }

    #[test]
    fn wrong_payload_lengths_are_errors() {
        // (payload type, payload length that the type does not allow)
        let cases: &[(u16, usize)] = &[
            (0x0000, 0),
            (0x0000, 2),
            (0x0001, 1),
            (0x0002, 5),
            (0x0002, 7),
            (0x0003, 16),
            (0x0003, 18),
            (0x0004, 31),
            (0x0004, 34),
            (0x0005, 6),
            (0x0005, 8),
            (0x0005, 12),
            (0x0006, 8),
            (0x0006, 10),
            (0x0006, 14),
            (0x0007, 1),
            (0x0008, 1),
            (0x0008, 3),
            (0x4001, 4),
            (0x4002, 2),
            (0x4002, 4),
            (0x4002, 8),
            (0x4003, 1),
            (0x4004, 0),
            (0x4004, 2),
            (0x8001, 0),
            (0x8001, 3),
            (0x8002, 4),
            (0x8003, 0),
        ];
        for &(payload_type, len) in cases {
            let bytes = msg(payload_type, &vec![0; len]);
            match parse(&bytes) {
                Err(e @ DoipError::InvalidPayloadLength { len: got, .. }) => {
                    assert_eq!(usize::try_from(got).unwrap(), len);
                    assert_eq!(e.nack_due(), Some(HeaderNackCode::INVALID_PAYLOAD_LENGTH));
                }
                other => panic!("{payload_type:#06x} with {len} bytes: {other:?}"),
            }
        }
    }

    #[test]
    fn broken_pattern_is_refused_from_two_bytes() {
        assert_eq!(frame_len(&[0x02]), None);
        let err = DoipError::BadInverseVersion {
            version: 0x02,
            inverse: 0xFE,
        };
        assert_eq!(frame_len(&[0x02, 0xFE]), Some(Err(err)));
        assert_eq!(parse(&[0x02, 0xFE, 0, 1, 0, 0, 0, 0]), Err(err));
        assert_eq!(
            err.nack_due(),
            Some(HeaderNackCode::INCORRECT_PATTERN_FORMAT)
        );
        // The default version is fine with its complement.
        assert_eq!(
            parse(&[0xFF, 0x00, 0, 1, 0, 0, 0, 0]),
            Ok(Doip::VehicleIdRequest)
        );
    }

    #[test]
    fn hostile_lengths_are_refused_not_buffered() {
        let at_max = [0x02, 0xFD, 0x80, 0x01, 0x00, 0x01, 0x00, 0x00];
        assert_eq!(frame_len(&at_max), Some(Ok(HEADER_LEN + 0x1_0000)));
        for len in [0x0001_0001_u32, 0x7FFF_FFFF, u32::MAX] {
            let mut m = vec![0x02, 0xFD, 0x80, 0x01];
            m.extend_from_slice(&len.to_be_bytes());
            let too_long = DoipError::PayloadTooLong {
                len,
                max: MAX_PAYLOAD_LEN,
            };
            assert_eq!(frame_len(&m), Some(Err(too_long)));
            assert_eq!(too_long.nack_due(), Some(HeaderNackCode::MESSAGE_TOO_LARGE));
            assert_eq!(messages(&m).collect::<Vec<_>>(), vec![Err(too_long)]);
            // One message parsed on its own is bounded by its bytes: it is merely truncated,
            // which as a datagram is an invalid payload length; a cut header owes nothing.
            let truncated = parse(&m).unwrap_err();
            assert!(matches!(truncated, DoipError::Truncated { .. }));
            assert_eq!(
                truncated.nack_due(),
                Some(HeaderNackCode::INVALID_PAYLOAD_LENGTH)
            );
            assert_eq!(parse(&m[..7]).unwrap_err().nack_due(), None);
        }
        assert_eq!(
            frame_len_with_max(&at_max, 4096),
            Some(Err(DoipError::PayloadTooLong {
                len: 0x1_0000,
                max: 4096
            }))
        );
    }

    #[test]
    fn back_to_back_messages() {
        let a = msg(0x8001, &[0x0E, 0x00, 0x10, 0x01, 0x3E, 0x80]);
        let b = msg(0x0007, &[]);
        let c = msg(0x8002, &[0x10, 0x01, 0x0E, 0x00, 0x00]);
        let mut stream = [a.clone(), b.clone(), c.clone()].concat();
        let framed: Vec<_> = messages(&stream).collect();
        assert_eq!(framed, vec![Ok(&a[..]), Ok(&b[..]), Ok(&c[..])]);

        // A cut last message and garbage after a good one end the iteration with the error.
        stream.pop();
        let framed: Vec<_> = messages(&stream).collect();
        assert_eq!(framed.len(), 3);
        assert_eq!(
            framed[2],
            Err(DoipError::Truncated {
                needed: c.len(),
                available: c.len() - 1
            })
        );
        let garbage = [a.clone(), vec![0x47, 0x45, 0x54, 0x20]].concat();
        let mut framed = messages(&garbage);
        assert_eq!(framed.next(), Some(Ok(&a[..])));
        assert!(matches!(
            framed.next(),
            Some(Err(DoipError::BadInverseVersion { .. }))
        ));
        assert_eq!(framed.next(), None);
        assert_eq!(messages(&[]).next(), None);
    }

    #[test]
    fn unknown_payload_type_is_a_value_owing_a_nack() {
        for payload_type in [0x0009, 0x4005, 0x8004, 0xF000, 0xFFFF] {
            let bytes = msg(payload_type, &[0xAA]);
            let doip = parse(&bytes).unwrap();
            assert_eq!(
                doip,
                Doip::Unknown {
                    payload_type: PayloadType(payload_type),
                    payload: &[0xAA]
                }
            );
            assert_eq!(doip.nack_due(), Some(HeaderNackCode::UNKNOWN_PAYLOAD_TYPE));
        }
        assert_eq!(parse(&msg(0x0007, &[])).unwrap().nack_due(), None);
    }

    #[test]
    fn names_and_display() {
        assert_eq!(
            PayloadType::DIAGNOSTIC_MESSAGE.to_string(),
            "diagnostic message (0x8001)"
        );
        assert_eq!(PayloadType(0x1234).to_string(), "0x1234");
        assert_eq!(HeaderNackCode(0x04).name(), Some("invalid payload length"));
        assert_eq!(DiagnosticNackCode(0x06).name(), Some("target unreachable"));
        assert!(PayloadType::GENERIC_NACK.allowed_on(Transport::Udp));
        assert!(PayloadType::GENERIC_NACK.allowed_on(Transport::Tcp));
        assert!(PayloadType::VEHICLE_ANNOUNCEMENT.allowed_on(Transport::Udp));
        assert!(!PayloadType::VEHICLE_ANNOUNCEMENT.allowed_on(Transport::Tcp));
        assert!(!PayloadType::ALIVE_CHECK_REQUEST.allowed_on(Transport::Udp));
        assert!(PayloadType::DIAGNOSTIC_MESSAGE.allowed_on(Transport::Tcp));
        assert!(!PayloadType(0x9000).allowed_on(Transport::Tcp));
        assert!(RoutingResponseCode(0x11).is_success());
        assert!(!RoutingResponseCode(0x06).is_success());
        let e = parse(&msg(0x0008, &[1])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "DoIP alive check response (0x0008) with a 1-byte payload, expected 2"
        );
    }

    #[test]
    fn fuzz_never_panics() {
        let seeds: Vec<Vec<u8>> = valid().into_iter().map(|(bytes, _)| bytes).collect();
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        let mut next = move || rng.next();
        for _ in 0..100_000 {
            let r = next();
            let mut buf = seeds[(r % seeds.len() as u64) as usize].clone();
            // Mutate a few bytes, keeping the pattern valid half the time so that decoding
            // gets past the header.
            for _ in 0..(r >> 8) % 4 {
                let r = next();
                if !buf.is_empty() {
                    let i = (r % buf.len() as u64) as usize;
                    buf[i] = (r >> 16) as u8;
                }
            }
            if r & (1 << 40) != 0 {
                buf[1] = !buf[0];
            }
            match (r >> 41) % 4 {
                0 => buf.truncate(((r >> 43) % (buf.len() as u64 + 1)) as usize),
                1 => buf.extend_from_slice(&buf.clone()),
                _ => {}
            }
            let _ = parse(&buf);
            let _ = frame_len(&buf);
            let mut total = 0;
            for m in messages(&buf) {
                match m {
                    Ok(m) => {
                        total += m.len();
                        let _ = parse(m);
                    }
                    Err(_) => break,
                }
            }
            assert!(total <= buf.len());
        }
    }
}
