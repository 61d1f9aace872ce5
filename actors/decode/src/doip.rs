//! DoIP (ISO 13400-2, TCP and UDP port 13400) decoder: diagnostics over IP, whose diagnostic
//! messages carry UDS (`super::uds`).

mod parser;

pub use parser::{
    frame_len, frame_len_with_max, header, messages, parse, ActivationType, DiagnosticAck,
    DiagnosticMessage, DiagnosticNack, DiagnosticNackCode, Doip, DoipError, EntityStatus,
    ExpectedLen, Header, HeaderNackCode, Messages, PayloadType, PowerMode,
    RoutingActivationRequest, RoutingActivationResponse, RoutingResponseCode, VehicleAnnouncement,
    DEFAULT_VERSION, HEADER_LEN, MAX_PAYLOAD_LEN,
};

/// The DoIP port, for both TCP and UDP.
pub const PORT: u16 = 13400;

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    reason = "test code over known captures"
)]
mod tests {
    //! Decodes the independent captures (scapy's DoIP test pcaps) end to end. The expected
    //! counts were checked frame by frame against Wireshark 4.0 (`doip.type`, `uds.sid`).

    use std::collections::BTreeMap;

    use vsiem_topology::Transport;

    use super::super::uds;
    use super::*;

    /// The DoIP bytes (TCP segment payload or UDP datagram to or from port 13400) of each
    /// Ethernet/IPv4 frame of a classic pcap file, with the frame's 1-based number.
    fn doip_payloads(pcap: &[u8]) -> Vec<(usize, Transport, Vec<u8>)> {
        let le = match pcap[..4] {
            [0xD4, 0xC3, 0xB2, 0xA1] | [0x4D, 0x3C, 0xB2, 0xA1] => true,
            [0xA1, 0xB2, 0xC3, 0xD4] | [0xA1, 0xB2, 0x3C, 0x4D] => false,
            _ => panic!("not a pcap file"),
        };
        let u32_at = |b: &[u8], at: usize| {
            let raw: [u8; 4] = b[at..at + 4].try_into().unwrap();
            if le {
                u32::from_le_bytes(raw)
            } else {
                u32::from_be_bytes(raw)
            }
        };
        let be16 = |b: &[u8], at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
        assert_eq!(u32_at(pcap, 20), 1, "link type must be Ethernet");
        let mut out = Vec::new();
        let (mut at, mut number) = (24, 0);
        while at + 16 <= pcap.len() {
            let caplen = u32_at(pcap, at + 8) as usize;
            let frame = &pcap[at + 16..at + 16 + caplen];
            at += 16 + caplen;
            number += 1;
            let (mut ethertype, mut l3) = (be16(frame, 12), 14);
            if ethertype == 0x8100 {
                (ethertype, l3) = (be16(frame, 16), 18);
            }
            if ethertype != 0x0800 {
                continue;
            }
            let ip = &frame[l3..];
            // The IP total length, not the frame, bounds the packet: short frames are padded.
            let ip = &ip[..usize::from(be16(ip, 2))];
            let l4 = &ip[usize::from(ip[0] & 0x0F) * 4..];
            let (transport, payload) = match ip[9] {
                6 => (Transport::Tcp, &l4[usize::from(l4[12] >> 4) * 4..]),
                17 => (Transport::Udp, &l4[8..usize::from(be16(l4, 4))]),
                _ => continue,
            };
            let ports = [be16(l4, 0), be16(l4, 2)];
            if ports.contains(&PORT) && !payload.is_empty() {
                out.push((number, transport, payload.to_vec()));
            }
        }
        out
    }

    /// What a capture decodes to.
    #[derive(Debug, Default, PartialEq)]
    struct Decoded {
        payload_types: BTreeMap<u16, usize>,
        /// "SID request", "SID positive response" or "SID NRC", counted.
        uds: BTreeMap<String, usize>,
        /// (frame, error) for DoIP messages that did not decode.
        doip_errors: Vec<(usize, DoipError)>,
        uds_errors: Vec<(usize, uds::UdsError)>,
        /// (frame, code) of each generic header NACK.
        nacks: Vec<(usize, HeaderNackCode)>,
        /// (frame, payload type) of each message on a transport its type is not allowed on.
        wrong_transport: Vec<(usize, u16)>,
    }

