//! TLS ClientHello parser (RFC 8446 4.1.2, RFC 6066 3, RFC 7301): the server names, ALPN
//! protocols and version offer from the first bytes of a client's TCP stream, pure over `&[u8]`,
//! borrowing from the input unless the ClientHello spans records.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::borrow::Cow;

use thiserror::Error;

const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const RECORD_HEADER_LEN: usize = 5;
const HANDSHAKE_HEADER_LEN: usize = 4;
/// RFC 8446 5.1: a plaintext record carries at most 2^14 bytes.
pub const MAX_RECORD_LEN: usize = 1 << 14;
/// Largest ClientHello body reassembled from several records. Real ones stay under 2 KiB, even
/// with post-quantum key shares; the bound caps what a stream can make the parser allocate.
pub const MAX_CLIENT_HELLO_LEN: usize = 1 << 16;
const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
const EXT_SUPPORTED_VERSIONS: u16 = 43;
const NAME_TYPE_HOST_NAME: u8 = 0;
const TLS13: u16 = 0x0304;

/// What a ClientHello tells about the connection it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello<'a> {
    /// Version field of the first record header (0x0301 for most clients, for compatibility).
    pub record_version: u16,
    /// `legacy_version` of the ClientHello (0x0303 for TLS 1.2 and 1.3 clients).
    pub legacy_version: u16,
    /// Host names of the server_name extension: lowercased, without a trailing dot, bytes
    /// outside printable ASCII written `\DDD` and a backslash doubled (RFC 1035 5.1). More than
    /// one breaks RFC 6066, and all are kept for the detectors to see.
    pub server_names: Vec<String>,
    /// Protocols offered in the ALPN extension, in the client's order (`h2`, `http/1.1`, ...).
    pub alpn: Vec<Cow<'a, [u8]>>,
    /// The supported_versions extension offers TLS 1.3.
    pub tls13: bool,
}

/// Why no ClientHello came out. Offsets in `Overrun` and `Invalid` count from the start of the
/// ClientHello body (after the 4-byte handshake header); the others from the start of the stream.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TlsError {
    /// The data ends inside the ClientHello: call again when the stream holds at least `needed`
    /// bytes.
    #[error("the ClientHello is cut by the end of the data; at least {needed} bytes are needed")]
    NeedMore { needed: usize },
    #[error("record at offset {offset} declares {len} bytes, more than a TLS record may carry")]
    RecordTooLong { offset: usize, len: usize },
    #[error("empty handshake record at offset {offset}")]
    EmptyRecord { offset: usize },
    #[error("record at offset {offset} of content type {content_type} interrupts the ClientHello")]
    InterleavedRecord { offset: usize, content_type: u8 },
    #[error("ClientHello declares {len} bytes, more than the {MAX_CLIENT_HELLO_LEN} reassembled")]
    ClientHelloTooLong { len: usize },
    /// A length field that points past the end of what encloses it.
    #[error("{what} at offset {offset} of the ClientHello runs past its enclosing length")]
    Overrun { what: &'static str, offset: usize },
    #[error("{what} at offset {offset} of the ClientHello")]
    Invalid { what: &'static str, offset: usize },
}

/// Decodes the ClientHello at the start of a client's TCP stream, which may span several
/// records. `Ok(None)` when the stream does not start with one: another handshake message,
/// another record type, or not TLS at all.
pub fn client_hello_sni(stream: &[u8]) -> Result<Option<ClientHello<'_>>, TlsError> {
    match stream {
        [] | [CONTENT_HANDSHAKE] => {
            return Err(TlsError::NeedMore {
                needed: RECORD_HEADER_LEN + 1,
            })
        }
        // Every TLS version's records, SSL 3.0 to TLS 1.3, say major version 3.
        [CONTENT_HANDSHAKE, 3, ..] => {}
        _ => return Ok(None),
    }
    let first = Record::read(stream, 0)?;
    match first.fragment.first() {
        Some(&HANDSHAKE_CLIENT_HELLO) => {}
        Some(_) => return Ok(None),
        None => {
            return Err(TlsError::NeedMore {
                needed: RECORD_HEADER_LEN + 1,
            })
        }
    }
    // A first pass that copies nothing: a cut or malformed stream costs no allocation.
    let len = gather(stream, None)?;
    if let Some(message) = first.fragment.get(HANDSHAKE_HEADER_LEN..len) {
        return parse_body(message, first.version).map(Some);
    }
    let mut message = Vec::with_capacity(len);
    gather(stream, Some(&mut message))?;
    let body = message.get(HANDSHAKE_HEADER_LEN..).unwrap_or_default();
    parse_body(body, first.version).map(|hello| Some(hello.into_owned()))
}

