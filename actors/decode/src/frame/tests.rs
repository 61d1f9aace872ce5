//! Tests of the frame slicer: byte-literal frames of the reference vehicle, anomalies, errors,
//! every prefix, a pseudo-random fuzz loop, and the independent captures checked against tshark.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use super::super::capture_file;
use super::*;
use crate::testing::XorShift;

// ivi (10.10.1.3) -> gateway on the infotainment trunk, VLAN 10, PCP 3.
const ETH_VLAN10: [u8; 18] = [
    0x02, 0x00, 0x0a, 0x0a, 0x01, 0x01, // dst: gateway
    0x02, 0x00, 0x0a, 0x0a, 0x01, 0x03, // src: ivi
    0x81, 0x00, 0x60, 0x0a, // 802.1Q, PCP 3, VID 10
    0x08, 0x00,
];
// 10.10.1.3 -> 10.10.2.2, UDP, 44 bytes, DF, TTL 64 (checksum 0x1175).
const IPV4_IVI_BODY_UDP: [u8; 20] = [
    0x45, 0x00, 0x00, 0x2c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x11, 0x75, 0x0a, 0x0a, 0x01, 0x03,
    0x0a, 0x0a, 0x02, 0x02,
];
// 40000 -> 30501 (DoorLock), length 24, no checksum.
const UDP_TO_DOORLOCK: [u8; 8] = [0x9c, 0x40, 0x77, 0x25, 0x00, 0x18, 0x00, 0x00];
// SOME/IP request DoorLock.Lock from client 0x0003 (ivi), session 1.
const SOMEIP_LOCK: [u8; 16] = [
    0x11, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x08, 0x00, 0x03, 0x00, 0x01, 0x01, 0x01, 0x00, 0x00,
];

// tester -> gateway on the diagnostics VLAN 90 inside a service tag (802.1ad VID 100, PCP 1).
const ETH_QINQ: [u8; 22] = [
    0x02, 0x00, 0x0a, 0x0a, 0x09, 0x01, // dst: gateway
    0x02, 0x00, 0x0a, 0x0a, 0x09, 0x64, // src: tester
    0x88, 0xa8, 0x20, 0x64, // 802.1ad, PCP 1, VID 100
    0x81, 0x00, 0xa0, 0x5a, // 802.1Q, PCP 5, VID 90
    0x08, 0x00,
];
// 10.10.9.100 -> 10.10.9.1, TCP, 55 bytes (checksum 0x0215).
const IPV4_TESTER_GW_TCP: [u8; 20] = [
    0x45, 0x00, 0x00, 0x37, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x02, 0x15, 0x0a, 0x0a, 0x09, 0x64,
    0x0a, 0x0a, 0x09, 0x01,
];
// 50000 -> 13400, seq 0xfffffff0, ack 0x01020304, PSH|ACK, window 65535.
const TCP_TO_DOIP: [u8; 20] = [
    0xc3, 0x50, 0x34, 0x58, 0xff, 0xff, 0xff, 0xf0, 0x01, 0x02, 0x03, 0x04, 0x50, 0x18, 0xff, 0xff,
    0x00, 0x00, 0x00, 0x00,
];
// DoIP routing activation request from source address 0x0e00.
const DOIP_ROUTING_ACTIVATION: [u8; 15] = [
    0x02, 0xfd, 0x00, 0x05, 0x00, 0x00, 0x00, 0x07, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

// Broadcast ARP request of the ivi for the gateway, VLAN 10, padded to 60 bytes.
const ARP_WHO_HAS_GATEWAY: [u8; 60] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x0a, 0x0a, 0x01, 0x03, 0x81, 0x00, 0x00, 0x0a,
    0x08, 0x06, // Ethernet + 802.1Q VID 10 + ARP
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // Ethernet/IPv4, request
    0x02, 0x00, 0x0a, 0x0a, 0x01, 0x03, 0x0a, 0x0a, 0x01, 0x03, // sender ivi
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x0a, 0x01, 0x01, // target gateway
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, // padding
];

// fd00::3 -> fd00::2 TCP SYN 49152 -> 443, hop limit 64, untagged.
const ETH_IPV6: [u8; 14] = [
    0x02, 0x00, 0x0a, 0x0a, 0x01, 0x02, 0x02, 0x00, 0x0a, 0x0a, 0x01, 0x03, 0x86, 0xdd,
];
const IPV6_TCP: [u8; 40] = [
    0x60, 0x00, 0x00, 0x00, 0x00, 0x14, 0x06, 0x40, // payload 20, TCP, hop limit 64
    0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, // fd00::3
    0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, // fd00::2
];
const TCP_SYN_443: [u8; 20] = [
    0xc0, 0x00, 0x01, 0xbb, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x50, 0x02, 0x72, 0x10,
    0x00, 0x00, 0x00, 0x00,
];

// Raw IPv6 ICMPv6 echo request fe80::3 -> fe80::1, hop limit 255.
const RAW_ICMPV6_ECHO: [u8; 48] = [
    0x60, 0x00, 0x00, 0x00, 0x00, 0x08, 0x3a, 0xff, // payload 8, ICMPv6
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, // fe80::3
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // fe80::1
    0x80, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, // echo request
];

