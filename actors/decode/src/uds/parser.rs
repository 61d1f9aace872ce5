//! UDS (ISO 14229-1) parser, pure over `&[u8]`: request, positive response or negative response,
//! the service, and the parameters of the services a sensor reasons about, borrowing from the
//! input.

// A decoder sees attacker-controlled bytes: nothing input-derived may panic or overflow.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::fmt;

use thiserror::Error;

/// The bit that turns a request SID into its positive response SID (SID + 0x40).
const RESPONSE_BIT: u8 = 0x40;

/// The first byte of every negative response.
const NEGATIVE_RESPONSE: u8 = 0x7F;

/// suppressPosRspMsgIndicationBit, bit 7 of a sub-function byte.
const SUPPRESS_BIT: u8 = 0x80;

/// A service identifier, always the request's: a positive response (SID + 0x40) and a negative
/// response (0x7F, SID, NRC) are about the service of the request they answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid(pub u8);

impl Sid {
    pub const DIAGNOSTIC_SESSION_CONTROL: Self = Self(0x10);
    pub const ECU_RESET: Self = Self(0x11);
    pub const CLEAR_DIAGNOSTIC_INFORMATION: Self = Self(0x14);
    pub const READ_DTC_INFORMATION: Self = Self(0x19);
    pub const READ_DATA_BY_IDENTIFIER: Self = Self(0x22);
    pub const READ_MEMORY_BY_ADDRESS: Self = Self(0x23);
    pub const READ_SCALING_DATA_BY_IDENTIFIER: Self = Self(0x24);
    pub const SECURITY_ACCESS: Self = Self(0x27);
    pub const COMMUNICATION_CONTROL: Self = Self(0x28);
    pub const AUTHENTICATION: Self = Self(0x29);
    pub const READ_DATA_BY_PERIODIC_IDENTIFIER: Self = Self(0x2A);
    pub const DYNAMICALLY_DEFINE_DATA_IDENTIFIER: Self = Self(0x2C);
    pub const WRITE_DATA_BY_IDENTIFIER: Self = Self(0x2E);
    pub const INPUT_OUTPUT_CONTROL_BY_IDENTIFIER: Self = Self(0x2F);
    pub const ROUTINE_CONTROL: Self = Self(0x31);
    pub const REQUEST_DOWNLOAD: Self = Self(0x34);
    pub const REQUEST_UPLOAD: Self = Self(0x35);
    pub const TRANSFER_DATA: Self = Self(0x36);
    pub const REQUEST_TRANSFER_EXIT: Self = Self(0x37);
    pub const REQUEST_FILE_TRANSFER: Self = Self(0x38);
    pub const WRITE_MEMORY_BY_ADDRESS: Self = Self(0x3D);
    pub const TESTER_PRESENT: Self = Self(0x3E);
    pub const ACCESS_TIMING_PARAMETER: Self = Self(0x83);
    pub const SECURED_DATA_TRANSMISSION: Self = Self(0x84);
    pub const CONTROL_DTC_SETTING: Self = Self(0x85);
    pub const RESPONSE_ON_EVENT: Self = Self(0x86);
    pub const LINK_CONTROL: Self = Self(0x87);

    /// The ISO 14229-1 service name, `None` for OBD (ISO 15031-5, 0x01..=0x0F), reserved and
    /// manufacturer-specific SIDs.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::DIAGNOSTIC_SESSION_CONTROL => "DiagnosticSessionControl",
            Self::ECU_RESET => "ECUReset",
            Self::CLEAR_DIAGNOSTIC_INFORMATION => "ClearDiagnosticInformation",
            Self::READ_DTC_INFORMATION => "ReadDTCInformation",
            Self::READ_DATA_BY_IDENTIFIER => "ReadDataByIdentifier",
            Self::READ_MEMORY_BY_ADDRESS => "ReadMemoryByAddress",
            Self::READ_SCALING_DATA_BY_IDENTIFIER => "ReadScalingDataByIdentifier",
            Self::SECURITY_ACCESS => "SecurityAccess",
            Self::COMMUNICATION_CONTROL => "CommunicationControl",
            Self::AUTHENTICATION => "Authentication",
            Self::READ_DATA_BY_PERIODIC_IDENTIFIER => "ReadDataByPeriodicIdentifier",
            Self::DYNAMICALLY_DEFINE_DATA_IDENTIFIER => "DynamicallyDefineDataIdentifier",
            Self::WRITE_DATA_BY_IDENTIFIER => "WriteDataByIdentifier",
            Self::INPUT_OUTPUT_CONTROL_BY_IDENTIFIER => "InputOutputControlByIdentifier",
            Self::ROUTINE_CONTROL => "RoutineControl",
            Self::REQUEST_DOWNLOAD => "RequestDownload",
            Self::REQUEST_UPLOAD => "RequestUpload",
            Self::TRANSFER_DATA => "TransferData",
            Self::REQUEST_TRANSFER_EXIT => "RequestTransferExit",
            Self::REQUEST_FILE_TRANSFER => "RequestFileTransfer",
            Self::WRITE_MEMORY_BY_ADDRESS => "WriteMemoryByAddress",
            Self::TESTER_PRESENT => "TesterPresent",
            Self::ACCESS_TIMING_PARAMETER => "AccessTimingParameter",
            Self::SECURED_DATA_TRANSMISSION => "SecuredDataTransmission",
            Self::CONTROL_DTC_SETTING => "ControlDTCSetting",
            Self::RESPONSE_ON_EVENT => "ResponseOnEvent",
            Self::LINK_CONTROL => "LinkControl",
            _ => return None,
        })
    }

    /// Whether the request's second byte is a sub-function (which carries the
    /// suppressPosRspMsgIndicationBit).
    pub fn has_sub_function(self) -> bool {
        matches!(
            self,
            Self::DIAGNOSTIC_SESSION_CONTROL
                | Self::ECU_RESET
                | Self::READ_DTC_INFORMATION
                | Self::SECURITY_ACCESS
                | Self::COMMUNICATION_CONTROL
                | Self::AUTHENTICATION
                | Self::DYNAMICALLY_DEFINE_DATA_IDENTIFIER
                | Self::ROUTINE_CONTROL
                | Self::TESTER_PRESENT
                | Self::ACCESS_TIMING_PARAMETER
                | Self::CONTROL_DTC_SETTING
                | Self::RESPONSE_ON_EVENT
                | Self::LINK_CONTROL
        )
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({:#04x})", self.0),
            None => write!(f, "SID {:#04x}", self.0),
        }
    }
}

/// A negative response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nrc(pub u8);