impl ClientHello<'_> {
    fn into_owned(self) -> ClientHello<'static> {
        ClientHello {
            record_version: self.record_version,
            legacy_version: self.legacy_version,
            server_names: self.server_names,
            alpn: self
                .alpn
                .into_iter()
                .map(|protocol| Cow::Owned(protocol.into_owned()))
                .collect(),
            tls13: self.tls13,
        }
    }
}

/// One record's header and the part of its fragment that the stream holds.
struct Record<'a> {
    version: u16,
    fragment: &'a [u8],
    /// Where the next record starts.
    end: usize,
    complete: bool,
}

impl<'a> Record<'a> {
    fn read(stream: &'a [u8], offset: usize) -> Result<Self, TlsError> {
        let (header, rest) = stream
            .get(offset..)
            .and_then(<[u8]>::split_first_chunk::<RECORD_HEADER_LEN>)
            .ok_or(TlsError::NeedMore {
                needed: offset.saturating_add(RECORD_HEADER_LEN + 1),
            })?;
        let [content_type, major, minor, len_hi, len_lo] = *header;
        if content_type != CONTENT_HANDSHAKE {
            return Err(TlsError::InterleavedRecord {
                offset,
                content_type,
            });
        }
        let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
        if len > MAX_RECORD_LEN {
            return Err(TlsError::RecordTooLong { offset, len });
        }
        // RFC 8446 5.1 forbids them, and they would let a stream go on without progress.
        if len == 0 {
            return Err(TlsError::EmptyRecord { offset });
        }
        let fragment = rest.get(..len).unwrap_or(rest);
        Ok(Record {
            version: u16::from_be_bytes([major, minor]),
            fragment,
            end: offset.saturating_add(RECORD_HEADER_LEN).saturating_add(len),
            complete: fragment.len() == len,
        })
    }
}

/// Walks the records from the start of the stream until their fragments hold the whole first
/// handshake message, appending the fragments to `out` if given; returns the message's length,
/// handshake header included.
fn gather(stream: &[u8], mut out: Option<&mut Vec<u8>>) -> Result<usize, TlsError> {
    // The handshake header, which a pathological client may spread over several records.
    let mut header = [0u8; HANDSHAKE_HEADER_LEN];
    let mut have = 0usize;
    let mut offset = 0usize;
    loop {
        let record = Record::read(stream, offset)?;
        let mut fragment = record.fragment;
        loop {
            let want = if have < HANDSHAKE_HEADER_LEN {
                HANDSHAKE_HEADER_LEN
            } else {
                message_len(header)?
            };
            let missing = want.saturating_sub(have);
            if missing == 0 {
                return Ok(want);
            }
            if fragment.is_empty() {
                if record.complete {
                    break;
                }
                return Err(TlsError::NeedMore {
                    needed: stream.len().saturating_add(missing),
                });
            }
            let (taken, rest) = fragment.split_at(missing.min(fragment.len()));
            for (slot, &byte) in header.iter_mut().skip(have).zip(taken) {
                *slot = byte;
            }
            if let Some(out) = out.as_deref_mut() {
                out.extend_from_slice(taken);
            }
            have = have.saturating_add(taken.len());
            fragment = rest;
        }
        offset = record.end;
    }
}

/// Length of a handshake message from its header, header included.
fn message_len(header: [u8; HANDSHAKE_HEADER_LEN]) -> Result<usize, TlsError> {
    let [_, len_hi, len_mid, len_lo] = header;
    let len =
        usize::try_from(u32::from_be_bytes([0, len_hi, len_mid, len_lo])).unwrap_or(usize::MAX);
    if len > MAX_CLIENT_HELLO_LEN {
        return Err(TlsError::ClientHelloTooLong { len });
    }
    Ok(len.saturating_add(HANDSHAKE_HEADER_LEN))
}