    fn decode_capture(name: &str) -> Decoded {
        let path = crate::testing::shared_captures().join(name);
        let pcap = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut decoded = Decoded::default();
        for (frame, transport, payload) in doip_payloads(&pcap) {
            for message in messages(&payload) {
                let doip = match message.and_then(parse) {
                    Ok(doip) => doip,
                    Err(e) => {
                        decoded.doip_errors.push((frame, e));
                        continue;
                    }
                };
                let payload_type = doip.payload_type();
                *decoded.payload_types.entry(payload_type.0).or_default() += 1;
                if !payload_type.allowed_on(transport) {
                    decoded.wrong_transport.push((frame, payload_type.0));
                }
                match doip {
                    Doip::GenericNack { code } => decoded.nacks.push((frame, code)),
                    Doip::DiagnosticMessage(m) => {
                        let key = match uds::parse(m.user_data) {
                            Ok(uds::Uds::Request(r)) => format!("{:#04x} request", r.sid.0),
                            Ok(uds::Uds::PositiveResponse(r)) => {
                                format!("{:#04x} positive response", r.sid.0)
                            }
                            Ok(uds::Uds::NegativeResponse(r)) => {
                                format!("{:#04x} {}", r.sid.0, r.nrc)
                            }
                            Err(e) => {
                                decoded.uds_errors.push((frame, e));
                                continue;
                            }
                        };
                        *decoded.uds.entry(key).or_default() += 1;
                    }
                    _ => {}
                }
            }
        }
        println!("{name}: {decoded:#x?}");
        decoded
    }

    fn counted<K: Ord + Clone>(pairs: &[(K, usize)]) -> BTreeMap<K, usize> {
        pairs.iter().cloned().collect()
    }

    fn uds_counted(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
        pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    }

    #[test]
    fn scapy_doip_capture() {
        let decoded = decode_capture("scapy-doip.pcap");
        let expected = Decoded {
            payload_types: counted(&[
                (0x0000, 2),
                (0x0001, 1),
                (0x0004, 115),
                (0x0005, 7),
                (0x0006, 6),
                (0x0007, 5),
                (0x0008, 1),
                (0x4001, 1),
                (0x4002, 1),
                (0x4003, 1),
                (0x4004, 1),
                (0x8001, 22),
                (0x8002, 9),
            ]),
            uds: uds_counted(&[
                ("0x10 request", 10),
                ("0x10 positive response", 7),
                ("0x10 requestCorrectlyReceivedResponsePending (0x78)", 2),
                ("0x10 subFunctionNotSupportedInActiveSession (0x7e)", 2),
            ]),
            doip_errors: vec![],
            // The malformed UDS: a diagnostic message without user data (sent over UDP).
            uds_errors: vec![(41, uds::UdsError::Empty)],
            // The header NACKs refuse the alive check request and response sent over UDP.
            nacks: vec![
                (36, HeaderNackCode::UNKNOWN_PAYLOAD_TYPE),
                (38, HeaderNackCode::UNKNOWN_PAYLOAD_TYPE),
            ],
            // The tester's UDP probes of TCP-only payload types.
            wrong_transport: vec![(28, 0x0005), (35, 0x0007), (37, 0x0008), (41, 0x8001)],
        };
        assert_eq!(decoded, expected);
    }

    #[test]
    fn scapy_functional_request_capture() {
        let decoded = decode_capture("scapy-doip_functional_request.pcap");
        // One functional TesterPresent (to 0xE400) answered by eight ECUs.
        let expected = Decoded {
            payload_types: counted(&[(0x0005, 1), (0x0006, 1), (0x8001, 9), (0x8002, 1)]),
            uds: uds_counted(&[("0x3e request", 1), ("0x3e positive response", 8)]),
            ..Decoded::default()
        };
        assert_eq!(decoded, expected);
    }

    #[test]
    fn scapy_ack_and_multiple_layers_captures() {
        let ack = decode_capture("scapy-doip_ack.pcap");
        let multiple = decode_capture("scapy-multiple_doip_layers.pcap");
        let expected = Decoded {
            payload_types: counted(&[(0x8002, 1)]),
            ..Decoded::default()
        };
        assert_eq!(ack, expected);
        // The first segment holds an alive check response and a diagnostic message.
        let expected = Decoded {
            payload_types: counted(&[(0x0008, 1), (0x8001, 2)]),
            uds: uds_counted(&[("0x22 request", 1), ("0x22 positive response", 1)]),
            ..Decoded::default()
        };
        assert_eq!(multiple, expected);
    }
}
