//! DNS message parser (RFC 1035 section 4): header, questions and answers of one message, pure
//! over `&[u8]`, following compression pointers under hard bounds.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::net::IpAddr;

use thiserror::Error;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 12;
/// RFC 1035 3.1: a name takes at most 255 octets on the wire, length octets included.
pub const MAX_NAME_LEN: usize = 255;
/// Compression pointers followed for one name. Each must point before the labels it continues,
/// so a name cannot loop; this bound stops chains of pointer-to-pointer hops, which add no
/// length to the name, from costing time quadratic in the message length.
pub const MAX_POINTERS: usize = 128;
/// Most questions, and most answers, that one message may declare (more is `TooManyRecords`).
/// Real answers hold a few dozen records at most; the bound keeps a message of 2-byte pointers
/// to 255-byte names from growing into megabytes of strings.
pub const MAX_RECORDS: u16 = 256;

pub const TYPE_A: u16 = 1;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_AAAA: u16 = 28;

/// One decoded DNS message.
///
/// Names are lowercased dotted text without the trailing dot (the root is `""`). Bytes outside
/// printable ASCII are written `\DDD`, and a dot or backslash inside a label is escaped
/// (RFC 1035 5.1), so that a label holding a dot cannot pass for two labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dns<'a> {
    pub id: u16,
    /// QR: a response rather than a query.
    pub is_response: bool,
    /// OPCODE: 0 query, 4 notify, 5 update.
    pub opcode: u8,
    pub authoritative: bool,
    /// TC: the message was cut to fit a datagram; the client retries over TCP.
    pub truncated: bool,
    pub recursion_desired: bool,
    pub recursion_available: bool,
    /// RCODE of the header (0 no error, 2 server failure, 3 no such name), without the EDNS
    /// extension bits.
    pub rcode: u8,
    pub questions: Vec<Question>,
    pub answers: Vec<Answer<'a>>,
    /// Declared count of the authority section, which is not decoded.
    pub authority_count: u16,
    /// Declared count of the additional section (EDNS's OPT lives there), which is not decoded.
    pub additional_count: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer<'a> {
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub data: RData<'a>,
}

/// Record data: decoded for the types that indicators match on, borrowed otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData<'a> {
    /// An A or AAAA record's address.
    Addr(IpAddr),
    /// A CNAME record's target name.
    Cname(String),
    /// Any other type's data as it is on the wire.
    Other(&'a [u8]),
}

/// What is wrong with a message; offsets count from the start of the message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DnsError {
    #[error("message of {len} bytes is shorter than the 12-byte header")]
    ShortHeader { len: usize },
    #[error("{what} at offset {offset} runs past the end of the message")]
    Truncated { what: &'static str, offset: usize },
    #[error("{section} count {count} is above the {MAX_RECORDS} records decoded")]
    TooManyRecords { section: &'static str, count: u16 },
    /// A length byte of the reserved forms `01xxxxxx` and `10xxxxxx`, that is a length above 63.
    #[error("label length byte {byte:#04x} at offset {offset}: a label holds at most 63 bytes")]
    LabelTooLong { offset: usize, byte: u8 },
    #[error("name starting at offset {offset} is longer than 255 bytes")]
    NameTooLong { offset: usize },
    /// A compression pointer that does not point before the labels it continues. RFC 1035
    /// 4.1.4 only has pointers to a prior occurrence; every loop needs one that does not.
    #[error("compression pointer at offset {offset} to {target} is not back before its labels")]
    PointerLoop { offset: usize, target: usize },
    #[error(
        "name starting at offset {offset} follows more than {MAX_POINTERS} compression pointers"
    )]
    TooManyPointers { offset: usize },
    #[error(
        "type {rtype} record data of {len} bytes at offset {offset} is not one value of its type"
    )]
    BadRdata {
        rtype: u16,
        offset: usize,
        len: usize,
    },
}