fn parse_body(body: &[u8], record_version: u16) -> Result<ClientHello<'_>, TlsError> {
    let mut hello = Reader {
        rest: body,
        offset: 0,
    };
    let legacy_version = hello.u16("legacy_version")?;
    hello.take(32, "random")?;
    let session_id = hello.vec8("legacy_session_id")?;
    if session_id.rest.len() > 32 {
        return Err(session_id.invalid("legacy_session_id longer than 32 bytes"));
    }
    let suites = hello.vec16("cipher_suites")?;
    if suites.rest.is_empty() || suites.rest.len() & 1 != 0 {
        return Err(suites.invalid("cipher_suites not a non-empty list of 2-byte values"));
    }
    let compression = hello.vec8("legacy_compression_methods")?;
    if compression.rest.is_empty() {
        return Err(compression.invalid("empty legacy_compression_methods"));
    }
    let mut parsed = ClientHello {
        record_version,
        legacy_version,
        server_names: Vec::new(),
        alpn: Vec::new(),
        tls13: false,
    };
    // Clients before TLS 1.2 may leave out the extensions block altogether.
    if hello.rest.is_empty() {
        return Ok(parsed);
    }
    let mut extensions = hello.vec16("extensions")?;
    hello.end("bytes after the extensions")?;
    while !extensions.rest.is_empty() {
        let extension_type = extensions.u16("extension type")?;
        let data = extensions.vec16("extension data")?;
        match extension_type {
            EXT_SERVER_NAME => server_names(data, &mut parsed.server_names)?,
            EXT_ALPN => alpn(data, &mut parsed.alpn)?,
            EXT_SUPPORTED_VERSIONS => parsed.tls13 |= offers_tls13(data)?,
            _ => {}
        }
    }
    Ok(parsed)
}

fn server_names(mut data: Reader<'_>, out: &mut Vec<String>) -> Result<(), TlsError> {
    let mut list = data.vec16("server_name_list")?;
    data.end("bytes after server_name_list")?;
    if list.rest.is_empty() {
        return Err(list.invalid("empty server_name_list"));
    }
    while !list.rest.is_empty() {
        let name_type = list.u8("server name type")?;
        let name = list.vec16("server name")?;
        if name_type == NAME_TYPE_HOST_NAME {
            if name.rest.is_empty() {
                return Err(name.invalid("empty host_name"));
            }
            out.push(host_name(name.rest));
        }
    }
    Ok(())
}

fn alpn<'a>(mut data: Reader<'a>, out: &mut Vec<Cow<'a, [u8]>>) -> Result<(), TlsError> {
    let mut list = data.vec16("protocol_name_list")?;
    data.end("bytes after protocol_name_list")?;
    if list.rest.is_empty() {
        return Err(list.invalid("empty protocol_name_list"));
    }
    while !list.rest.is_empty() {
        let protocol = list.vec8("protocol name")?;
        if protocol.rest.is_empty() {
            return Err(protocol.invalid("empty protocol name"));
        }
        out.push(Cow::Borrowed(protocol.rest));
    }
    Ok(())
}

fn offers_tls13(mut data: Reader<'_>) -> Result<bool, TlsError> {
    let mut versions = data.vec8("supported_versions")?;
    data.end("bytes after supported_versions")?;
    if versions.rest.is_empty() || versions.rest.len() & 1 != 0 {
        return Err(versions.invalid("supported_versions not a non-empty list of 2-byte versions"));
    }
    let mut tls13 = false;
    while !versions.rest.is_empty() {
        tls13 |= versions.u16("version")? == TLS13;
    }
    Ok(tls13)
}

/// A host name as indicators are written: lowercased, without the trailing dot RFC 6066 leaves
/// out, and with anything outside printable ASCII visible rather than dropped.
fn host_name(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b".").unwrap_or(bytes);
    let mut name = String::with_capacity(bytes.len());
    for &byte in bytes {
        match byte {
            b'\\' => name.push_str("\\\\"),
            b'!'..=b'~' => name.push(char::from(byte.to_ascii_lowercase())),
            _ => {
                name.push('\\');
                for digit in [byte / 100, byte / 10 % 10, byte % 10] {
                    name.push(char::from(b'0'.saturating_add(digit)));
                }
            }
        }
    }
    name
}

