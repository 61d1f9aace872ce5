//! SOME/IP decoder of the network sensor: frames the messages of a UDP datagram or TCP stream,
//! decodes their headers and SOME/IP-SD, and returns malformed input as error values.

mod parser;
mod sd;

pub use parser::{
    frame_len, frame_len_with_max, messages, messages_with_max, Anomaly, Message, MessageType,
    Messages, SomeipError, TpSegment, HEADER_LEN, MAX_MESSAGE_LEN,
};
pub use sd::{sd, Endpoint, Entry, EntryKind, L4Proto, Sd, SdOption};