/// Decodes the header, questions and answers of one DNS message (a UDP payload, or a TCP frame
/// without its length prefix). The authority and additional sections are not decoded, so bytes
/// after the answers are not checked.
pub fn parse(msg: &[u8]) -> Result<Dns<'_>, DnsError> {
    let header = msg
        .first_chunk::<HEADER_LEN>()
        .ok_or(DnsError::ShortHeader { len: msg.len() })?;
    let [id_hi, id_lo, flags_hi, flags_lo, qd_hi, qd_lo, an_hi, an_lo, ns_hi, ns_lo, ar_hi, ar_lo] =
        *header;
    let qdcount = u16::from_be_bytes([qd_hi, qd_lo]);
    let ancount = u16::from_be_bytes([an_hi, an_lo]);
    // Refused before anything is read or allocated: a count costs the sender two bytes.
    for (section, count) in [("question", qdcount), ("answer", ancount)] {
        if count > MAX_RECORDS {
            return Err(DnsError::TooManyRecords { section, count });
        }
    }
    let mut reader = Reader {
        msg,
        pos: HEADER_LEN,
    };
    let mut questions = Vec::new();
    for _ in 0..qdcount {
        questions.push(reader.question()?);
    }
    let mut answers = Vec::new();
    for _ in 0..ancount {
        answers.push(reader.answer()?);
    }
    Ok(Dns {
        id: u16::from_be_bytes([id_hi, id_lo]),
        is_response: flags_hi & 0x80 != 0,
        opcode: (flags_hi >> 3) & 0x0f,
        authoritative: flags_hi & 0x04 != 0,
        truncated: flags_hi & 0x02 != 0,
        recursion_desired: flags_hi & 0x01 != 0,
        recursion_available: flags_lo & 0x80 != 0,
        rcode: flags_lo & 0x0f,
        questions,
        answers,
        authority_count: u16::from_be_bytes([ns_hi, ns_lo]),
        additional_count: u16::from_be_bytes([ar_hi, ar_lo]),
    })
}

/// Length of the first DNS-over-TCP frame at the start of `buf` (RFC 1035 4.2.2: a 2-byte
/// length, then the message), prefix included. `None` until the whole frame is in `buf`; then
/// the message is `buf[2..n]` and the next frame starts at `n`. A frame too short to hold a
/// header is an error, after which the stream cannot be followed.
pub fn tcp_frame_len(buf: &[u8]) -> Option<Result<usize, DnsError>> {
    let (prefix, rest) = buf.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*prefix));
    if len < HEADER_LEN {
        return Some(Err(DnsError::ShortHeader { len }));
    }
    (rest.len() >= len).then(|| Ok(len.saturating_add(2)))
}

/// A position in the message; names need the whole message to follow their pointers.
struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], DnsError> {
        let bytes = self
            .pos
            .checked_add(len)
            .and_then(|end| self.msg.get(self.pos..end))
            .ok_or(DnsError::Truncated {
                what,
                offset: self.pos,
            })?;
        self.pos = self.pos.saturating_add(len);
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DnsError> {
        let (bytes, _) = self
            .msg
            .get(self.pos..)
            .and_then(<[u8]>::split_first_chunk::<N>)
            .ok_or(DnsError::Truncated {
                what,
                offset: self.pos,
            })?;
        self.pos = self.pos.saturating_add(N);
        Ok(*bytes)
    }

    fn name(&mut self) -> Result<String, DnsError> {
        let (name, end) = read_name(self.msg, self.pos)?;
        self.pos = end;
        Ok(name)
    }

    fn question(&mut self) -> Result<Question, DnsError> {
        let name = self.name()?;
        let [t_hi, t_lo, c_hi, c_lo] = self.array("question type and class")?;
        Ok(Question {
            name,
            qtype: u16::from_be_bytes([t_hi, t_lo]),
            qclass: u16::from_be_bytes([c_hi, c_lo]),
        })
    }

    fn answer(&mut self) -> Result<Answer<'a>, DnsError> {
        let name = self.name()?;
        let [t_hi, t_lo, c_hi, c_lo, ttl0, ttl1, ttl2, ttl3, len_hi, len_lo] =
            self.array("record type, class, TTL and length")?;
        let rtype = u16::from_be_bytes([t_hi, t_lo]);
        let offset = self.pos;
        let rdata = self.take(
            usize::from(u16::from_be_bytes([len_hi, len_lo])),
            "record data",
        )?;
        Ok(Answer {
            name,
            rtype,
            class: u16::from_be_bytes([c_hi, c_lo]),
            ttl: u32::from_be_bytes([ttl0, ttl1, ttl2, ttl3]),
            data: rdata_value(self.msg, rtype, offset, rdata)?,
        })
    }
}