// ivi pings the gateway, untagged, padded to 60 bytes.
const ICMP_ECHO: [u8; 60] = [
    0x02, 0x00, 0x0a, 0x0a, 0x01, 0x01, 0x02, 0x00, 0x0a, 0x0a, 0x01, 0x03, 0x08,
    0x00, // Ethernet
    0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0x12, 0x96, 0x0a, 0x0a, 0x01, 0x03,
    0x0a, 0x0a, 0x01, 0x01, // IPv4 ICMP 10.10.1.3 -> 10.10.1.1
    0x08, 0x00, 0xf7, 0xfe, 0x00, 0x01, 0x00, 0x01, // echo request
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, // padding
];

// adas-dc joins the SOME/IP SD group (IGMPv2 report, TTL 1), padded.
const IGMP_JOIN: [u8; 60] = [
    0x01, 0x00, 0x5e, 0x60, 0xe0, 0xf5, 0x02, 0x00, 0x0a, 0x0a, 0x04, 0x02, 0x08,
    0x00, // Ethernet
    0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x40, 0x00, 0x01, 0x02, 0x97, 0xca, 0x0a, 0x0a, 0x04, 0x02,
    0xe0, 0xe0, 0xe0, 0xf5, // IPv4 IGMP 10.10.4.2 -> 224.224.224.245
    0x16, 0x00, 0xfa, 0x04, 0xe0, 0xe0, 0xe0, 0xf5, // v2 membership report
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, // padding
];

// A gPTP Sync header start: sliced no further.
const GPTP_SYNC: [u8; 24] = [
    0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 0x02, 0x00, 0x0a, 0x0a, 0x03, 0x02, 0x88,
    0xf7, // Ethernet
    0x10, 0x02, 0x00, 0x2c, 0x00, 0x00, 0x02, 0x08, 0x00, 0x00,
];

// `tcpdump -i any` of the rootless demo: loopback device (772), all-zero address; loopback
// packets are captured once, as addressed to this host (packet type 0).
const SLL_LOOPBACK: [u8; 16] = [
    0x00, 0x00, 0x03, 0x04, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00,
];
// 127.0.1.3 -> 127.0.2.2, UDP, 44 bytes (checksum 0x2788).
const IPV4_LO_UDP: [u8; 20] = [
    0x45, 0x00, 0x00, 0x2c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x27, 0x88, 0x7f, 0x00, 0x01, 0x03,
    0x7f, 0x00, 0x02, 0x02,
];

fn someip_frame() -> Vec<u8> {
    [
        &ETH_VLAN10[..],
        &IPV4_IVI_BODY_UDP,
        &UDP_TO_DOORLOCK,
        &SOMEIP_LOCK,
    ]
    .concat()
}

fn doip_frame() -> Vec<u8> {
    [
        &ETH_QINQ[..],
        &IPV4_TESTER_GW_TCP,
        &TCP_TO_DOIP,
        &DOIP_ROUTING_ACTIVATION,
    ]
    .concat()
}

/// Every well-formed frame of these tests, with its link type.
fn valid_frames() -> Vec<(&'static str, LinkType, Vec<u8>)> {
    vec![
        ("someip", LinkType::Ethernet, someip_frame()),
        ("doip", LinkType::Ethernet, doip_frame()),
        ("arp", LinkType::Ethernet, ARP_WHO_HAS_GATEWAY.to_vec()),
        (
            "ipv6 tcp",
            LinkType::Ethernet,
            [&ETH_IPV6[..], &IPV6_TCP, &TCP_SYN_443].concat(),
        ),
        ("icmpv6", LinkType::RawIp, RAW_ICMPV6_ECHO.to_vec()),
        ("icmp", LinkType::Ethernet, ICMP_ECHO.to_vec()),
        ("igmp", LinkType::Ethernet, IGMP_JOIN.to_vec()),
        ("gptp", LinkType::Ethernet, GPTP_SYNC.to_vec()),
        (
            "sll",
            LinkType::LinuxSll,
            [
                &SLL_LOOPBACK[..],
                &IPV4_LO_UDP,
                &UDP_TO_DOORLOCK,
                &SOMEIP_LOCK,
            ]
            .concat(),
        ),
        (
            "raw",
            LinkType::RawIp,
            [&IPV4_IVI_BODY_UDP[..], &UDP_TO_DOORLOCK, &SOMEIP_LOCK].concat(),
        ),
    ]
}