impl Nrc {
    pub const GENERAL_REJECT: Self = Self(0x10);
    pub const SERVICE_NOT_SUPPORTED: Self = Self(0x11);
    pub const SUB_FUNCTION_NOT_SUPPORTED: Self = Self(0x12);
    pub const INCORRECT_MESSAGE_LENGTH_OR_INVALID_FORMAT: Self = Self(0x13);
    pub const BUSY_REPEAT_REQUEST: Self = Self(0x21);
    pub const CONDITIONS_NOT_CORRECT: Self = Self(0x22);
    pub const REQUEST_SEQUENCE_ERROR: Self = Self(0x24);
    pub const REQUEST_OUT_OF_RANGE: Self = Self(0x31);
    pub const SECURITY_ACCESS_DENIED: Self = Self(0x33);
    pub const AUTHENTICATION_REQUIRED: Self = Self(0x34);
    pub const INVALID_KEY: Self = Self(0x35);
    pub const EXCEEDED_NUMBER_OF_ATTEMPTS: Self = Self(0x36);
    pub const REQUIRED_TIME_DELAY_NOT_EXPIRED: Self = Self(0x37);
    pub const UPLOAD_DOWNLOAD_NOT_ACCEPTED: Self = Self(0x70);
    pub const GENERAL_PROGRAMMING_FAILURE: Self = Self(0x72);
    pub const WRONG_BLOCK_SEQUENCE_COUNTER: Self = Self(0x73);
    /// Not a refusal: the final response follows later.
    pub const RESPONSE_PENDING: Self = Self(0x78);
    pub const SUB_FUNCTION_NOT_SUPPORTED_IN_ACTIVE_SESSION: Self = Self(0x7E);
    pub const SERVICE_NOT_SUPPORTED_IN_ACTIVE_SESSION: Self = Self(0x7F);

    /// The ISO 14229-1 name, `None` for reserved and manufacturer-specific codes.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x10 => "generalReject",
            0x11 => "serviceNotSupported",
            0x12 => "subFunctionNotSupported",
            0x13 => "incorrectMessageLengthOrInvalidFormat",
            0x14 => "responseTooLong",
            0x21 => "busyRepeatRequest",
            0x22 => "conditionsNotCorrect",
            0x24 => "requestSequenceError",
            0x25 => "noResponseFromSubnetComponent",
            0x26 => "failurePreventsExecutionOfRequestedAction",
            0x31 => "requestOutOfRange",
            0x33 => "securityAccessDenied",
            0x34 => "authenticationRequired",
            0x35 => "invalidKey",
            0x36 => "exceededNumberOfAttempts",
            0x37 => "requiredTimeDelayNotExpired",
            0x50 => "certificateVerificationFailedInvalidTimePeriod",
            0x51 => "certificateVerificationFailedInvalidSignature",
            0x52 => "certificateVerificationFailedInvalidChainOfTrust",
            0x53 => "certificateVerificationFailedInvalidType",
            0x54 => "certificateVerificationFailedInvalidFormat",
            0x55 => "certificateVerificationFailedInvalidContent",
            0x56 => "certificateVerificationFailedInvalidScope",
            0x57 => "certificateVerificationFailedInvalidCertificate",
            0x58 => "ownershipVerificationFailed",
            0x59 => "challengeCalculationFailed",
            0x5A => "settingAccessRightsFailed",
            0x5B => "sessionKeyCreationDerivationFailed",
            0x5C => "configurationDataUsageFailed",
            0x5D => "deAuthenticationFailed",
            0x70 => "uploadDownloadNotAccepted",
            0x71 => "transferDataSuspended",
            0x72 => "generalProgrammingFailure",
            0x73 => "wrongBlockSequenceCounter",
            0x78 => "requestCorrectlyReceivedResponsePending",
            0x7E => "subFunctionNotSupportedInActiveSession",
            0x7F => "serviceNotSupportedInActiveSession",
            0x81 => "rpmTooHigh",
            0x82 => "rpmTooLow",
            0x83 => "engineIsRunning",
            0x84 => "engineIsNotRunning",
            0x85 => "engineRunTimeTooLow",
            0x86 => "temperatureTooHigh",
            0x87 => "temperatureTooLow",
            0x88 => "vehicleSpeedTooHigh",
            0x89 => "vehicleSpeedTooLow",
            0x8A => "throttlePedalTooHigh",
            0x8B => "throttlePedalTooLow",
            0x8C => "transmissionRangeNotInNeutral",
            0x8D => "transmissionRangeNotInGear",
            0x8F => "brakeSwitchNotClosed",
            0x90 => "shifterLeverNotInPark",
            0x91 => "torqueConverterClutchLocked",
            0x92 => "voltageTooHigh",
            0x93 => "voltageTooLow",
            0x94 => "resourceTemporarilyNotAvailable",
            _ => return None,
        })
    }
}

impl fmt::Display for Nrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({:#04x})", self.0),
            None => write!(f, "NRC {:#04x}", self.0),
        }
    }
}

/// Diagnostic session type (DiagnosticSessionControl's sub-function).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionType(pub u8);

impl SessionType {
    pub const DEFAULT: Self = Self(0x01);
    /// The session in which ECUs accept new software.
    pub const PROGRAMMING: Self = Self(0x02);
    pub const EXTENDED: Self = Self(0x03);
    pub const SAFETY_SYSTEM: Self = Self(0x04);

    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::DEFAULT => "defaultSession",
            Self::PROGRAMMING => "programmingSession",
            Self::EXTENDED => "extendedDiagnosticSession",
            Self::SAFETY_SYSTEM => "safetySystemDiagnosticSession",
            _ => return None,
        })
    }
}

/// The step of a SecurityAccess exchange, from the sub-function's parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityStep {
    /// Odd sub-function: the tester asks for a seed (the ECU answers with it).
    RequestSeed,
    /// Even sub-function: the tester sends the key computed from the seed.
    SendKey,
}

impl SecurityStep {
    pub fn of(sub_function: u8) -> Self {
        if sub_function & 1 == 1 {
            Self::RequestSeed
        } else {
            Self::SendKey
        }
    }
}

/// The DIDs of a ReadDataByIdentifier request (at least one).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Dids<'a>(&'a [u8]);

impl<'a> Dids<'a> {
    pub fn iter(&self) -> impl Iterator<Item = u16> + 'a {
        self.0
            .chunks_exact(2)
            .filter_map(|pair| pair.first_chunk().copied().map(u16::from_be_bytes))
    }
}

impl fmt::Debug for Dids<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|did| format!("{did:#06x}")))
            .finish()
    }
}

/// A memory address and size, each as wide as the addressAndLengthFormatIdentifier says
/// (1 to 15 bytes, big-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryRange<'a> {
    pub address: &'a [u8],
    pub size: &'a [u8],
}

impl MemoryRange<'_> {
    /// The address, `None` when it does not fit 64 bits.
    pub fn address_value(&self) -> Option<u64> {
        be_uint(self.address)
    }

    /// The size, `None` when it does not fit 64 bits.
    pub fn size_value(&self) -> Option<u64> {
        be_uint(self.size)
    }
}