fn rdata_value<'a>(
    msg: &'a [u8],
    rtype: u16,
    offset: usize,
    rdata: &'a [u8],
) -> Result<RData<'a>, DnsError> {
    let bad = DnsError::BadRdata {
        rtype,
        offset,
        len: rdata.len(),
    };
    match rtype {
        TYPE_A => <[u8; 4]>::try_from(rdata)
            .map(|octets| RData::Addr(IpAddr::from(octets)))
            .map_err(|_| bad),
        TYPE_AAAA => <[u8; 16]>::try_from(rdata)
            .map(|octets| RData::Addr(IpAddr::from(octets)))
            .map_err(|_| bad),
        TYPE_CNAME => {
            // The target may point anywhere before it, but must end where the data ends.
            let (target, end) = read_name(msg, offset)?;
            if end == offset.saturating_add(rdata.len()) {
                Ok(RData::Cname(target))
            } else {
                Err(bad)
            }
        }
        _ => Ok(RData::Other(rdata)),
    }
}

/// Reads the name at `start`; returns it and the offset where what follows the name starts
/// (just after its first pointer, if it has one).
fn read_name(msg: &[u8], start: usize) -> Result<(String, usize), DnsError> {
    let mut name = String::new();
    let mut pos = start;
    // A pointer must point before the run of labels it continues: the runs' starts strictly
    // decrease, so following pointers always ends.
    let mut run_start = start;
    let mut end = None;
    // The root label's zero octet.
    let mut wire_len = 1usize;
    let mut pointers = 0usize;
    loop {
        let byte = *msg.get(pos).ok_or(DnsError::Truncated {
            what: "name",
            offset: pos,
        })?;
        let after = pos.saturating_add(1);
        match byte & 0xc0 {
            0x00 if byte == 0 => return Ok((name, end.unwrap_or(after))),
            0x00 => {
                let len = usize::from(byte);
                wire_len = wire_len.saturating_add(len).saturating_add(1);
                if wire_len > MAX_NAME_LEN {
                    return Err(DnsError::NameTooLong { offset: start });
                }
                let label_end = after.saturating_add(len);
                let label = msg.get(after..label_end).ok_or(DnsError::Truncated {
                    what: "label",
                    offset: pos,
                })?;
                if !name.is_empty() {
                    name.push('.');
                }
                push_label(&mut name, label);
                pos = label_end;
            }
            0xc0 => {
                let low = *msg.get(after).ok_or(DnsError::Truncated {
                    what: "compression pointer",
                    offset: pos,
                })?;
                let target = usize::from(u16::from_be_bytes([byte & 0x3f, low]));
                if target >= run_start {
                    return Err(DnsError::PointerLoop {
                        offset: pos,
                        target,
                    });
                }
                pointers = pointers.saturating_add(1);
                if pointers > MAX_POINTERS {
                    return Err(DnsError::TooManyPointers { offset: start });
                }
                if end.is_none() {
                    end = Some(pos.saturating_add(2));
                }
                pos = target;
                run_start = target;
            }
            _ => return Err(DnsError::LabelTooLong { offset: pos, byte }),
        }
    }
}