fn mac(last: [u8; 2]) -> Mac {
    Mac([0x02, 0x00, 0x0a, 0x0a, last[0], last[1]])
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn udp_to_doorlock<'a>(src: IpAddr, dst: IpAddr) -> Net<'a> {
    Net::Ip(Ip {
        src,
        dst,
        ttl: 64,
        transport: Transport::Udp(Udp {
            src_port: 40000,
            dst_port: 30501,
            payload: &SOMEIP_LOCK,
        }),
    })
}

fn expected(name: &str) -> Frame<'static> {
    let vlan10 = Some(VlanTag { id: 10, pcp: 3 });
    let (link, outer_vlan, inner_vlan, net) = match name {
        "someip" => (
            Link::Ethernet {
                src: mac([1, 3]),
                dst: mac([1, 1]),
            },
            vlan10,
            None,
            udp_to_doorlock(v4(10, 10, 1, 3), v4(10, 10, 2, 2)),
        ),
        "doip" => (
            Link::Ethernet {
                src: mac([9, 0x64]),
                dst: mac([9, 1]),
            },
            Some(VlanTag { id: 100, pcp: 1 }),
            Some(VlanTag { id: 90, pcp: 5 }),
            Net::Ip(Ip {
                src: v4(10, 10, 9, 100),
                dst: v4(10, 10, 9, 1),
                ttl: 64,
                transport: Transport::Tcp(Tcp {
                    src_port: 50000,
                    dst_port: 13400,
                    seq: 0xffff_fff0,
                    ack: 0x0102_0304,
                    flags: TcpFlags::PSH | TcpFlags::ACK,
                    window: 65535,
                    payload: &DOIP_ROUTING_ACTIVATION,
                }),
            }),
        ),
        "arp" => (
            Link::Ethernet {
                src: mac([1, 3]),
                dst: Mac([0xff; 6]),
            },
            Some(VlanTag { id: 10, pcp: 0 }),
            None,
            Net::Arp(Arp {
                operation: 1,
                sender_mac: mac([1, 3]),
                sender_ip: Ipv4Addr::new(10, 10, 1, 3),
                target_mac: Mac([0; 6]),
                target_ip: Ipv4Addr::new(10, 10, 1, 1),
            }),
        ),
        "ipv6 tcp" => (
            Link::Ethernet {
                src: mac([1, 3]),
                dst: mac([1, 2]),
            },
            None,
            None,
            Net::Ip(Ip {
                src: "fd00::3".parse().unwrap(),
                dst: "fd00::2".parse().unwrap(),
                ttl: 64,
                transport: Transport::Tcp(Tcp {
                    src_port: 49152,
                    dst_port: 443,
                    seq: 1,
                    ack: 0,
                    flags: TcpFlags::SYN,
                    window: 0x7210,
                    payload: &[],
                }),
            }),
        ),
        "icmpv6" => (
            Link::RawIp,
            None,
            None,
            Net::Ip(Ip {
                src: "fe80::3".parse().unwrap(),
                dst: "fe80::1".parse().unwrap(),
                ttl: 255,
                transport: Transport::Icmp(Icmp {
                    icmp_type: 128,
                    code: 0,
                }),
            }),
        ),
        "icmp" => (
            Link::Ethernet {
                src: mac([1, 3]),
                dst: mac([1, 1]),
            },
            None,
            None,
            Net::Ip(Ip {
                src: v4(10, 10, 1, 3),
                dst: v4(10, 10, 1, 1),
                ttl: 64,
                transport: Transport::Icmp(Icmp {
                    icmp_type: 8,
                    code: 0,
                }),
            }),
        ),
        "igmp" => (
            Link::Ethernet {
                src: mac([4, 2]),
                dst: Mac([0x01, 0x00, 0x5e, 0x60, 0xe0, 0xf5]),
            },
            None,
            None,
            Net::Ip(Ip {
                src: v4(10, 10, 4, 2),
                dst: v4(224, 224, 224, 245),
                ttl: 1,
                transport: Transport::Other { protocol: 2 },
            }),
        ),
        "gptp" => (
            Link::Ethernet {
                src: mac([3, 2]),
                dst: Mac([0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e]),
            },
            None,
            None,
            Net::Other { ether_type: 0x88f7 },
        ),
        "sll" => (
            Link::LinuxSll {
                packet_type: 0,
                src: Some(Mac([0; 6])),
            },
            None,
            None,
            udp_to_doorlock(v4(127, 0, 1, 3), v4(127, 0, 2, 2)),
        ),
        "raw" => (
            Link::RawIp,
            None,
            None,
            udp_to_doorlock(v4(10, 10, 1, 3), v4(10, 10, 2, 2)),
        ),
        other => panic!("no expectation for {other}"),
    };
    Frame {
        link,
        outer_vlan,
        inner_vlan,
        net,
        anomalies: Vec::new(),
    }
}

#[test]
fn valid_frames_decode_to_their_fields_without_allocating() {
    for (name, link, bytes) in valid_frames() {
        let frame = parse(link, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(frame, expected(name), "{name}");
        assert_eq!(frame.anomalies.capacity(), 0, "{name}");
    }
}

/// The IPv4 header checksum, computed independently of the code under test.
fn fix_ipv4_checksum(header: &mut [u8]) {
    header[10] = 0;
    header[11] = 0;
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    header[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

/// The SOME/IP frame after `edit` (offsets into the IPv4 header at 18), checksum fixed.
fn someip_edited(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut bytes = someip_frame();
    edit(&mut bytes);
    fix_ipv4_checksum(&mut bytes[18..38]);
    bytes
}

fn udp_payload<'a>(frame: &Frame<'a>) -> Option<&'a [u8]> {
    match frame.net {
        Net::Ip(Ip {
            transport: Transport::Udp(udp),
            ..
        }) => Some(udp.payload),
        _ => None,
    }
}

fn transport<'a>(frame: &Frame<'a>) -> Transport<'a> {
    match frame.net {
        Net::Ip(ip) => ip.transport,
        other => panic!("not IP: {other:?}"),
    }
}