/// A big-endian unsigned integer of any width, `None` when it does not fit 64 bits.
fn be_uint(bytes: &[u8]) -> Option<u64> {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let significant = bytes.get(first..)?;
    let mut wide = [0u8; 8];
    wide.get_mut(8usize.checked_sub(significant.len())?..)?
        .copy_from_slice(significant);
    Some(u64::from_be_bytes(wide))
}

/// A decoded UDS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uds<'a> {
    Request(Request<'a>),
    PositiveResponse(PositiveResponse<'a>),
    NegativeResponse(NegativeResponse),
}

impl Uds<'_> {
    /// The service the message is about (for a response: the service of the request).
    pub fn sid(&self) -> Sid {
        match self {
            Self::Request(r) => r.sid,
            Self::PositiveResponse(r) => r.sid,
            Self::NegativeResponse(r) => r.sid,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub sid: Sid,
    /// The tester asks the ECU not to send a positive response (sub-function services only).
    pub suppress_positive_response: bool,
    pub service: RequestService<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositiveResponse<'a> {
    /// The request's SID (the byte on the wire minus 0x40).
    pub sid: Sid,
    pub service: ResponseService<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegativeResponse {
    /// The SID of the refused request.
    pub sid: Sid,
    pub nrc: Nrc,
}

/// A request's parameters. Sub-functions are given without the suppressPosRspMsgIndicationBit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestService<'a> {
    DiagnosticSessionControl {
        session: SessionType,
    },
    EcuReset {
        /// 0x01 hardReset, 0x02 keyOffOnReset, 0x03 softReset, 0x04/0x05 enable/disable
        /// rapid power shutdown.
        reset_type: u8,
    },
    ClearDiagnosticInformation {
        /// groupOfDTC (3 bytes); 0xFFFFFF is all groups.
        group: u32,
        memory_selection: Option<u8>,
    },
    ReadDtcInformation {
        report_type: u8,
        record: &'a [u8],
    },
    ReadDataByIdentifier {
        dids: Dids<'a>,
    },
    SecurityAccess {
        sub_function: u8,
        step: SecurityStep,
        /// securityAccessDataRecord (request seed, possibly empty) or the key.
        data: &'a [u8],
    },
    CommunicationControl {
        /// 0x00 enableRxAndTx .. 0x03 disableRxAndTx, 0x04/0x05 with enhanced address
        /// information (which adds `node_id`).
        control_type: u8,
        communication_type: u8,
        node_id: Option<u16>,
    },
    WriteDataByIdentifier {
        did: u16,
        data: &'a [u8],
    },
    InputOutputControlByIdentifier {
        did: u16,
        /// controlOptionRecord, starting with inputOutputControlParameter.
        control: &'a [u8],
    },
    RoutineControl {
        /// 0x01 startRoutine, 0x02 stopRoutine, 0x03 requestRoutineResults.
        control_type: u8,
        routine_id: u16,
        option: &'a [u8],
    },
    RequestDownload {
        data_format: u8,
        memory: MemoryRange<'a>,
    },
    RequestUpload {
        data_format: u8,
        memory: MemoryRange<'a>,
    },
    TransferData {
        block_sequence_counter: u8,
        data: &'a [u8],
    },
    RequestTransferExit {
        data: &'a [u8],
    },
    ReadMemoryByAddress {
        memory: MemoryRange<'a>,
    },
    WriteMemoryByAddress {
        memory: MemoryRange<'a>,
        data: &'a [u8],
    },
    TesterPresent {
        /// 0x00 (zeroSubFunction) is the only value ISO 14229-1 defines.
        sub_function: u8,
    },
    ControlDtcSetting {
        /// 0x01 on, 0x02 off.
        setting_type: u8,
        record: &'a [u8],
    },
    /// Any other service: its sub-function (if it has one) and the bytes after it.
    Other {
        sub_function: Option<u8>,
        data: &'a [u8],
    },
}

/// A positive response's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseService<'a> {
    DiagnosticSessionControl {
        session: SessionType,
        /// sessionParameterRecord: P2server_max (ms) and P2*server_max (10 ms), 2 bytes each.
        record: &'a [u8],
    },
    EcuReset {
        reset_type: u8,
        /// Seconds until power-down, after enableRapidPowerShutDown.
        power_down_time: Option<u8>,
    },
    ClearDiagnosticInformation,
    ReadDtcInformation {
        report_type: u8,
        record: &'a [u8],
    },
    ReadDataByIdentifier {
        /// The first DID; where its record ends (and the next DID starts) is only known from
        /// the ECU's data dictionary.
        did: u16,
        data: &'a [u8],
    },
    SecurityAccess {
        sub_function: u8,
        step: SecurityStep,
        /// The seed (after RequestSeed; all zero when already unlocked), empty after SendKey.
        seed: &'a [u8],
    },
    CommunicationControl {
        control_type: u8,
    },
    WriteDataByIdentifier {
        did: u16,
    },
    InputOutputControlByIdentifier {
        did: u16,
        status: &'a [u8],
    },
    RoutineControl {
        control_type: u8,
        routine_id: u16,
        /// routineInfo and routineStatusRecord.
        status: &'a [u8],
    },
    RequestDownload {
        /// maxNumberOfBlockLength, `None` when it does not fit 64 bits.
        max_block_length: Option<u64>,
    },
    RequestUpload {
        max_block_length: Option<u64>,
    },
    TransferData {
        block_sequence_counter: u8,
        data: &'a [u8],
    },
    RequestTransferExit {
        data: &'a [u8],
    },
    ReadMemoryByAddress {
        data: &'a [u8],
    },
    WriteMemoryByAddress {
        memory: MemoryRange<'a>,
    },
    TesterPresent {
        sub_function: u8,
    },
    ControlDtcSetting {
        setting_type: u8,
    },
    Other {
        sub_function: Option<u8>,
        data: &'a [u8],
    },
}

/// Which kind of message an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Request,
    PositiveResponse,
    NegativeResponse,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Request => "request",
            Self::PositiveResponse => "positive response",
            Self::NegativeResponse => "negative response",
        })
    }
}

/// The message lengths a service allows, given what was read of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedLen {
    Exactly(usize),
    AtLeast(usize),
    /// ReadDataByIdentifier: the SID and one or more 2-byte DIDs.
    DidList,
}

impl fmt::Display for ExpectedLen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exactly(n) => write!(f, "{n}"),
            Self::AtLeast(n) => write!(f, "at least {n}"),
            Self::DidList => f.write_str("1 + 2 per DID"),
        }
    }
}