/// The unread part of a length-delimited structure, and its offset in the ClientHello body.
struct Reader<'a> {
    rest: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], TlsError> {
        let (bytes, rest) = self.rest.split_at_checked(len).ok_or(TlsError::Overrun {
            what,
            offset: self.offset,
        })?;
        self.rest = rest;
        self.offset = self.offset.saturating_add(len);
        Ok(bytes)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, TlsError> {
        let [byte] = *self.array::<1>(what)?;
        Ok(byte)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, TlsError> {
        self.array::<2>(what)
            .map(|bytes| u16::from_be_bytes(*bytes))
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<&'a [u8; N], TlsError> {
        let (bytes, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(TlsError::Overrun {
                what,
                offset: self.offset,
            })?;
        self.rest = rest;
        self.offset = self.offset.saturating_add(N);
        Ok(bytes)
    }

    /// A vector with a 1-byte length (RFC 8446 3.4), as a reader of its own.
    fn vec8(&mut self, what: &'static str) -> Result<Reader<'a>, TlsError> {
        let at = self.offset;
        let len = usize::from(self.u8(what)?);
        self.sub(len, what, at)
    }

    /// A vector with a 2-byte length.
    fn vec16(&mut self, what: &'static str) -> Result<Reader<'a>, TlsError> {
        let at = self.offset;
        let len = usize::from(self.u16(what)?);
        self.sub(len, what, at)
    }

    /// The next `len` bytes as a reader; an overrun is blamed on the length field at `at`.
    fn sub(&mut self, len: usize, what: &'static str, at: usize) -> Result<Reader<'a>, TlsError> {
        let offset = self.offset;
        let rest = self
            .take(len, what)
            .map_err(|_| TlsError::Overrun { what, offset: at })?;
        Ok(Reader { rest, offset })
    }

    fn end(&self, what: &'static str) -> Result<(), TlsError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.invalid(what))
        }
    }

    fn invalid(&self, what: &'static str) -> TlsError {
        TlsError::Invalid {
            what,
            offset: self.offset,
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
    use super::*;
    use crate::testing::XorShift;

    /// What `openssl s_client -servername update-cdn.evil.example -alpn h2,http/1.1` (OpenSSL
    /// 3.0.19) sent first, read by a TCP server on 127.0.0.1.
    const CH_TLS13: &[u8] = &[
        0x16, 0x03, 0x01, 0x01, 0x56, 0x01, 0x00, 0x01, 0x52, 0x03, 0x03, 0x48, 0x4f, 0x65, 0x85,
        0xe2, 0xd6, 0x28, 0x67, 0xa0, 0xbf, 0x3b, 0xec, 0x97, 0xbe, 0x7c, 0xf5, 0xaf, 0xee, 0x36,
        0x1b, 0x58, 0x0d, 0x8c, 0x25, 0x4b, 0x44, 0x82, 0x10, 0x64, 0x4c, 0xad, 0xe1, 0x20, 0x89,
        0x5d, 0x18, 0x73, 0x01, 0x3e, 0xad, 0x29, 0xed, 0xc9, 0xd7, 0x80, 0x09, 0xd6, 0xd4, 0xda,
        0x65, 0x75, 0xcc, 0x6d, 0xd1, 0x8e, 0x1c, 0x1b, 0x64, 0x80, 0x44, 0x7c, 0xf9, 0x17, 0xc6,
        0x0d, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f,
        0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0,
        0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
        0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00,
        0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xcb, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x1a,
        0x00, 0x00, 0x17, 0x75, 0x70, 0x64, 0x61, 0x74, 0x65, 0x2d, 0x63, 0x64, 0x6e, 0x2e, 0x65,
        0x76, 0x69, 0x6c, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x00, 0x0b, 0x00, 0x04,
        0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00,
        0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04,
        0x00, 0x23, 0x00, 0x00, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02, 0x68, 0x32, 0x08, 0x68,
        0x74, 0x74, 0x70, 0x2f, 0x31, 0x2e, 0x31, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00,
        0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08,
        0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01,
        0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06,
        0x02, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00,
        0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20,
        0x3e, 0x31, 0xf6, 0x78, 0x25, 0xe0, 0x02, 0x8f, 0x3a, 0x75, 0x28, 0xe9, 0xf5, 0x68, 0xbf,
        0x25, 0xda, 0x48, 0x8c, 0xe2, 0x08, 0x09, 0x6a, 0x47, 0x43, 0xde, 0x72, 0xeb, 0x95, 0x64,
        0x01, 0x76,
    ];
    /// `openssl s_client -servername MAPS.Vendor.Example -tls1_2 -no_ticket`: no ALPN, no
    /// supported_versions, upper case in the name.
    const CH_TLS12: &[u8] = &[
        0x16, 0x03, 0x01, 0x00, 0xcf, 0x01, 0x00, 0x00, 0xcb, 0x03, 0x03, 0x70, 0x95, 0xe5, 0xeb,
        0x0b, 0x04, 0x36, 0x54, 0x4a, 0x75, 0x79, 0xac, 0xaf, 0x83, 0x53, 0x2e, 0xcd, 0x2f, 0x05,
        0xed, 0xfc, 0x52, 0x6d, 0xd5, 0x51, 0xd4, 0x73, 0xfa, 0xe9, 0xdc, 0x90, 0xeb, 0x00, 0x00,
        0x38, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b,
        0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27, 0x00,
        0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
        0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00,
        0x6a, 0x00, 0x00, 0x00, 0x18, 0x00, 0x16, 0x00, 0x00, 0x13, 0x4d, 0x41, 0x50, 0x53, 0x2e,
        0x56, 0x65, 0x6e, 0x64, 0x6f, 0x72, 0x2e, 0x45, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x00,
        0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x1d,
        0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00,
        0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07,
        0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04,
        0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02,
        0x06, 0x02,
    ];
    /// Where the extensions block of `CH_TLS13`'s body starts (its 2-byte length).
    const CH_TLS13_EXTENSIONS_AT: usize = 2 + 32 + 1 + 32 + 2 + 62 + 1 + 1;

    fn len16(len: usize) -> [u8; 2] {
        u16::try_from(len).unwrap().to_be_bytes()
    }

    /// A ClientHello body: TLS 1.2 legacy version, a zero random and the given parts, each
    /// behind its length. With an empty session id and one suite, the extensions' length is at
    /// offset 41, the first extension at 43 and its data at 47.
    fn body(
        session_id: &[u8],
        suites: &[u8],
        compression: &[u8],
        extensions: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[0; 32]);
        body.push(u8::try_from(session_id.len()).unwrap());
        body.extend_from_slice(session_id);
        body.extend_from_slice(&len16(suites.len()));
        body.extend_from_slice(suites);
        body.push(u8::try_from(compression.len()).unwrap());
        body.extend_from_slice(compression);
        if let Some(extensions) = extensions {
            body.extend_from_slice(&len16(extensions.len()));
            body.extend_from_slice(extensions);
        }
        body
    }

    /// A body with an empty session id, TLS_AES_128_GCM_SHA256, null compression and these
    /// extensions.
    fn with_extensions(extensions: &[u8]) -> Vec<u8> {
        body(&[], &[0x13, 0x01], &[0], Some(extensions))
    }

    fn extension(extension_type: u16, data: &[u8]) -> Vec<u8> {
        [&extension_type.to_be_bytes()[..], &len16(data.len()), data].concat()
    }

    fn sni(names: &[&[u8]]) -> Vec<u8> {
        let list: Vec<u8> = names
            .iter()
            .flat_map(|name| [&[NAME_TYPE_HOST_NAME][..], &len16(name.len()), name].concat())
            .collect();
        extension(EXT_SERVER_NAME, &[&len16(list.len())[..], &list].concat())
    }

    /// One record holding a ClientHello with this body.
    fn record(body: &[u8]) -> Vec<u8> {
        let mut stream = vec![CONTENT_HANDSHAKE, 0x03, 0x01];
        stream.extend_from_slice(&len16(body.len() + 4));
        stream.push(HANDSHAKE_CLIENT_HELLO);
        stream.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
        stream.extend_from_slice(body);
        stream
    }

    /// The handshake message of a one-record stream, split over records of `sizes` bytes, the
    /// last record taking what is left.
    fn split(stream: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut message = &stream[5..];
        let mut out = Vec::new();
        for &size in sizes.iter().chain([&usize::MAX]) {
            if message.is_empty() {
                break;
            }
            let (fragment, rest) = message.split_at(size.min(message.len()));
            out.extend_from_slice(&[CONTENT_HANDSHAKE, 0x03, 0x01]);
            out.extend_from_slice(&len16(fragment.len()));
            out.extend_from_slice(fragment);
            message = rest;
        }
        out
    }

    fn names(stream: &[u8]) -> Vec<String> {
        client_hello_sni(stream).unwrap().unwrap().server_names
    }

    #[test]
    fn real_tls13_client_hello() {
        let hello = client_hello_sni(CH_TLS13).unwrap().unwrap();
        assert_eq!(
            hello,
            ClientHello {
                record_version: 0x0301,
                legacy_version: 0x0303,
                server_names: vec!["update-cdn.evil.example".to_owned()],
                alpn: vec![Cow::Borrowed(&b"h2"[..]), Cow::Borrowed(&b"http/1.1"[..])],
                tls13: true,
            }
        );
        // Zero-copy when the ClientHello fits one record.
        assert!(hello.alpn.iter().all(|p| matches!(p, Cow::Borrowed(_))));
    }

    #[test]
    fn real_tls12_client_hello_is_lowercased() {
        let hello = client_hello_sni(CH_TLS12).unwrap().unwrap();
        assert_eq!(hello.server_names, ["maps.vendor.example"]);
        assert_eq!((hello.legacy_version, hello.tls13), (0x0303, false));
        assert!(hello.alpn.is_empty());
    }

    #[test]
    fn records_after_the_client_hello_are_ignored() {
        // TLS 1.3 middlebox compatibility: ChangeCipherSpec, then early data.
        let stream = [CH_TLS13, &[20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 2, 0xaa, 0xbb]].concat();
        assert_eq!(client_hello_sni(&stream), client_hello_sni(CH_TLS13));
    }

    #[test]
    fn client_hello_over_several_records() {
        let whole = client_hello_sni(CH_TLS13).unwrap().unwrap();
        for sizes in [&[100][..], &[2], &[3, 1, 200], &[1; 400]] {
            let stream = split(CH_TLS13, sizes);
            let hello = client_hello_sni(&stream).unwrap().unwrap();
            assert_eq!(hello, whole, "{sizes:?}");
            assert!(hello.alpn.iter().all(|p| matches!(p, Cow::Owned(_))));
        }
    }

    #[test]
    fn every_prefix_needs_more() {
        let two_records = split(CH_TLS13, &[100]);
        let one_byte_records = split(CH_TLS12, &[1; 10]);
        for stream in [CH_TLS13, CH_TLS12, &two_records, &one_byte_records] {
            for cut in 0..stream.len() {
                match client_hello_sni(&stream[..cut]) {
                    Err(TlsError::NeedMore { needed }) => {
                        assert!(
                            cut < needed && needed <= stream.len(),
                            "cut {cut}, needed {needed}"
                        )
                    }
                    other => panic!("cut {cut}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn not_a_client_hello() {
        let cases: &[(&str, &[u8])] = &[
            (
                "HTTP",
                b"GET / HTTP/1.1\r\nHost: maps.vendor.example\r\n\r\n",
            ),
            ("SSH banner", b"SSH-2.0-OpenSSH_9.2p1\r\n"),
            (
                "DoIP routing activation",
                &[
                    0x02, 0xfd, 0x00, 0x05, 0, 0, 0, 7, 0x0e, 0x00, 0, 0, 0, 0, 0,
                ],
            ),
            (
                "application data record",
                &[23, 3, 3, 0, 3, 0xaa, 0xbb, 0xcc],
            ),
            ("alert record", &[21, 3, 3, 0, 2, 2, 40]),
            ("ServerHello", &[22, 3, 3, 0, 4, 2, 0, 0, 0]),
            ("ServerHello cut after its type", &[22, 3, 3, 0x10, 0, 2]),
            (
                "handshake record of major version 2",
                &[22, 2, 0, 0, 4, 1, 0, 0, 0],
            ),
            (
                "SSLv2 ClientHello",
                &[0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15],
            ),
            ("one byte", &[0x47]),
        ];
        for (what, stream) in cases {
            assert_eq!(client_hello_sni(stream), Ok(None), "{what}");
        }
    }

    #[test]
    fn extensions_are_optional_before_tls12() {
        let stream = record(&body(&[7; 32], &[0x00, 0x2f], &[0], None));
        let hello = client_hello_sni(&stream).unwrap().unwrap();
        assert!(hello.server_names.is_empty() && hello.alpn.is_empty() && !hello.tls13);
    }

    #[test]
    fn every_host_name_is_kept_and_shown_as_text() {
        let extensions = [
            sni(&[
                b"Update-CDN.Evil.Example.",
                b"c2.evil.example\x00.maps.vendor.example",
            ]),
            extension(0x000a, &[0x00, 0x02, 0x00, 0x1d]),
            sni(&[b"back\\slash"]),
        ]
        .concat();
        assert_eq!(
            names(&record(&with_extensions(&extensions))),
            [
                "update-cdn.evil.example",
                r"c2.evil.example\000.maps.vendor.example",
                r"back\\slash"
            ]
        );
    }

    #[test]
    fn other_name_types_are_skipped() {
        // A name of type 1 (not defined) before the host name.
        let list = [&[0x01, 0x00, 0x01, b'x'][..], &[0x00, 0x00, 0x01, b'a']].concat();
        let ext = extension(EXT_SERVER_NAME, &[&len16(list.len())[..], &list].concat());
        assert_eq!(names(&record(&with_extensions(&ext))), ["a"]);
    }

    #[test]
    fn hostile_streams_are_errors() {
        use TlsError::*;
        let with = |ext: Vec<u8>| record(&with_extensions(&ext));
        let mut two_records = split(CH_TLS13, &[100]);
        two_records[105] = 23;
        let empty_second_record = {
            let mut stream = split(CH_TLS13, &[100]);
            stream.splice(105..105, [22, 3, 1, 0, 0]);
            stream
        };
        // The handshake header says one byte less than the body, which cuts the last extension.
        let mut one_short = CH_TLS13.to_vec();
        one_short[8] -= 1;
        let mut too_long_for_the_record = record(&with_extensions(&[]));
        too_long_for_the_record[8] += 10;
        let after_record = too_long_for_the_record.len();
        let cases: Vec<(&str, Vec<u8>, TlsError)> = vec![
            (
                "record of 2^14 + 1 bytes",
                vec![22, 3, 1, 0x40, 0x01, 1],
                RecordTooLong {
                    offset: 0,
                    len: 16385,
                },
            ),
            (
                "empty first record",
                vec![22, 3, 1, 0, 0],
                EmptyRecord { offset: 0 },
            ),
            (
                "empty second record",
                empty_second_record,
                EmptyRecord { offset: 105 },
            ),
            (
                "application data inside the ClientHello",
                two_records,
                InterleavedRecord {
                    offset: 105,
                    content_type: 23,
                },
            ),
            (
                "ClientHello of 2^16 + 1 bytes",
                vec![22, 3, 1, 0, 4, 1, 0x01, 0x00, 0x01],
                ClientHelloTooLong { len: 65537 },
            ),
            (
                "handshake longer than a complete record, nothing after",
                too_long_for_the_record,
                NeedMore {
                    needed: after_record + 6,
                },
            ),
            (
                "handshake length one short",
                one_short,
                Overrun {
                    what: "extensions",
                    offset: CH_TLS13_EXTENSIONS_AT,
                },
            ),
            (
                "body cut inside random",
                record(&[3, 3, 0, 0]),
                Overrun {
                    what: "random",
                    offset: 2,
                },
            ),
            (
                "session id length past the body",
                record(&[&[3, 3][..], &[0; 32], &[0xff]].concat()),
                Overrun {
                    what: "legacy_session_id",
                    offset: 34,
                },
            ),
            (
                "session id of 33 bytes",
                record(&body(&[0; 33], &[0x13, 0x01], &[0], None)),
                Invalid {
                    what: "legacy_session_id longer than 32 bytes",
                    offset: 35,
                },
            ),
            (
                "odd cipher_suites",
                record(&body(&[], &[0x13, 0x01, 0x13], &[0], None)),
                Invalid {
                    what: "cipher_suites not a non-empty list of 2-byte values",
                    offset: 37,
                },
            ),
            (
                "no cipher suites",
                record(&body(&[], &[], &[0], None)),
                Invalid {
                    what: "cipher_suites not a non-empty list of 2-byte values",
                    offset: 37,
                },
            ),
            (
                "no compression methods",
                record(&body(&[], &[0x13, 0x01], &[], None)),
                Invalid {
                    what: "empty legacy_compression_methods",
                    offset: 40,
                },
            ),
            (
                "extensions length past the body",
                record(&[body(&[], &[0x13, 0x01], &[0], None), vec![0x01, 0x00, 0, 0]].concat()),
                Overrun {
                    what: "extensions",
                    offset: 41,
                },
            ),
            (
                "bytes after the extensions",
                record(&[with_extensions(&[]), vec![0xaa]].concat()),
                Invalid {
                    what: "bytes after the extensions",
                    offset: 43,
                },
            ),
            (
                "extension data length past the extensions",
                record(&with_extensions(&[0x00, 0x00, 0xff, 0xff])),
                Overrun {
                    what: "extension data",
                    offset: 45,
                },
            ),
            (
                "extension header cut",
                record(&with_extensions(&[0x00, 0x00, 0x00])),
                Overrun {
                    what: "extension data",
                    offset: 45,
                },
            ),
            (
                "server_name_list past the extension",
                with(extension(0, &[0x00, 0x20, 0x00, 0x00, 0x01, b'a'])),
                Overrun {
                    what: "server_name_list",
                    offset: 47,
                },
            ),
            (
                "empty server_name extension",
                with(extension(0, &[])),
                Overrun {
                    what: "server_name_list",
                    offset: 47,
                },
            ),
            (
                "host_name past the list",
                with(extension(0, &[0x00, 0x04, 0x00, 0xff, 0xff, b'a'])),
                Overrun {
                    what: "server name",
                    offset: 50,
                },
            ),
            (
                "empty host_name",
                with(extension(0, &[0x00, 0x03, 0x00, 0x00, 0x00])),
                Invalid {
                    what: "empty host_name",
                    offset: 52,
                },
            ),
            (
                "empty server_name_list",
                with(extension(0, &[0x00, 0x00])),
                Invalid {
                    what: "empty server_name_list",
                    offset: 49,
                },
            ),
            (
                "bytes after server_name_list",
                with(extension(0, &[0x00, 0x04, 0x00, 0x00, 0x01, b'a', 0xee])),
                Invalid {
                    what: "bytes after server_name_list",
                    offset: 53,
                },
            ),
            (
                "ALPN protocol past its list",
                with(extension(EXT_ALPN, &[0x00, 0x03, 0x05, b'h', b'2'])),
                Overrun {
                    what: "protocol name",
                    offset: 49,
                },
            ),
            (
                "empty ALPN protocol",
                with(extension(EXT_ALPN, &[0x00, 0x01, 0x00])),
                Invalid {
                    what: "empty protocol name",
                    offset: 50,
                },
            ),
            (
                "empty ALPN list",
                with(extension(EXT_ALPN, &[0x00, 0x00])),
                Invalid {
                    what: "empty protocol_name_list",
                    offset: 49,
                },
            ),
            (
                "supported_versions of odd length",
                with(extension(EXT_SUPPORTED_VERSIONS, &[0x03, 0x03, 0x04, 0x03])),
                Invalid {
                    what: "supported_versions not a non-empty list of 2-byte versions",
                    offset: 48,
                },
            ),
            (
                "supported_versions past the extension",
                with(extension(EXT_SUPPORTED_VERSIONS, &[0x08, 0x03, 0x04])),
                Overrun {
                    what: "supported_versions",
                    offset: 47,
                },
            ),
        ];
        for (what, stream, expected) in cases {
            assert_eq!(client_hello_sni(&stream), Err(expected), "{what}");
        }
    }

    #[test]
    fn fuzz_never_panics_and_stays_bounded() {
        let seeds = [
            CH_TLS13.to_vec(),
            CH_TLS12.to_vec(),
            split(CH_TLS13, &[100]),
            split(CH_TLS12, &[1, 2, 3, 50]),
        ];
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        for _ in 0..100_000 {
            let roll = rng.next();
            let mut stream = seeds[(roll % seeds.len() as u64) as usize].clone();
            // Overwrite up to 8 bytes, biased to the values that lengths and types are made of.
            for _ in 0..(roll >> 8) % 8 {
                let r = rng.next();
                let at = (r % stream.len() as u64) as usize;
                stream[at] = match (r >> 32) % 4 {
                    0 => 0x00,
                    1 => 0xff,
                    2 => stream[at].wrapping_add(1),
                    _ => (r >> 40) as u8,
                };
            }
            match (roll >> 16) % 4 {
                0 => stream.truncate((rng.next() % (stream.len() as u64 + 1)) as usize),
                1 => stream.extend((0..rng.next() % 64).map(|_| rng.next() as u8)),
                _ => {}
            }
            match client_hello_sni(&stream) {
                Ok(Some(hello)) => {
                    assert!(hello.server_names.len() + hello.alpn.len() <= stream.len() / 3);
                }
                Err(TlsError::NeedMore { needed }) => assert!(needed > stream.len()),
                Ok(None) | Err(_) => {}
            }
        }
    }
}