/// Appends one label in presentation form, lowercased.
fn push_label(name: &mut String, label: &[u8]) {
    for &byte in label {
        match byte {
            b'.' | b'\\' => {
                name.push('\\');
                name.push(char::from(byte));
            }
            b'!'..=b'~' => name.push(char::from(byte.to_ascii_lowercase())),
            _ => {
                name.push('\\');
                for digit in [byte / 100, byte / 10 % 10, byte % 10] {
                    name.push(char::from(b'0'.saturating_add(digit)));
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    reason = "tests build inputs with known offsets and fail loudly"
)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::testing::XorShift;

    // Real traffic: queries sent by `dig` (BIND 9.18, with its EDNS cookie) to a test resolver
    // on 127.0.0.1, and the answers that resolver gave, which dig accepted.

    /// `dig c2.evil.example A`.
    const C2_A_QUERY: &[u8] = &[
        0x14, 0xe7, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x63, 0x32,
        0x04, 0x65, 0x76, 0x69, 0x6c, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00,
        0x0a, 0x00, 0x08, 0xae, 0x33, 0x07, 0x3e, 0xe8, 0x1f, 0x8f, 0xd5,
    ];
    /// c2.evil.example A 203.0.113.66, the owner name a pointer to the question.
    const C2_A_RESPONSE: &[u8] = &[
        0x14, 0xe7, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x02, 0x63, 0x32,
        0x04, 0x65, 0x76, 0x69, 0x6c, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x00, 0x00,
        0x01, 0x00, 0x01, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x04,
        0xcb, 0x00, 0x71, 0x42,
    ];
    /// maps.vendor.example CNAME maps-cdn.vendor.example (its suffix a pointer into the
    /// question), and maps-cdn.vendor.example A 198.51.100.20 (the owner a pointer to the CNAME
    /// data, which itself ends in a pointer).
    const MAPS_A_RESPONSE: &[u8] = &[
        0x94, 0xc3, 0x81, 0x80, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x04, 0x6d, 0x61,
        0x70, 0x73, 0x06, 0x76, 0x65, 0x6e, 0x64, 0x6f, 0x72, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70,
        0x6c, 0x65, 0x00, 0x00, 0x01, 0x00, 0x01, 0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x3c, 0x00, 0x0b, 0x08, 0x6d, 0x61, 0x70, 0x73, 0x2d, 0x63, 0x64, 0x6e, 0xc0, 0x11,
        0xc0, 0x31, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 0xc6, 0x33, 0x64,
        0x14,
    ];
    /// `dig MAPS.vendor.example AAAA`: upper case on the wire.
    const MAPS_AAAA_QUERY: &[u8] = &[
        0x48, 0xfd, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x04, 0x4d, 0x41,
        0x50, 0x53, 0x06, 0x76, 0x65, 0x6e, 0x64, 0x6f, 0x72, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70,
        0x6c, 0x65, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x08, 0x10, 0xe2, 0x66, 0x81, 0x39, 0xcf, 0x31, 0x80,
    ];
    const MAPS_AAAA_RESPONSE: &[u8] = &[
        0x48, 0xfd, 0x81, 0x80, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x04, 0x4d, 0x41,
        0x50, 0x53, 0x06, 0x76, 0x65, 0x6e, 0x64, 0x6f, 0x72, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70,
        0x6c, 0x65, 0x00, 0x00, 0x1c, 0x00, 0x01, 0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x3c, 0x00, 0x0b, 0x08, 0x6d, 0x61, 0x70, 0x73, 0x2d, 0x63, 0x64, 0x6e, 0xc0, 0x11,
        0xc0, 0x31, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x10, 0x20, 0x01, 0x0d,
        0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20,
    ];
    /// `dig +tcp c2.evil.example A`: the client's and the server's stream, one frame each.
    const C2_TCP_QUERY: &[u8] = &[
        0x00, 0x38, 0x6b, 0x9d, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02,
        0x63, 0x32, 0x04, 0x65, 0x76, 0x69, 0x6c, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65,
        0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x0c, 0x00, 0x0a, 0x00, 0x08, 0xd6, 0x57, 0x07, 0x65, 0x5f, 0x17, 0x79, 0x1b,
    ];
    const C2_TCP_RESPONSE: &[u8] = &[
        0x00, 0x31, 0x6b, 0x9d, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x02,
        0x63, 0x32, 0x04, 0x65, 0x76, 0x69, 0x6c, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65,
        0x00, 0x00, 0x01, 0x00, 0x01, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c,
        0x00, 0x04, 0xcb, 0x00, 0x71, 0x42,
    ];

    /// The real messages, each with where its decoded part (header, questions, answers) ends.
    const REAL: &[(&str, &[u8], usize)] = &[
        ("c2 A query", C2_A_QUERY, 33),
        ("c2 A response", C2_A_RESPONSE, 49),
        ("maps A response", MAPS_A_RESPONSE, 76),
        ("maps AAAA query", MAPS_AAAA_QUERY, 37),
        ("maps AAAA response", MAPS_AAAA_RESPONSE, 88),
    ];

    fn question(name: &str, qtype: u16) -> Question {
        Question {
            name: name.to_owned(),
            qtype,
            qclass: 1,
        }
    }

    fn answer<'a>(name: &str, rtype: u16, ttl: u32, data: RData<'a>) -> Answer<'a> {
        Answer {
            name: name.to_owned(),
            rtype,
            class: 1,
            ttl,
            data,
        }
    }

    /// A message with the given counts and body after the header (id 0x1234, a plain query).
    fn message(qdcount: u16, ancount: u16, body: &[u8]) -> Vec<u8> {
        let mut msg = vec![0x12, 0x34, 0x01, 0x00];
        for count in [qdcount, ancount, 0, 0] {
            msg.extend_from_slice(&count.to_be_bytes());
        }
        msg.extend_from_slice(body);
        msg
    }

    /// Wire form of a name written label by label, without compression.
    fn wire_name(labels: &[&[u8]]) -> Vec<u8> {
        let mut wire = Vec::new();
        for label in labels {
            wire.push(u8::try_from(label.len()).unwrap());
            wire.extend_from_slice(label);
        }
        wire.push(0);
        wire
    }

    /// Type, class IN, TTL 60 and length of a record whose data follows.
    fn record_header(rtype: u16, rdlength: u16) -> Vec<u8> {
        let mut header = rtype.to_be_bytes().to_vec();
        header.extend_from_slice(&[0x00, 0x01, 0x00, 0x00, 0x00, 0x3c]);
        header.extend_from_slice(&rdlength.to_be_bytes());
        header
    }

    #[test]
    fn real_query_for_a_cc_domain() {
        let dns = parse(C2_A_QUERY).unwrap();
        assert_eq!(
            dns,
            Dns {
                id: 0x14e7,
                is_response: false,
                opcode: 0,
                authoritative: false,
                truncated: false,
                recursion_desired: true,
                recursion_available: false,
                rcode: 0,
                questions: vec![question("c2.evil.example", TYPE_A)],
                answers: vec![],
                authority_count: 0,
                additional_count: 1,
            }
        );
    }

    #[test]
    fn real_answer_with_the_cc_address() {
        let dns = parse(C2_A_RESPONSE).unwrap();
        assert!(dns.is_response && dns.recursion_available);
        assert_eq!(dns.rcode, 0);
        assert_eq!(dns.questions, [question("c2.evil.example", TYPE_A)]);
        let addr = RData::Addr(Ipv4Addr::new(203, 0, 113, 66).into());
        assert_eq!(dns.answers, [answer("c2.evil.example", TYPE_A, 300, addr)]);
    }

    #[test]
    fn real_cname_chain_through_compression_pointers() {
        let dns = parse(MAPS_A_RESPONSE).unwrap();
        let cname = RData::Cname("maps-cdn.vendor.example".to_owned());
        let addr = RData::Addr(Ipv4Addr::new(198, 51, 100, 20).into());
        assert_eq!(
            dns.answers,
            [
                answer("maps.vendor.example", TYPE_CNAME, 60, cname),
                answer("maps-cdn.vendor.example", TYPE_A, 60, addr),
            ]
        );
    }

    #[test]
    fn real_aaaa_exchange_is_lowercased() {
        let query = parse(MAPS_AAAA_QUERY).unwrap();
        assert_eq!(
            query.questions,
            [question("maps.vendor.example", TYPE_AAAA)]
        );
        let response = parse(MAPS_AAAA_RESPONSE).unwrap();
        assert_eq!(response.id, query.id);
        let addr = RData::Addr(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x20).into());
        assert_eq!(
            response.answers[1],
            answer("maps-cdn.vendor.example", TYPE_AAAA, 60, addr)
        );
    }

    #[test]
    fn tcp_stream_splits_into_frames() {
        for (stream, id, answers) in [(C2_TCP_QUERY, 0x6b9d, 0), (C2_TCP_RESPONSE, 0x6b9d, 1)] {
            // Two frames back to back, as a pipelining client sends them.
            let doubled = [stream, stream].concat();
            let mut rest = &doubled[..];
            for _ in 0..2 {
                let n = tcp_frame_len(rest).unwrap().unwrap();
                assert_eq!(n, stream.len());
                let dns = parse(&rest[2..n]).unwrap();
                assert_eq!((dns.id, dns.answers.len()), (id, answers));
                rest = &rest[n..];
            }
            assert_eq!(tcp_frame_len(rest), None);
            // Until the whole frame is there, there is nothing to parse.
            for cut in 0..stream.len() {
                assert_eq!(tcp_frame_len(&stream[..cut]), None, "cut at {cut}");
            }
        }
    }

    #[test]
    fn tcp_frame_too_short_for_a_header() {
        assert_eq!(
            tcp_frame_len(&[0, 0]),
            Some(Err(DnsError::ShortHeader { len: 0 }))
        );
        assert_eq!(
            tcp_frame_len(&[0, 11]),
            Some(Err(DnsError::ShortHeader { len: 11 }))
        );
        assert_eq!(tcp_frame_len(&[0, 12]), None);
        assert_eq!(
            tcp_frame_len(&[0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Some(Ok(14))
        );
    }

    #[test]
    fn header_flags_and_codes() {
        // An authoritative NXDOMAIN for a truncated update (opcode 5).
        let mut msg = message(0, 0, &[]);
        msg[2] = 0x80 | (5 << 3) | 0x04 | 0x02;
        msg[3] = 0x03;
        let dns = parse(&msg).unwrap();
        assert!(dns.is_response && dns.authoritative && dns.truncated);
        assert!(!dns.recursion_desired && !dns.recursion_available);
        assert_eq!((dns.opcode, dns.rcode), (5, 3));
    }

    #[test]
    fn label_bytes_are_escaped_so_names_cannot_be_spoofed() {
        // One label "c2.evil" is not the two labels "c2" and "evil".
        let mut body = wire_name(&[b"C2.evil", b"Ex\\a mple", b"\x00\xff"]);
        body.extend_from_slice(&[0x00, 0x01, 0x00, 0x01]);
        let msg = message(1, 0, &body);
        let dns = parse(&msg).unwrap();
        assert_eq!(dns.questions[0].name, r"c2\.evil.ex\\a\032mple.\000\255");
    }

    #[test]
    fn root_name_and_other_record_data() {
        // `. NS` priming query answered with a TXT record, kept as borrowed bytes.
        let mut body = vec![0x00, 0x00, 0x02, 0x00, 0x01];
        body.push(0x00);
        body.extend_from_slice(&record_header(16, 3));
        body.extend_from_slice(b"\x02hi");
        let msg = message(1, 1, &body);
        let dns = parse(&msg).unwrap();
        assert_eq!(dns.questions, [question("", 2)]);
        assert_eq!(dns.answers, [answer("", 16, 60, RData::Other(b"\x02hi"))]);
    }

    #[test]
    fn longest_legal_name() {
        // 3 × (1 + 63) + (1 + 61) + 1 = 255 bytes on the wire.
        let long = [b'a'; 63];
        let mut body = wire_name(&[&long, &long, &long, &long[..61]]);
        assert_eq!(body.len(), MAX_NAME_LEN);
        body.extend_from_slice(&[0x00, 0x01, 0x00, 0x01]);
        let msg = message(1, 0, &body);
        let dns = parse(&msg).unwrap();
        assert_eq!(dns.questions[0].name.len(), 253);
    }

    #[test]
    fn longest_legal_pointer_chain() {
        let msg = pointer_chain(MAX_POINTERS);
        let dns = parse(&msg).unwrap();
        assert_eq!(dns.answers[1].name, "");
    }

    /// Two answers: the first's data (opaque, type 16) holds a root name and then a chain of
    /// pointers, each to the one before; the second's owner name points to the chain's end, so
    /// reading it follows `pointers` pointers in all.
    fn pointer_chain(pointers: usize) -> Vec<u8> {
        let data_at = HEADER_LEN + 1 + 10;
        let mut data = vec![0x00];
        let mut last = data_at;
        for _ in 1..pointers {
            let here = data_at + data.len();
            data.extend_from_slice(&(0xc000 | u16::try_from(last).unwrap()).to_be_bytes());
            last = here;
        }
        let mut body = vec![0x00];
        body.extend_from_slice(&record_header(16, u16::try_from(data.len()).unwrap()));
        body.extend_from_slice(&data);
        body.extend_from_slice(&(0xc000 | u16::try_from(last).unwrap()).to_be_bytes());
        body.extend_from_slice(&record_header(16, 0));
        message(0, 2, &body)
    }

    /// Questions whose names share suffixes through pointers, the last reaching 257 bytes.
    fn name_grown_by_pointers() -> Vec<u8> {
        let label = [b'x'; 63];
        let mut body = Vec::new();
        let mut previous: Option<u16> = None;
        for _ in 0..4 {
            let start = u16::try_from(HEADER_LEN + body.len()).unwrap();
            body.push(63);
            body.extend_from_slice(&label);
            match previous {
                None => body.push(0),
                Some(at) => body.extend_from_slice(&(0xc000_u16 | at).to_be_bytes()),
            }
            body.extend_from_slice(&[0x00, 0x01, 0x00, 0x01]);
            previous = Some(start);
        }
        message(4, 0, &body)
    }

    #[test]
    fn hostile_messages_are_errors() {
        use DnsError::*;
        let qfields = [0x00, 0x01, 0x00, 0x01];
        let with_fields = |name: &[u8]| [name, &qfields].concat();
        let long = [b'a'; 63];
        let labels_300: Vec<&[u8]> = vec![&long[..59]; 5];
        let labels_256: [&[u8]; 4] = [&long, &long, &long, &long[..62]];
        // `a` then a pointer back to the name's own start: a.a.a.a... forever.
        let loop_via_label = with_fields(b"\x01a\xc0\x0c");
        // Opaque record data holding two pointers to each other; the owner name of the second
        // record enters the pair through the later one.
        let mut pair = vec![0x00];
        pair.extend_from_slice(&record_header(16, 4));
        pair.extend_from_slice(&[0xc0, 25, 0xc0, 23]);
        pair.extend_from_slice(&[0xc0, 25]);
        pair.extend_from_slice(&record_header(16, 0));
        let mut a_too_long = vec![0x00];
        a_too_long.extend_from_slice(&record_header(TYPE_A, 5));
        a_too_long.extend_from_slice(&[203, 0, 113, 66, 0]);
        let mut aaaa_too_short = vec![0x00];
        aaaa_too_short.extend_from_slice(&record_header(TYPE_AAAA, 4));
        aaaa_too_short.extend_from_slice(&[203, 0, 113, 66]);
        // CNAME data of 5 bytes holding a 3-byte name.
        let mut cname_short = vec![0x00];
        cname_short.extend_from_slice(&record_header(TYPE_CNAME, 5));
        cname_short.extend_from_slice(b"\x01a\x00zz");
        let mut rdata_past_end = vec![0x00];
        rdata_past_end.extend_from_slice(&record_header(16, 100));
        rdata_past_end.extend_from_slice(b"short");

        let cases: Vec<(&str, Vec<u8>, DnsError)> = vec![
            ("empty", vec![], ShortHeader { len: 0 }),
            ("11 bytes", vec![0; 11], ShortHeader { len: 11 }),
            (
                "qdcount 65535, no data",
                message(65535, 0, &[]),
                TooManyRecords {
                    section: "question",
                    count: 65535,
                },
            ),
            (
                "ancount 65535, no data",
                message(0, 65535, &[]),
                TooManyRecords {
                    section: "answer",
                    count: 65535,
                },
            ),
            (
                "qdcount 256, no data",
                message(256, 0, &[]),
                Truncated {
                    what: "name",
                    offset: 12,
                },
            ),
            (
                "pointer to itself",
                message(1, 0, &with_fields(b"\xc0\x0c")),
                PointerLoop {
                    offset: 12,
                    target: 12,
                },
            ),
            (
                "forward pointer",
                message(1, 0, &with_fields(b"\xc0\x20")),
                PointerLoop {
                    offset: 12,
                    target: 32,
                },
            ),
            (
                "label then pointer to its own name",
                message(1, 0, &loop_via_label),
                PointerLoop {
                    offset: 14,
                    target: 12,
                },
            ),
            (
                "two pointers to each other",
                message(0, 2, &pair),
                PointerLoop {
                    offset: 23,
                    target: 25,
                },
            ),
            (
                "129 chained pointers",
                pointer_chain(MAX_POINTERS + 1),
                TooManyPointers {
                    offset: 12 + 1 + 10 + 1 + 2 * MAX_POINTERS,
                },
            ),
            (
                "300-byte name",
                message(1, 0, &with_fields(&wire_name(&labels_300))),
                NameTooLong { offset: 12 },
            ),
            (
                "256-byte name",
                message(1, 0, &with_fields(&wire_name(&labels_256))),
                NameTooLong { offset: 12 },
            ),
            (
                "name grown past 255 bytes by pointers",
                name_grown_by_pointers(),
                NameTooLong {
                    offset: 12 + 69 + 70 + 70,
                },
            ),
            (
                "label length 64",
                message(1, 0, &with_fields(&[&[64], &[b'a'; 64][..], &[0]].concat())),
                LabelTooLong {
                    offset: 12,
                    byte: 0x40,
                },
            ),
            (
                "extended label type 10",
                message(1, 0, &with_fields(b"\x02ab\x80\x00")),
                LabelTooLong {
                    offset: 15,
                    byte: 0x80,
                },
            ),
            (
                "label past the end",
                message(1, 0, b"\x05ab"),
                Truncated {
                    what: "label",
                    offset: 12,
                },
            ),
            (
                "name without its end",
                message(1, 0, b"\x02ab"),
                Truncated {
                    what: "name",
                    offset: 15,
                },
            ),
            (
                "pointer cut in half",
                message(1, 0, b"\x01a\xc0"),
                Truncated {
                    what: "compression pointer",
                    offset: 14,
                },
            ),
            (
                "question without class",
                message(1, 0, b"\x00\x00\x01"),
                Truncated {
                    what: "question type and class",
                    offset: 13,
                },
            ),
            (
                "record header cut",
                message(0, 1, b"\x00\x00\x01\x00\x01\x00"),
                Truncated {
                    what: "record type, class, TTL and length",
                    offset: 13,
                },
            ),
            (
                "record length past the end",
                message(0, 1, &rdata_past_end),
                Truncated {
                    what: "record data",
                    offset: 23,
                },
            ),
            (
                "A record of 5 bytes",
                message(0, 1, &a_too_long),
                BadRdata {
                    rtype: TYPE_A,
                    offset: 23,
                    len: 5,
                },
            ),
            (
                "AAAA record of 4 bytes",
                message(0, 1, &aaaa_too_short),
                BadRdata {
                    rtype: TYPE_AAAA,
                    offset: 23,
                    len: 4,
                },
            ),
            (
                "CNAME shorter than its data",
                message(0, 1, &cname_short),
                BadRdata {
                    rtype: TYPE_CNAME,
                    offset: 23,
                    len: 5,
                },
            ),
        ];
        for (what, msg, expected) in cases {
            assert_eq!(parse(&msg), Err(expected), "{what}");
        }
    }

    #[test]
    fn every_prefix_of_a_real_message() {
        for &(what, msg, end) in REAL {
            let full = parse(msg).unwrap();
            for cut in 0..msg.len() {
                match parse(&msg[..cut]) {
                    // Only the undecoded sections can be cut off without an error.
                    Ok(dns) => assert!(cut >= end && dns == full, "{what} cut at {cut}"),
                    Err(_) => assert!(cut < end, "{what} cut at {cut}"),
                }
            }
        }
    }

    #[test]
    fn fuzz_never_panics_and_stays_bounded() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let seeds: Vec<&[u8]> = REAL.iter().map(|&(_, msg, _)| msg).collect();
        for _ in 0..100_000 {
            let roll = rng.next();
            let mut msg = seeds[(roll % seeds.len() as u64) as usize].to_vec();
            // Flip up to 8 bytes, biased to values that matter to names and counts.
            for _ in 0..(roll >> 8) % 8 {
                let r = rng.next();
                let at = (r % msg.len() as u64) as usize;
                msg[at] = match (r >> 32) % 4 {
                    0 => 0xc0,
                    1 => (r >> 40) as u8 & 0x3f,
                    2 => 0xff,
                    _ => (r >> 40) as u8,
                };
            }
            match (roll >> 16) % 4 {
                0 => msg.truncate((rng.next() % (msg.len() as u64 + 1)) as usize),
                1 => msg.extend((0..rng.next() % 64).map(|_| rng.next() as u8)),
                _ => {}
            }
            if let Ok(dns) = parse(&msg) {
                assert!(dns.questions.len() <= usize::from(MAX_RECORDS));
                assert!(dns.answers.len() <= usize::from(MAX_RECORDS));
                for name in dns
                    .questions
                    .iter()
                    .map(|q| &q.name)
                    .chain(dns.answers.iter().map(|a| &a.name))
                {
                    assert!(name.len() <= 4 * MAX_NAME_LEN, "{name}");
                }
            }
            let _ = tcp_frame_len(&msg);
        }
    }
}