/// What is wrong with a UDS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum UdsError {
    #[error("empty UDS message")]
    Empty,
    /// `sid` is the refused request's for a negative response, when the message has it.
    #[error("UDS {sid} {direction} is {len} bytes long, expected {expected}")]
    InvalidLength {
        sid: Sid,
        direction: Direction,
        len: usize,
        expected: ExpectedLen,
    },
    /// An addressAndLengthFormatIdentifier or lengthFormatIdentifier with a zero-width field.
    #[error("UDS {sid} {direction}: format identifier {format:#04x} declares a zero-byte field")]
    InvalidFormatIdentifier {
        sid: Sid,
        direction: Direction,
        format: u8,
    },
}

/// Decodes one UDS message (a DoIP diagnostic message's user data).
pub fn parse(data: &[u8]) -> Result<Uds<'_>, UdsError> {
    let Some((&first, params)) = data.split_first() else {
        return Err(UdsError::Empty);
    };
    if first == NEGATIVE_RESPONSE {
        return match params {
            [sid, nrc] => Ok(Uds::NegativeResponse(NegativeResponse {
                sid: Sid(*sid),
                nrc: Nrc(*nrc),
            })),
            _ => Err(UdsError::InvalidLength {
                sid: params
                    .first()
                    .map_or(Sid(NEGATIVE_RESPONSE), |sid| Sid(*sid)),
                direction: Direction::NegativeResponse,
                len: data.len(),
                expected: ExpectedLen::Exactly(3),
            }),
        };
    }
    // Bit 6 tells responses (0x40..=0x7E, 0xC0..=0xFF) from requests, for every SID range of
    // ISO 14229-1 including the reserved and manufacturer-specific ones.
    if first & RESPONSE_BIT == 0 {
        let sid = Sid(first);
        let suppress_positive_response =
            sid.has_sub_function() && params.first().is_some_and(|b| b & SUPPRESS_BIT != 0);
        let mut r = Reader::new(sid, Direction::Request, data);
        let service = request(sid, &mut r)?;
        r.finish()?;
        Ok(Uds::Request(Request {
            sid,
            suppress_positive_response,
            service,
        }))
    } else {
        let sid = Sid(first & !RESPONSE_BIT);
        let mut r = Reader::new(sid, Direction::PositiveResponse, data);
        let service = response(sid, &mut r)?;
        r.finish()?;
        Ok(Uds::PositiveResponse(PositiveResponse { sid, service }))
    }
}

fn request<'a>(sid: Sid, r: &mut Reader<'a>) -> Result<RequestService<'a>, UdsError> {
    Ok(match sid {
        Sid::DIAGNOSTIC_SESSION_CONTROL => RequestService::DiagnosticSessionControl {
            session: SessionType(r.sub_function()?),
        },
        Sid::ECU_RESET => RequestService::EcuReset {
            reset_type: r.sub_function()?,
        },
        Sid::CLEAR_DIAGNOSTIC_INFORMATION => {
            let [a, b, c] = *r.array()?;
            RequestService::ClearDiagnosticInformation {
                group: u32::from_be_bytes([0, a, b, c]),
                memory_selection: r.optional_u8(),
            }
        }
        Sid::READ_DTC_INFORMATION => RequestService::ReadDtcInformation {
            report_type: r.sub_function()?,
            record: r.rest(),
        },
        Sid::READ_DATA_BY_IDENTIFIER => {
            let dids = r.rest();
            if dids.is_empty() || !dids.chunks_exact(2).remainder().is_empty() {
                return Err(r.invalid(ExpectedLen::DidList));
            }
            RequestService::ReadDataByIdentifier { dids: Dids(dids) }
        }
        Sid::SECURITY_ACCESS => {
            let sub_function = r.sub_function()?;
            let step = SecurityStep::of(sub_function);
            let data = match step {
                SecurityStep::RequestSeed => r.rest(),
                SecurityStep::SendKey => r.rest_nonempty()?,
            };
            RequestService::SecurityAccess {
                sub_function,
                step,
                data,
            }
        }
        Sid::COMMUNICATION_CONTROL => {
            let control_type = r.sub_function()?;
            let communication_type = r.u8()?;
            // Only the "with enhanced address information" control types name a node.
            let node_id = match control_type {
                0x04 | 0x05 => Some(r.u16()?),
                _ => None,
            };
            RequestService::CommunicationControl {
                control_type,
                communication_type,
                node_id,
            }
        }
        Sid::WRITE_DATA_BY_IDENTIFIER => RequestService::WriteDataByIdentifier {
            did: r.u16()?,
            data: r.rest_nonempty()?,
        },
        Sid::INPUT_OUTPUT_CONTROL_BY_IDENTIFIER => RequestService::InputOutputControlByIdentifier {
            did: r.u16()?,
            control: r.rest_nonempty()?,
        },
        Sid::ROUTINE_CONTROL => RequestService::RoutineControl {
            control_type: r.sub_function()?,
            routine_id: r.u16()?,
            option: r.rest(),
        },
        Sid::REQUEST_DOWNLOAD => RequestService::RequestDownload {
            data_format: r.u8()?,
            memory: r.memory()?,
        },
        Sid::REQUEST_UPLOAD => RequestService::RequestUpload {
            data_format: r.u8()?,
            memory: r.memory()?,
        },
        Sid::TRANSFER_DATA => RequestService::TransferData {
            block_sequence_counter: r.u8()?,
            data: r.rest(),
        },
        Sid::REQUEST_TRANSFER_EXIT => RequestService::RequestTransferExit { data: r.rest() },
        Sid::READ_MEMORY_BY_ADDRESS => RequestService::ReadMemoryByAddress {
            memory: r.memory()?,
        },
        Sid::WRITE_MEMORY_BY_ADDRESS => RequestService::WriteMemoryByAddress {
            memory: r.memory()?,
            data: r.rest_nonempty()?,
        },
        Sid::TESTER_PRESENT => RequestService::TesterPresent {
            sub_function: r.sub_function()?,
        },
        Sid::CONTROL_DTC_SETTING => RequestService::ControlDtcSetting {
            setting_type: r.sub_function()?,
            record: r.rest(),
        },
        _ => RequestService::Other {
            sub_function: r.sub_function_if_any(sid)?,
            data: r.rest(),
        },
    })
}