/// A frame, the anomalies it must carry and the UDP payload it must still give.
type AnomalyCase = (
    &'static str,
    Vec<u8>,
    Vec<FrameAnomaly>,
    Option<&'static [u8]>,
);

#[test]
fn anomalies_leave_a_decoded_frame() {
    use FrameAnomaly::*;
    let mut bad_checksum = someip_frame();
    bad_checksum[18 + 11] ^= 0xff;
    let cases: Vec<AnomalyCase> = vec![
        (
            "wrong IPv4 checksum",
            bad_checksum,
            vec![Ipv4Checksum],
            Some(&SOMEIP_LOCK),
        ),
        (
            "first fragment (more fragments)",
            someip_edited(|b| b[18 + 6] = 0x20),
            vec![Fragment],
            None,
        ),
        (
            "later fragment (offset 8)",
            someip_edited(|b| b[18 + 7] = 0x01),
            vec![Fragment],
            None,
        ),
        (
            "UDP length shorter than IP's",
            someip_edited(|b| b[38 + 5] = 20),
            vec![UdpLength {
                udp: 20,
                ip_payload: 24,
            }],
            Some(&SOMEIP_LOCK[..12]),
        ),
        (
            "UDP length longer than IP's",
            someip_edited(|b| b[38 + 5] = 48),
            vec![UdpLength {
                udp: 48,
                ip_payload: 24,
            }],
            Some(&SOMEIP_LOCK),
        ),
        (
            "UDP length below its header",
            someip_edited(|b| b[38 + 5] = 4),
            vec![UdpLength {
                udp: 4,
                ip_payload: 24,
            }],
            Some(&SOMEIP_LOCK),
        ),
        (
            "cut by the snap length",
            someip_frame()[..58].to_vec(),
            vec![Truncated {
                expected: 44,
                captured: 40,
            }],
            Some(&SOMEIP_LOCK[..12]),
        ),
        (
            "IPv4 total length below the header",
            someip_edited(|b| b[18 + 3] = 0x10),
            vec![IpLength],
            Some(&SOMEIP_LOCK),
        ),
        (
            "checksum wrong and cut",
            {
                let mut b = someip_frame();
                b[18 + 8] = 1;
                b.truncate(60);
                b
            },
            vec![
                Ipv4Checksum,
                Truncated {
                    expected: 44,
                    captured: 42,
                },
            ],
            Some(&SOMEIP_LOCK[..14]),
        ),
    ];
    for (name, bytes, anomalies, payload) in cases {
        let frame = parse(LinkType::Ethernet, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(frame.anomalies, anomalies, "{name}");
        assert_eq!(udp_payload(&frame), payload, "{name}");
        if payload.is_none() {
            assert_eq!(
                transport(&frame),
                Transport::Other { protocol: 17 },
                "{name}"
            );
        }
    }
}

#[test]
fn ipv6_fragments_and_broken_extension_headers_are_anomalies() {
    // Fragment header (44) at offset 8 of a UDP datagram.
    let mut fragment = RAW_ICMPV6_ECHO[..40].to_vec();
    fragment[4..6].copy_from_slice(&16u16.to_be_bytes());
    fragment[6] = 44;
    fragment.extend_from_slice(&[17, 0, 0x00, 0x08, 0, 0, 0, 1]);
    fragment.extend_from_slice(&[0; 8]);
    let frame = parse(LinkType::RawIp, &fragment).unwrap();
    assert_eq!(frame.anomalies, [FrameAnomaly::Fragment]);
    assert_eq!(transport(&frame), Transport::Other { protocol: 17 });

    // A hop-by-hop header (0) whose length runs past the packet.
    let mut hop_by_hop = RAW_ICMPV6_ECHO[..40].to_vec();
    hop_by_hop[4..6].copy_from_slice(&8u16.to_be_bytes());
    hop_by_hop[6] = 0;
    hop_by_hop.extend_from_slice(&[17, 200, 0, 0, 0, 0, 0, 0]);
    let frame = parse(LinkType::RawIp, &hop_by_hop).unwrap();
    assert_eq!(frame.anomalies, [FrameAnomaly::IpExtensions]);
    assert_eq!(transport(&frame), Transport::Other { protocol: 0 });

    // Payload length 0 without a jumbogram option: the captured length stands in.
    let mut zero_len = RAW_ICMPV6_ECHO.to_vec();
    zero_len[4..6].copy_from_slice(&[0, 0]);
    let frame = parse(LinkType::RawIp, &zero_len).unwrap();
    assert_eq!(frame.anomalies, [FrameAnomaly::IpLength]);
    assert_eq!(
        transport(&frame),
        Transport::Icmp(Icmp {
            icmp_type: 128,
            code: 0
        })
    );
}

/// An IPv4 header for `payload_len` bytes of `protocol`, 10.10.1.3 -> 10.10.1.1.
fn ipv4_header(protocol: u8, payload_len: u16) -> Vec<u8> {
    let mut header = IPV4_IVI_BODY_UDP.to_vec();
    header[2..4].copy_from_slice(&(20 + payload_len).to_be_bytes());
    header[9] = protocol;
    fix_ipv4_checksum(&mut header);
    header
}

#[test]
fn unrecoverable_frames_are_errors() {
    use FrameError::*;
    let eth = |ether_type: [u8; 2], rest: &[u8]| -> Vec<u8> {
        [&ETH_IPV6[..12], &ether_type, rest].concat()
    };
    let mut three_tags = eth([0x88, 0xa8], &[0, 1, 0x81, 0x00, 0, 2, 0x81, 0x00, 0, 3]);
    three_tags.extend_from_slice(&[0x08, 0x00]);
    three_tags.extend_from_slice(&IPV4_IVI_BODY_UDP);
    let mut bad_arp = ARP_WHO_HAS_GATEWAY;
    bad_arp[19] = 6; // hardware type IEEE 802
    let mut arp_ipv6 = ARP_WHO_HAS_GATEWAY;
    arp_ipv6[20..22].copy_from_slice(&[0x86, 0xdd]);
    let mut arp_long_addresses = ARP_WHO_HAS_GATEWAY;
    arp_long_addresses[23] = 5;
    let mut sll_netlink = SLL_LOOPBACK;
    sll_netlink[2..4].copy_from_slice(&824u16.to_be_bytes());
    let mut tcp_offset_4 = TCP_TO_DOIP;
    tcp_offset_4[12] = 0x40;
    let mut ihl_4 = IPV4_IVI_BODY_UDP;
    ihl_4[0] = 0x44;

    let cases: Vec<(&str, LinkType, Vec<u8>, FrameError)> = vec![
        (
            "empty Ethernet",
            LinkType::Ethernet,
            vec![],
            Truncated {
                layer: Layer::Ethernet,
                needed: 14,
                available: 0,
            },
        ),
        (
            "13 bytes",
            LinkType::Ethernet,
            ETH_IPV6[..13].to_vec(),
            Truncated {
                layer: Layer::Ethernet,
                needed: 14,
                available: 13,
            },
        ),
        (
            "cut VLAN tag",
            LinkType::Ethernet,
            ETH_VLAN10[..16].to_vec(),
            Truncated {
                layer: Layer::Vlan,
                needed: 4,
                available: 2,
            },
        ),
        (
            "three VLAN tags",
            LinkType::Ethernet,
            three_tags,
            TooManyVlanTags,
        ),
        (
            "IPv6 under the IPv4 EtherType",
            LinkType::Ethernet,
            eth([0x08, 0x00], &IPV6_TCP),
            IpVersion(6),
        ),
        (
            "IPv4 under the IPv6 EtherType",
            LinkType::Ethernet,
            eth([0x86, 0xdd], &IPV4_IVI_BODY_UDP),
            IpVersion(4),
        ),
        (
            "no IP header",
            LinkType::Ethernet,
            eth([0x08, 0x00], &[]),
            Truncated {
                layer: Layer::Ip,
                needed: 1,
                available: 0,
            },
        ),
        (
            "IP version 5",
            LinkType::RawIp,
            vec![0x50; 40],
            IpVersion(5),
        ),
        (
            "IPv4 header length 4",
            LinkType::RawIp,
            ihl_4.to_vec(),
            Ipv4HeaderLength(4),
        ),
        (
            "cut IPv4 header",
            LinkType::RawIp,
            IPV4_IVI_BODY_UDP[..10].to_vec(),
            Truncated {
                layer: Layer::Ipv4,
                needed: 20,
                available: 10,
            },
        ),
        (
            "IPv4 options past the end",
            LinkType::RawIp,
            [&[0x4f][..], &IPV4_IVI_BODY_UDP[1..]].concat(),
            Truncated {
                layer: Layer::Ipv4,
                needed: 60,
                available: 20,
            },
        ),
        (
            "cut IPv6 header",
            LinkType::RawIp,
            IPV6_TCP[..39].to_vec(),
            Truncated {
                layer: Layer::Ipv6,
                needed: 40,
                available: 39,
            },
        ),
        (
            "TCP data offset 4",
            LinkType::RawIp,
            [&ipv4_header(6, 20)[..], &tcp_offset_4].concat(),
            TcpDataOffset(4),
        ),
        (
            "TCP options past the end",
            LinkType::RawIp,
            [
                &ipv4_header(6, 20)[..],
                &[0xc3, 0x50, 0x34, 0x58],
                &[0; 8],
                &[0xf0],
                &[0; 7],
            ]
            .concat(),
            Truncated {
                layer: Layer::Tcp,
                needed: 60,
                available: 20,
            },
        ),
        (
            "cut TCP header",
            LinkType::RawIp,
            [&ipv4_header(6, 10)[..], &TCP_TO_DOIP[..10]].concat(),
            Truncated {
                layer: Layer::Tcp,
                needed: 20,
                available: 10,
            },
        ),
        (
            "cut UDP header",
            LinkType::RawIp,
            [&ipv4_header(17, 4)[..], &UDP_TO_DOORLOCK[..4]].concat(),
            Truncated {
                layer: Layer::Udp,
                needed: 8,
                available: 4,
            },
        ),
        (
            "cut ICMP header",
            LinkType::RawIp,
            [&ipv4_header(1, 4)[..], &[8, 0, 0xf7, 0xfe]].concat(),
            Truncated {
                layer: Layer::Icmp,
                needed: 8,
                available: 4,
            },
        ),
        (
            "ARP of IEEE 802 hardware",
            LinkType::Ethernet,
            bad_arp.to_vec(),
            ArpNotEthernetIpv4 {
                hardware: 6,
                protocol: 0x0800,
                hardware_size: 6,
                protocol_size: 4,
            },
        ),
        (
            "ARP for IPv6",
            LinkType::Ethernet,
            arp_ipv6.to_vec(),
            ArpNotEthernetIpv4 {
                hardware: 1,
                protocol: 0x86dd,
                hardware_size: 6,
                protocol_size: 4,
            },
        ),
        (
            "ARP with 5-byte protocol addresses",
            LinkType::Ethernet,
            arp_long_addresses.to_vec(),
            ArpNotEthernetIpv4 {
                hardware: 1,
                protocol: 0x0800,
                hardware_size: 6,
                protocol_size: 5,
            },
        ),
        (
            "cut ARP",
            LinkType::Ethernet,
            ARP_WHO_HAS_GATEWAY[..40].to_vec(),
            Truncated {
                layer: Layer::Arp,
                needed: 28,
                available: 22,
            },
        ),
        (
            "cut SLL header",
            LinkType::LinuxSll,
            SLL_LOOPBACK[..15].to_vec(),
            Truncated {
                layer: Layer::LinuxSll,
                needed: 16,
                available: 15,
            },
        ),
        (
            "SLL of a netlink socket",
            LinkType::LinuxSll,
            [&sll_netlink[..], &[0; 16]].concat(),
            LinuxSllDevice(824),
        ),
    ];
    for (name, link, bytes, error) in cases {
        assert_eq!(parse(link, &bytes), Err(error), "{name}");
        // Every error has a message for the event it becomes.
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn flows_have_one_canonical_key_for_both_directions() {
    let bytes = someip_frame();
    let key = parse(LinkType::Ethernet, &bytes).unwrap().flow().unwrap();
    assert_eq!(
        key,
        FlowKey {
            proto: FlowProto::Udp,
            src: SocketAddr::new(v4(10, 10, 1, 3), 40000),
            dst: SocketAddr::new(v4(10, 10, 2, 2), 30501),
        }
    );
    let reply = FlowKey {
        proto: key.proto,
        src: key.dst,
        dst: key.src,
    };
    assert_ne!(key, reply);
    assert_eq!(key.canonical(), reply.canonical());
    assert_eq!(key.canonical().canonical(), key.canonical());
    let set: HashSet<FlowKey> = [key.canonical(), reply.canonical()].into();
    assert_eq!(set.len(), 1);

    let tcp = parse(LinkType::Ethernet, &doip_frame())
        .unwrap()
        .flow()
        .unwrap();
    assert_eq!(tcp.proto, FlowProto::Tcp);
    assert_eq!(tcp.dst.port(), 13400);
    let v6 = FlowKey {
        proto: FlowProto::Tcp,
        src: SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 1),
        dst: SocketAddr::new(v4(1, 2, 3, 4), 2),
    };
    assert_eq!(v6.canonical().canonical(), v6.canonical());

    for name in ["arp", "icmp", "igmp", "gptp"] {
        let (_, link, bytes) = valid_frames().into_iter().find(|f| f.0 == name).unwrap();
        assert_eq!(parse(link, &bytes).unwrap().flow(), None, "{name}");
    }
}

#[test]
fn display_forms() {
    assert_eq!(mac([1, 3]).to_string(), "02:00:0a:0a:01:03");
    assert_eq!(format!("{:?}", TcpFlags::SYN | TcpFlags::ACK), "SYN|ACK");
    assert_eq!(format!("{:?}", TcpFlags(0)), "-");
    assert_eq!(LinkType::from_pcap(113), Some(LinkType::LinuxSll));
    assert_eq!(LinkType::from_pcap(105), None);
}

/// Checks that every slice of a decoded frame lies inside the input.
fn assert_borrows_input(bytes: &[u8], frame: &Frame<'_>) {
    let inside = |s: &[u8]| {
        let range = bytes.as_ptr_range();
        s.is_empty() || (range.start <= s.as_ptr() && s.as_ptr_range().end <= range.end)
    };
    match transport_of(frame) {
        Some(Transport::Udp(udp)) => assert!(inside(udp.payload)),
        Some(Transport::Tcp(tcp)) => assert!(inside(tcp.payload)),
        _ => {}
    }
    if frame.anomalies.is_empty() {
        assert_eq!(frame.anomalies.capacity(), 0);
    }
}

fn transport_of<'a>(frame: &Frame<'a>) -> Option<Transport<'a>> {
    match frame.net {
        Net::Ip(ip) => Some(ip.transport),
        _ => None,
    }
}