fn response<'a>(sid: Sid, r: &mut Reader<'a>) -> Result<ResponseService<'a>, UdsError> {
    Ok(match sid {
        Sid::DIAGNOSTIC_SESSION_CONTROL => ResponseService::DiagnosticSessionControl {
            session: SessionType(r.sub_function()?),
            record: r.rest(),
        },
        Sid::ECU_RESET => ResponseService::EcuReset {
            reset_type: r.sub_function()?,
            power_down_time: r.optional_u8(),
        },
        Sid::CLEAR_DIAGNOSTIC_INFORMATION => ResponseService::ClearDiagnosticInformation,
        Sid::READ_DTC_INFORMATION => ResponseService::ReadDtcInformation {
            report_type: r.sub_function()?,
            record: r.rest(),
        },
        Sid::READ_DATA_BY_IDENTIFIER => ResponseService::ReadDataByIdentifier {
            did: r.u16()?,
            data: r.rest_nonempty()?,
        },
        Sid::SECURITY_ACCESS => {
            let sub_function = r.sub_function()?;
            let step = SecurityStep::of(sub_function);
            let seed = match step {
                SecurityStep::RequestSeed => r.rest_nonempty()?,
                // Nothing follows the echo of a sendKey sub-function (`finish` checks).
                SecurityStep::SendKey => &[],
            };
            ResponseService::SecurityAccess {
                sub_function,
                step,
                seed,
            }
        }
        Sid::COMMUNICATION_CONTROL => ResponseService::CommunicationControl {
            control_type: r.sub_function()?,
        },
        Sid::WRITE_DATA_BY_IDENTIFIER => ResponseService::WriteDataByIdentifier { did: r.u16()? },
        Sid::INPUT_OUTPUT_CONTROL_BY_IDENTIFIER => {
            ResponseService::InputOutputControlByIdentifier {
                did: r.u16()?,
                status: r.rest_nonempty()?,
            }
        }
        Sid::ROUTINE_CONTROL => ResponseService::RoutineControl {
            control_type: r.sub_function()?,
            routine_id: r.u16()?,
            status: r.rest(),
        },
        Sid::REQUEST_DOWNLOAD => ResponseService::RequestDownload {
            max_block_length: r.max_block_length()?,
        },
        Sid::REQUEST_UPLOAD => ResponseService::RequestUpload {
            max_block_length: r.max_block_length()?,
        },
        Sid::TRANSFER_DATA => ResponseService::TransferData {
            block_sequence_counter: r.u8()?,
            data: r.rest(),
        },
        Sid::REQUEST_TRANSFER_EXIT => ResponseService::RequestTransferExit { data: r.rest() },
        Sid::READ_MEMORY_BY_ADDRESS => ResponseService::ReadMemoryByAddress {
            data: r.rest_nonempty()?,
        },
        Sid::WRITE_MEMORY_BY_ADDRESS => ResponseService::WriteMemoryByAddress {
            memory: r.memory()?,
        },
        Sid::TESTER_PRESENT => ResponseService::TesterPresent {
            sub_function: r.sub_function()?,
        },
        Sid::CONTROL_DTC_SETTING => ResponseService::ControlDtcSetting {
            setting_type: r.sub_function()?,
        },
        _ => ResponseService::Other {
            sub_function: r.sub_function_if_any(sid)?,
            data: r.rest(),
        },
    })
}

/// Cursor over a message after its SID. A read past the end is an [`UdsError::InvalidLength`]
/// saying how many bytes the message needed up to that field.
struct Reader<'a> {
    sid: Sid,
    direction: Direction,
    len: usize,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(sid: Sid, direction: Direction, message: &'a [u8]) -> Self {
        Self {
            sid,
            direction,
            len: message.len(),
            rest: message.get(1..).unwrap_or_default(),
        }
    }

    fn invalid(&self, expected: ExpectedLen) -> UdsError {
        UdsError::InvalidLength {
            sid: self.sid,
            direction: self.direction,
            len: self.len,
            expected,
        }
    }

    fn consumed(&self) -> usize {
        self.len.saturating_sub(self.rest.len())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], UdsError> {
        let Some((head, rest)) = self.rest.split_at_checked(n) else {
            return Err(self.invalid(ExpectedLen::AtLeast(self.consumed().saturating_add(n))));
        };
        self.rest = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], UdsError> {
        let Some((head, rest)) = self.rest.split_first_chunk::<N>() else {
            return Err(self.invalid(ExpectedLen::AtLeast(self.consumed().saturating_add(N))));
        };
        self.rest = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, UdsError> {
        self.array().copied().map(u8::from_be_bytes)
    }

    fn u16(&mut self) -> Result<u16, UdsError> {
        self.array().copied().map(u16::from_be_bytes)
    }

    /// A sub-function without its suppressPosRspMsgIndicationBit (`parse` reads that bit).
    fn sub_function(&mut self) -> Result<u8, UdsError> {
        self.u8().map(|b| b & !SUPPRESS_BIT)
    }

    fn sub_function_if_any(&mut self, sid: Sid) -> Result<Option<u8>, UdsError> {
        if sid.has_sub_function() {
            self.sub_function().map(Some)
        } else {
            Ok(None)
        }
    }

    fn optional_u8(&mut self) -> Option<u8> {
        self.u8().ok()
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// The rest of the message, which must hold at least one byte.
    fn rest_nonempty(&mut self) -> Result<&'a [u8], UdsError> {
        if self.rest.is_empty() {
            return Err(self.invalid(ExpectedLen::AtLeast(self.len.saturating_add(1))));
        }
        Ok(self.rest())
    }

    /// addressAndLengthFormatIdentifier, then the address and the size it sizes.
    fn memory(&mut self) -> Result<MemoryRange<'a>, UdsError> {
        let format = self.u8()?;
        let (size_len, address_len) = nibbles(format);
        if size_len == 0 || address_len == 0 {
            return Err(self.invalid_format(format));
        }
        Ok(MemoryRange {
            address: self.take(address_len)?,
            size: self.take(size_len)?,
        })
    }

    /// lengthFormatIdentifier, then maxNumberOfBlockLength as wide as its high nibble says.
    fn max_block_length(&mut self) -> Result<Option<u64>, UdsError> {
        let format = self.u8()?;
        let (len, _reserved) = nibbles(format);
        if len == 0 {
            return Err(self.invalid_format(format));
        }
        self.take(len).map(be_uint)
    }

    fn invalid_format(&self, format: u8) -> UdsError {
        UdsError::InvalidFormatIdentifier {
            sid: self.sid,
            direction: self.direction,
            format,
        }
    }

    /// Nothing may follow the parameters the service defines.
    fn finish(&self) -> Result<(), UdsError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.invalid(ExpectedLen::Exactly(self.consumed())))
        }
    }
}

/// The high and low nibbles of a format identifier, as field widths.
fn nibbles(format: u8) -> (usize, usize) {
    (usize::from(format >> 4), usize::from(format & 0x0F))
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

    fn req(sid: u8, suppress: bool, service: RequestService<'static>) -> Uds<'static> {
        Uds::Request(Request {
            sid: Sid(sid),
            suppress_positive_response: suppress,
            service,
        })
    }

    fn pos(sid: u8, service: ResponseService<'static>) -> Uds<'static> {
        Uds::PositiveResponse(PositiveResponse {
            sid: Sid(sid),
            service,
        })
    }

    fn neg(sid: u8, nrc: u8) -> Uds<'static> {
        Uds::NegativeResponse(NegativeResponse {
            sid: Sid(sid),
            nrc: Nrc(nrc),
        })
    }

    const MEMORY: MemoryRange<'static> = MemoryRange {
        address: &[0x00, 0x08, 0x00, 0x00],
        size: &[0x00, 0x01, 0x00, 0x00],
    };

    /// Valid messages of the main services, both ways, with what they must decode to.
    fn valid() -> Vec<(&'static [u8], Uds<'static>)> {
        use RequestService as Q;
        use ResponseService as P;
        vec![
            (
                &[0x10, 0x03],
                req(
                    0x10,
                    false,
                    Q::DiagnosticSessionControl {
                        session: SessionType::EXTENDED,
                    },
                ),
            ),
            (
                &[0x10, 0x82],
                req(
                    0x10,
                    true,
                    Q::DiagnosticSessionControl {
                        session: SessionType::PROGRAMMING,
                    },
                ),
            ),
            (
                &[0x50, 0x03, 0x00, 0x32, 0x01, 0xF4],
                pos(
                    0x10,
                    P::DiagnosticSessionControl {
                        session: SessionType::EXTENDED,
                        record: &[0x00, 0x32, 0x01, 0xF4],
                    },
                ),
            ),
            (
                &[0x11, 0x01],
                req(0x11, false, Q::EcuReset { reset_type: 1 }),
            ),
            (
                &[0x51, 0x01],
                pos(
                    0x11,
                    P::EcuReset {
                        reset_type: 1,
                        power_down_time: None,
                    },
                ),
            ),
            (
                &[0x51, 0x04, 0x0A],
                pos(
                    0x11,
                    P::EcuReset {
                        reset_type: 4,
                        power_down_time: Some(10),
                    },
                ),
            ),
            (
                &[0x14, 0xFF, 0xFF, 0xFF],
                req(
                    0x14,
                    false,
                    Q::ClearDiagnosticInformation {
                        group: 0x00FF_FFFF,
                        memory_selection: None,
                    },
                ),
            ),
            (
                &[0x14, 0x00, 0x01, 0x23, 0x07],
                req(
                    0x14,
                    false,
                    Q::ClearDiagnosticInformation {
                        group: 0x0123,
                        memory_selection: Some(7),
                    },
                ),
            ),
            (&[0x54], pos(0x14, P::ClearDiagnosticInformation)),
            (
                &[0x19, 0x02, 0xFF],
                req(
                    0x19,
                    false,
                    Q::ReadDtcInformation {
                        report_type: 2,
                        record: &[0xFF],
                    },
                ),
            ),
            (
                &[0x59, 0x02, 0xFF, 0x12, 0x34, 0x56, 0x2F],
                pos(
                    0x19,
                    P::ReadDtcInformation {
                        report_type: 2,
                        record: &[0xFF, 0x12, 0x34, 0x56, 0x2F],
                    },
                ),
            ),
            (
                &[0x22, 0xF1, 0x90, 0xF1, 0x8C],
                req(
                    0x22,
                    false,
                    Q::ReadDataByIdentifier {
                        dids: Dids(&[0xF1, 0x90, 0xF1, 0x8C]),
                    },
                ),
            ),
            (
                &[0x62, 0xF1, 0x90, b'5', b'V', b'S'],
                pos(
                    0x22,
                    P::ReadDataByIdentifier {
                        did: 0xF190,
                        data: b"5VS",
                    },
                ),
            ),
            (
                &[0x27, 0x01],
                req(
                    0x27,
                    false,
                    Q::SecurityAccess {
                        sub_function: 1,
                        step: SecurityStep::RequestSeed,
                        data: &[],
                    },
                ),
            ),
            (
                &[0x67, 0x01, 0x12, 0x34],
                pos(
                    0x27,
                    P::SecurityAccess {
                        sub_function: 1,
                        step: SecurityStep::RequestSeed,
                        seed: &[0x12, 0x34],
                    },
                ),
            ),
            (
                &[0x27, 0x02, 0xAB, 0xCD],
                req(
                    0x27,
                    false,
                    Q::SecurityAccess {
                        sub_function: 2,
                        step: SecurityStep::SendKey,
                        data: &[0xAB, 0xCD],
                    },
                ),
            ),
            (
                &[0x67, 0x02],
                pos(
                    0x27,
                    P::SecurityAccess {
                        sub_function: 2,
                        step: SecurityStep::SendKey,
                        seed: &[],
                    },
                ),
            ),
            (
                &[0x28, 0x03, 0x01],
                req(
                    0x28,
                    false,
                    Q::CommunicationControl {
                        control_type: 3,
                        communication_type: 1,
                        node_id: None,
                    },
                ),
            ),
            (
                &[0x28, 0x84, 0x01, 0x10, 0x02],
                req(
                    0x28,
                    true,
                    Q::CommunicationControl {
                        control_type: 4,
                        communication_type: 1,
                        node_id: Some(0x1002),
                    },
                ),
            ),
            (
                &[0x68, 0x03],
                pos(0x28, P::CommunicationControl { control_type: 3 }),
            ),
            (
                &[0x2E, 0xF1, 0x90, b'X'],
                req(
                    0x2E,
                    false,
                    Q::WriteDataByIdentifier {
                        did: 0xF190,
                        data: b"X",
                    },
                ),
            ),
            (
                &[0x6E, 0xF1, 0x90],
                pos(0x2E, P::WriteDataByIdentifier { did: 0xF190 }),
            ),
            (
                &[0x2F, 0x01, 0x23, 0x03, 0x01],
                req(
                    0x2F,
                    false,
                    Q::InputOutputControlByIdentifier {
                        did: 0x0123,
                        control: &[0x03, 0x01],
                    },
                ),
            ),
            (
                &[0x6F, 0x01, 0x23, 0x03, 0x01],
                pos(
                    0x2F,
                    P::InputOutputControlByIdentifier {
                        did: 0x0123,
                        status: &[0x03, 0x01],
                    },
                ),
            ),
            (
                &[0x31, 0x01, 0xFF, 0x00, 0x01],
                req(
                    0x31,
                    false,
                    Q::RoutineControl {
                        control_type: 1,
                        routine_id: 0xFF00,
                        option: &[0x01],
                    },
                ),
            ),
            (
                &[0x71, 0x01, 0xFF, 0x00, 0x00],
                pos(
                    0x31,
                    P::RoutineControl {
                        control_type: 1,
                        routine_id: 0xFF00,
                        status: &[0x00],
                    },
                ),
            ),
            (
                &[
                    0x34, 0x00, 0x44, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
                ],
                req(
                    0x34,
                    false,
                    Q::RequestDownload {
                        data_format: 0,
                        memory: MEMORY,
                    },
                ),
            ),
            (
                &[0x74, 0x20, 0x0F, 0xFF],
                pos(
                    0x34,
                    P::RequestDownload {
                        max_block_length: Some(0x0FFF),
                    },
                ),
            ),
            (
                &[
                    0x35, 0x11, 0x44, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
                ],
                req(
                    0x35,
                    false,
                    Q::RequestUpload {
                        data_format: 0x11,
                        memory: MEMORY,
                    },
                ),
            ),
            (
                &[0x75, 0x10, 0x80],
                pos(
                    0x35,
                    P::RequestUpload {
                        max_block_length: Some(0x80),
                    },
                ),
            ),
            (
                &[0x36, 0x01, 0xDE, 0xAD],
                req(
                    0x36,
                    false,
                    Q::TransferData {
                        block_sequence_counter: 1,
                        data: &[0xDE, 0xAD],
                    },
                ),
            ),
            (
                &[0x76, 0x01],
                pos(
                    0x36,
                    P::TransferData {
                        block_sequence_counter: 1,
                        data: &[],
                    },
                ),
            ),
            (
                &[0x37],
                req(0x37, false, Q::RequestTransferExit { data: &[] }),
            ),
            (
                &[0x77, 0xCA, 0xFE],
                pos(
                    0x37,
                    P::RequestTransferExit {
                        data: &[0xCA, 0xFE],
                    },
                ),
            ),
            (
                &[0x23, 0x12, 0x20, 0x00, 0x10],
                req(
                    0x23,
                    false,
                    Q::ReadMemoryByAddress {
                        memory: MemoryRange {
                            address: &[0x20, 0x00],
                            size: &[0x10],
                        },
                    },
                ),
            ),
            (
                &[0x63, 0x01, 0x02],
                pos(0x23, P::ReadMemoryByAddress { data: &[1, 2] }),
            ),
            (
                &[0x3D, 0x11, 0x20, 0x01, 0xAA],
                req(
                    0x3D,
                    false,
                    Q::WriteMemoryByAddress {
                        memory: MemoryRange {
                            address: &[0x20],
                            size: &[0x01],
                        },
                        data: &[0xAA],
                    },
                ),
            ),
            (
                &[0x7D, 0x11, 0x20, 0x01],
                pos(
                    0x3D,
                    P::WriteMemoryByAddress {
                        memory: MemoryRange {
                            address: &[0x20],
                            size: &[0x01],
                        },
                    },
                ),
            ),
            (
                &[0x3E, 0x00],
                req(0x3E, false, Q::TesterPresent { sub_function: 0 }),
            ),
            (
                &[0x3E, 0x80],
                req(0x3E, true, Q::TesterPresent { sub_function: 0 }),
            ),
            (
                &[0x7E, 0x00],
                pos(0x3E, P::TesterPresent { sub_function: 0 }),
            ),
            (
                &[0x85, 0x82],
                req(
                    0x85,
                    true,
                    Q::ControlDtcSetting {
                        setting_type: 2,
                        record: &[],
                    },
                ),
            ),
            (
                &[0xC5, 0x02],
                pos(0x85, P::ControlDtcSetting { setting_type: 2 }),
            ),
            (
                &[0x29, 0x08],
                req(
                    0x29,
                    false,
                    Q::Other {
                        sub_function: Some(8),
                        data: &[],
                    },
                ),
            ),
            (
                &[0x38, 0x01, 0x00, 0x04],
                req(
                    0x38,
                    false,
                    Q::Other {
                        sub_function: None,
                        data: &[0x01, 0x00, 0x04],
                    },
                ),
            ),
            (
                &[0x01, 0x0D],
                req(
                    0x01,
                    false,
                    Q::Other {
                        sub_function: None,
                        data: &[0x0D],
                    },
                ),
            ),
            (
                &[0xFA, 0x01],
                pos(
                    0xBA,
                    P::Other {
                        sub_function: None,
                        data: &[0x01],
                    },
                ),
            ),
            (&[0x7F, 0x10, 0x78], neg(0x10, 0x78)),
            (&[0x7F, 0x27, 0x35], neg(0x27, 0x35)),
            (&[0x7F, 0x31, 0x33], neg(0x31, 0x33)),
        ]
    }

    #[test]
    fn main_services_decode() {
        for (bytes, expected) in valid() {
            assert_eq!(parse(bytes), Ok(expected), "{bytes:02x?}");
        }
    }

    #[test]
    fn every_prefix_is_ok_or_an_error() {
        for (bytes, _) in valid() {
            for cut in 0..bytes.len() {
                match parse(&bytes[..cut]) {
                    // Messages whose tail is optional stay valid when cut.
                    Ok(_) => {}
                    Err(UdsError::Empty) => assert_eq!(cut, 0),
                    Err(UdsError::InvalidLength { len, expected, .. }) => {
                        assert_eq!(len, cut);
                        if let ExpectedLen::AtLeast(n) | ExpectedLen::Exactly(n) = expected {
                            assert_ne!(n, cut, "{:02x?}", &bytes[..cut]);
                        }
                    }
                    Err(e) => panic!("{:02x?}: {e}", &bytes[..cut]),
                }
            }
        }
    }

    #[test]
    fn malformed_messages_say_what_is_wrong() {
        use Direction::{NegativeResponse as N, PositiveResponse as P, Request as Q};
        use ExpectedLen::{AtLeast, DidList, Exactly};
        let length = |sid: u8, direction, len, expected| UdsError::InvalidLength {
            sid: Sid(sid),
            direction,
            len,
            expected,
        };
        let cases: &[(&[u8], UdsError)] = &[
            (&[], UdsError::Empty),
            (&[0x10], length(0x10, Q, 1, AtLeast(2))),
            (&[0x10, 0x03, 0x00], length(0x10, Q, 3, Exactly(2))),
            (&[0x3E, 0x00, 0x00], length(0x3E, Q, 3, Exactly(2))),
            (&[0x7E], length(0x3E, P, 1, AtLeast(2))),
            (&[0x11, 0x01, 0x00], length(0x11, Q, 3, Exactly(2))),
            (&[0x51, 0x04, 0x0A, 0x00], length(0x11, P, 4, Exactly(3))),
            (&[0x14, 0xFF, 0xFF], length(0x14, Q, 3, AtLeast(4))),
            (&[0x54, 0x00], length(0x14, P, 2, Exactly(1))),
            (&[0x22], length(0x22, Q, 1, DidList)),
            (&[0x22, 0xF1, 0x90, 0xF1], length(0x22, Q, 4, DidList)),
            (&[0x62, 0xF1, 0x90], length(0x22, P, 3, AtLeast(4))),
            (&[0x27, 0x02], length(0x27, Q, 2, AtLeast(3))),
            (&[0x67, 0x01], length(0x27, P, 2, AtLeast(3))),
            (&[0x67, 0x02, 0x00], length(0x27, P, 3, Exactly(2))),
            (&[0x28, 0x03], length(0x28, Q, 2, AtLeast(3))),
            (&[0x28, 0x05, 0x01, 0x10], length(0x28, Q, 4, AtLeast(5))),
            (&[0x28, 0x03, 0x01, 0x10], length(0x28, Q, 4, Exactly(3))),
            (&[0x2E, 0xF1, 0x90], length(0x2E, Q, 3, AtLeast(4))),
            (&[0x6E, 0xF1, 0x90, 0x00], length(0x2E, P, 4, Exactly(3))),
            (&[0x31, 0x01, 0xFF], length(0x31, Q, 3, AtLeast(4))),
            (&[0x34, 0x00, 0x44, 0x00], length(0x34, Q, 4, AtLeast(7))),
            (
                &[0x34, 0x00, 0x11, 0x00, 0x01, 0x02],
                length(0x34, Q, 6, Exactly(5)),
            ),
            (&[0x74, 0x20, 0x0F], length(0x34, P, 3, AtLeast(4))),
            (&[0x36], length(0x36, Q, 1, AtLeast(2))),
            (&[0x3D, 0x11, 0x20, 0x01], length(0x3D, Q, 4, AtLeast(5))),
            (&[0x7F], length(0x7F, N, 1, Exactly(3))),
            (&[0x7F, 0x10], length(0x10, N, 2, Exactly(3))),
            (&[0x7F, 0x10, 0x78, 0x00], length(0x10, N, 4, Exactly(3))),
            (
                &[0x34, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00],
                UdsError::InvalidFormatIdentifier {
                    sid: Sid(0x34),
                    direction: Q,
                    format: 0x40,
                },
            ),
            (
                &[0x75, 0x00],
                UdsError::InvalidFormatIdentifier {
                    sid: Sid(0x35),
                    direction: P,
                    format: 0x00,
                },
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(parse(bytes), Err(*expected), "{bytes:02x?}");
        }
    }

    #[test]
    fn hostile_widths_are_bounded_by_the_message() {
        // A 15-byte address and size claimed in an 3-byte message.
        assert_eq!(
            parse(&[0x23, 0xFF, 0x00]),
            Err(UdsError::InvalidLength {
                sid: Sid(0x23),
                direction: Direction::Request,
                len: 3,
                expected: ExpectedLen::AtLeast(17),
            })
        );
        // Widths over 8 bytes decode, but their values do not fit 64 bits.
        let mut wide = vec![0x23, 0xF9];
        wide.extend_from_slice(&[0x01; 9]);
        wide.extend_from_slice(&[0x00; 14]);
        wide.push(0x05);
        let Ok(Uds::Request(Request {
            service: RequestService::ReadMemoryByAddress { memory },
            ..
        })) = parse(&wide)
        else {
            panic!("{wide:02x?}");
        };
        assert_eq!(memory.address_value(), None);
        assert_eq!(memory.size_value(), Some(5));
        assert_eq!(be_uint(&[]), Some(0));
        assert_eq!(
            be_uint(&[0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            Some(u64::MAX)
        );
        assert_eq!(be_uint(&[1, 0, 0, 0, 0, 0, 0, 0, 0]), None);
    }

    #[test]
    fn sid_is_the_requests_and_names_are_the_standards() {
        for (bytes, sid) in [
            (&[0x27, 0x01][..], 0x27),
            (&[0x67, 0x01, 0x00][..], 0x27),
            (&[0x7F, 0x27, 0x36][..], 0x27),
            (&[0xC5, 0x01][..], 0x85),
        ] {
            assert_eq!(parse(bytes).unwrap().sid(), Sid(sid));
        }
        assert_eq!(Sid(0x31).to_string(), "RoutineControl (0x31)");
        assert_eq!(Sid(0xA0).to_string(), "SID 0xa0");
        assert_eq!(
            Nrc(0x78).name(),
            Some("requestCorrectlyReceivedResponsePending")
        );
        assert_eq!(Nrc(0x35).to_string(), "invalidKey (0x35)");
        assert_eq!(Nrc(0x00).name(), None);
        assert_eq!(SessionType(0x02).name(), Some("programmingSession"));
        let dids = Dids(&[0xF1, 0x90, 0x01, 0x02]);
        assert_eq!(dids.iter().collect::<Vec<_>>(), vec![0xF190, 0x0102]);
        assert_eq!(format!("{dids:?}"), "[\"0xf190\", \"0x0102\"]");
        // Every SID with a name is a request SID (bit 6 clear).
        for b in 0..=u8::MAX {
            if Sid(b).name().is_some() {
                assert_eq!(b & RESPONSE_BIT, 0);
            }
        }
        assert_eq!(
            parse(&[0x10]).unwrap_err().to_string(),
            "UDS DiagnosticSessionControl (0x10) request is 1 bytes long, expected at least 2"
        );
    }

    #[test]
    fn suppress_bit_only_on_sub_function_services() {
        assert!(matches!(
            parse(&[0x31, 0x81, 0x02, 0x03]),
            Ok(Uds::Request(Request {
                suppress_positive_response: true,
                service: RequestService::RoutineControl {
                    control_type: 1,
                    ..
                },
                ..
            }))
        ));
        // 0x22's second byte is a DID's high byte, not a sub-function.
        assert!(matches!(
            parse(&[0x22, 0x80, 0x00]),
            Ok(Uds::Request(Request {
                suppress_positive_response: false,
                ..
            }))
        ));
    }

    #[test]
    fn fuzz_never_panics() {
        let seeds: Vec<&[u8]> = valid().into_iter().map(|(bytes, _)| bytes).collect();
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut next = move || rng.next();
        for _ in 0..100_000 {
            let r = next();
            let mut buf = seeds[(r % seeds.len() as u64) as usize].to_vec();
            for _ in 0..(r >> 8) % 4 {
                let r = next();
                if !buf.is_empty() {
                    let i = (r % buf.len() as u64) as usize;
                    buf[i] = (r >> 16) as u8;
                }
            }
            match (r >> 41) % 4 {
                0 => buf.truncate(((r >> 43) % (buf.len() as u64 + 1)) as usize),
                1 => buf.extend((0..(r >> 43) % 20).map(|i| (r >> i) as u8)),
                _ => {}
            }
            match parse(&buf) {
                Ok(Uds::NegativeResponse(n)) => assert_eq!(n.sid.0, buf[1]),
                // Requests and positive responses name the service of their first byte.
                Ok(uds) => assert_eq!(uds.sid().0 | RESPONSE_BIT, buf[0] | RESPONSE_BIT),
                Err(_) => {}
            }
        }
    }
}