const LINKS: [LinkType; 3] = [LinkType::Ethernet, LinkType::RawIp, LinkType::LinuxSll];

#[test]
fn every_prefix_of_every_frame_is_ok_or_an_error() {
    for (name, frame_link, bytes) in valid_frames() {
        for len in 0..=bytes.len() {
            for link in LINKS {
                if let Ok(frame) = parse(link, &bytes[..len]) {
                    assert_borrows_input(&bytes[..len], &frame);
                }
            }
        }
        // A prefix cut inside the IP packet is reported, never silently short.
        if let Ok(frame) = parse(frame_link, &bytes[..bytes.len() - 1]) {
            if matches!(frame.net, Net::Ip(_)) && !name.contains("icmp") && name != "igmp" {
                assert!(
                    frame
                        .anomalies
                        .iter()
                        .any(|a| matches!(a, FrameAnomaly::Truncated { .. })),
                    "{name}"
                );
            }
        }
    }
}

#[test]
fn hostile_lengths_and_counts() {
    // IPv4 total length 65535 in a 62-byte frame; UDP length 65535.
    let bytes = someip_edited(|b| {
        b[18 + 2..18 + 4].copy_from_slice(&[0xff, 0xff]);
        b[38 + 4..38 + 6].copy_from_slice(&[0xff, 0xff]);
    });
    let frame = parse(LinkType::Ethernet, &bytes).unwrap();
    assert_eq!(
        frame.anomalies,
        [FrameAnomaly::Truncated {
            expected: 65535,
            captured: 44
        }]
    );
    assert_eq!(udp_payload(&frame), Some(&SOMEIP_LOCK[..]));

    // A long chain of IPv6 destination-options headers (60), each pointing to the next.
    let mut chain = RAW_ICMPV6_ECHO[..40].to_vec();
    chain[6] = 60;
    for _ in 0..200 {
        chain.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
    }
    chain[4..6].copy_from_slice(&1600u16.to_be_bytes());
    // etherparse stops at a bounded depth: reported, transport not decoded.
    let frame = parse(LinkType::RawIp, &chain).unwrap();
    assert_eq!(frame.anomalies, [FrameAnomaly::IpExtensions]);
    assert_eq!(transport(&frame), Transport::Other { protocol: 60 });

    // Tags all the way down.
    let mut tags = ETH_VLAN10[..12].to_vec();
    for _ in 0..1000 {
        tags.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
    }
    assert_eq!(
        parse(LinkType::Ethernet, &tags),
        Err(FrameError::TooManyVlanTags)
    );
}

#[test]
fn fuzz_mutated_and_random_frames_never_panic() {
    let frames = valid_frames();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut decoded = 0;
    for _ in 0..100_000 {
        let bytes = if rng.below(8) == 0 {
            (0..rng.below(128)).map(|_| rng.next() as u8).collect()
        } else {
            let mut bytes = frames[rng.below(frames.len())].2.clone();
            for _ in 0..=rng.below(4) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next() as u8;
            }
            if rng.below(4) == 0 {
                bytes.truncate(rng.below(bytes.len() + 1));
            }
            bytes
        };
        for link in LINKS {
            if let Ok(frame) = parse(link, &bytes) {
                assert_borrows_input(&bytes, &frame);
                decoded += 1;
            }
        }
    }
    // The mutations leave most frames decodable, so the deep paths were exercised.
    assert!(decoded > 50_000, "{decoded}");
}

/// What tshark 4.0 reports for a capture, summed (see `capture_summary`).
#[derive(Debug, Default, PartialEq, Eq)]
struct Summary {
    frames: u64,
    udp: u64,
    tcp: u64,
    udp_payload: u64,
    tcp_payload: u64,
    ports: u64,
    seq: u64,
    ack: u64,
    flags: u64,
    window: u64,
    ttl: u64,
    bad_ipv4_checksums: u64,
    /// The bytes of the Ethernet and IPv4 addresses, summed.
    addresses: u64,
    /// FNV-1a over every UDP and TCP payload in frame order.
    payload_fnv: u64,
}

fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn capture_summary(name: &str) -> Summary {
    let mut s = Summary {
        payload_fnv: 0xcbf2_9ce4_8422_2325,
        ..Summary::default()
    };
    replay(&captures().join(name), &mut |link, bytes| {
        let frame = parse(link, bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        s.frames += 1;
        if let Link::Ethernet { src, dst } = frame.link {
            s.addresses += src
                .0
                .iter()
                .chain(&dst.0)
                .map(|b| u64::from(*b))
                .sum::<u64>();
        }
        let Net::Ip(ip) = frame.net else {
            panic!("{name}: not IP")
        };
        for addr in [ip.src, ip.dst] {
            let IpAddr::V4(addr) = addr else {
                panic!("{name}: IPv6")
            };
            s.addresses += addr.octets().iter().map(|b| u64::from(*b)).sum::<u64>();
        }
        s.ttl += u64::from(ip.ttl);
        for anomaly in &frame.anomalies {
            assert_eq!(*anomaly, FrameAnomaly::Ipv4Checksum, "{name}");
            s.bad_ipv4_checksums += 1;
        }
        match ip.transport {
            Transport::Udp(udp) => {
                s.udp += 1;
                s.udp_payload += udp.payload.len() as u64;
                s.ports += u64::from(udp.src_port) + u64::from(udp.dst_port);
                s.payload_fnv = fnv(s.payload_fnv, udp.payload);
            }
            Transport::Tcp(tcp) => {
                s.tcp += 1;
                s.tcp_payload += tcp.payload.len() as u64;
                s.ports += u64::from(tcp.src_port) + u64::from(tcp.dst_port);
                s.seq += u64::from(tcp.seq);
                s.ack += u64::from(tcp.ack);
                s.flags += u64::from(tcp.flags.0);
                s.window += u64::from(tcp.window);
                s.payload_fnv = fnv(s.payload_fnv, tcp.payload);
            }
            other => panic!("{name}: {other:?}"),
        }
    });
    s
}

fn captures() -> PathBuf {
    crate::testing::shared_captures()
}

/// Calls `frame` with the link type and bytes of every frame of a capture.
fn replay(path: &std::path::Path, frame: &mut dyn FnMut(LinkType, &[u8])) {
    capture_file::read(path, &mut |c| {
        let link = LinkType::from_pcap(u32::from(c.link)).expect("a link type the slicer knows");
        frame(link, c.data);
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

/// Whatever captures are there, none makes the slicer panic.
#[test]
fn every_shared_capture_slices_without_panic() {
    for entry in std::fs::read_dir(captures()).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .extension()
            .is_some_and(|e| e == "pcap" || e == "pcapng")
        {
            continue;
        }
        replay(&path, &mut |link, bytes| {
            if let Ok(frame) = parse(link, bytes) {
                assert_borrows_input(bytes, &frame);
            }
        });
    }
}

/// Every frame of the independent captures decodes, field for field, as tshark 4.0 decodes
/// it (the sums were taken from `tshark -T fields` over the same files).
#[test]
fn captures_decode_as_tshark_decodes_them() {
    #[rustfmt::skip]
    let expected: [(&str, Summary); 8] = [
        ("scapy-doip.pcap", Summary { frames: 172, udp: 126, tcp: 46, udp_payload: 4715, tcp_payload: 691, ports: 7_094_030, seq: 27_053_137_932, ack: 51_614_620_788, flags: 1104, window: 1_199_033, ttl: 39467, bad_ipv4_checksums: 0, addresses: 612_808, payload_fnv: 0x127e_5821_c196_4165 }),
        ("scapy-doip_ack.pcap", Summary { frames: 1, udp: 0, tcp: 1, udp_payload: 0, tcp_payload: 16, ports: 22080, seq: 3_822_970, ack: 110, flags: 24, window: 8192, ttl: 64, bad_ipv4_checksums: 1, addresses: 2979, payload_fnv: 0xe942_e1b3_1f6b_dc05 }),
        ("scapy-doip_functional_request.pcap", Summary { frames: 27, udp: 0, tcp: 27, udp_payload: 0, tcp_payload: 171, ports: 1_997_406, seq: 48_778_736_410, ack: 47_995_680_067, flags: 516, window: 142_034, ttl: 1728, bad_ipv4_checksums: 0, addresses: 71820, payload_fnv: 0x43e4_7729_a668_d923 }),
        ("scapy-multiple_doip_layers.pcap", Summary { frames: 2, udp: 0, tcp: 2, udp_payload: 0, tcp_payload: 136, ports: 125_110, seq: 1_879_424_030, ack: 1_879_424_042, flags: 48, window: 65090, ttl: 128, bad_ipv4_checksums: 0, addresses: 4706, payload_fnv: 0xa9cd_6ed2_aa98_9452 }),
        ("someip-firewall-error_on_error_dataset.pcap", Summary { frames: 1810, udp: 1810, tcp: 0, udp_payload: 47595, tcp_payload: 0, ports: 110_395_520, seq: 0, ack: 0, flags: 0, window: 0, ttl: 115_840, bad_ipv4_checksums: 0, addresses: 2_876_190, payload_fnv: 0x0230_2eeb_d9f6_a654 }),
        ("someip-firewall-error_on_event_dataset.pcap", Summary { frames: 1524, udp: 1524, tcp: 0, udp_payload: 39890, tcp_payload: 0, ports: 92_951_808, seq: 0, ack: 0, flags: 0, window: 0, ttl: 97536, bad_ipv4_checksums: 0, addresses: 2_429_296, payload_fnv: 0xbc4e_f9b1_5e5a_dd6a }),
        ("someip-firewall-malformed_payload_dataset.pcap", Summary { frames: 6163, udp: 6163, tcp: 0, udp_payload: 145_507, tcp_payload: 0, ports: 375_893_696, seq: 0, ack: 0, flags: 0, window: 0, ttl: 394_432, bad_ipv4_checksums: 0, addresses: 9_502_955, payload_fnv: 0x98ed_669f_9ab1_cff6 }),
        ("someip-firewall-normal_dataset.pcap", Summary { frames: 5284, udp: 5284, tcp: 0, udp_payload: 126_370, tcp_payload: 0, ports: 322_281_728, seq: 0, ack: 0, flags: 0, window: 0, ttl: 338_176, bad_ipv4_checksums: 0, addresses: 8_147_656, payload_fnv: 0x4412_cead_8b25_abcf }),
    ];
    for (name, summary) in expected {
        assert_eq!(capture_summary(name), summary, "{name}");
    }
}
