//! The pipeline over frames of the reference vehicle built here (Ethernet, 802.1Q, IPv4,
//! UDP/TCP by etherparse; SOME/IP by someip-rs; SD, DNS, DoIP, UDS and TLS by hand): every
//! detection fires on its attack, and normal traffic yields no event at all.

use std::net::Ipv4Addr;
use std::sync::Arc;

use etherparse::{PacketBuilder, VlanId};
use someip_rs::{ClientId, MethodId, ServiceId, SomeIpMessage};
use vsiem_topology::{mac_address, Limits, Topology};

use super::Pipeline;
use crate::sensor::net::frame::LinkType;

const IVI: [u8; 4] = [10, 10, 1, 3];
const TCU: [u8; 4] = [10, 10, 1, 2];
const GW_INFO: [u8; 4] = [10, 10, 1, 1];
const BODY: [u8; 4] = [10, 10, 2, 2];
const GW_CHASSIS: [u8; 4] = [10, 10, 3, 1];
const CHASSIS: [u8; 4] = [10, 10, 3, 3];
const POWERTRAIN: [u8; 4] = [10, 10, 3, 2];
const TESTER: [u8; 4] = [10, 10, 9, 100];
const GW_DIAG: [u8; 4] = [10, 10, 9, 1];
const SD_GROUP: [u8; 4] = [224, 224, 224, 245];

fn mac(ip: [u8; 4]) -> [u8; 6] {
    mac_address(Ipv4Addr::from(ip))
}

fn udp(vlan: u16, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(mac(src), mac(dst))
        .single_vlan(VlanId::try_new(vlan).unwrap())
        .ipv4(src, dst, 64)
        .udp(sport, dport);
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, payload).unwrap();
    frame
}

fn tcp(
    vlan: u16,
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(mac(src), mac(dst))
        .single_vlan(VlanId::try_new(vlan).unwrap())
        .ipv4(src, dst, 64)
        .tcp(sport, dport, seq, 64_000)
        .psh()
        .ack(1);
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, payload).unwrap();
    frame
}

fn someip_request(service: u16, method: u16, client: u16) -> Vec<u8> {
    SomeIpMessage::request(ServiceId(service), MethodId(method))
        .client_id(ClientId(client))
        .build()
        .to_bytes()
}

fn someip_event(service: u16, event: u16, payload: &[u8]) -> Vec<u8> {
    SomeIpMessage::notification(ServiceId(service), MethodId(event))
        .payload(payload.to_vec())
        .build()
        .to_bytes()
}

/// A SOME/IP-SD message with one entry (0x00 FindService, 0x01 OfferService) and no options.
fn sd(entry_type: u8, service: u16) -> Vec<u8> {
    let mut entry = vec![entry_type, 0, 0, 0];
    entry.extend(service.to_be_bytes());
    entry.extend([0x00, 0x01, 0x01, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00]); // instance 1, major 1, TTL 3, minor 0
    let mut payload = vec![0xC0, 0, 0, 0];
    payload.extend(u32::try_from(entry.len()).unwrap().to_be_bytes());
    payload.extend(entry);
    payload.extend(0u32.to_be_bytes());
    let mut message = vec![0xFF, 0xFF, 0x81, 0x00];
    message.extend(u32::try_from(payload.len() + 8).unwrap().to_be_bytes());
    message.extend([0x00, 0x00, 0x00, 0x01, 0x01, 0x01, 0x02, 0x00]);
    message.extend(payload);
    message
}

fn dns_query(name: &str) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(u8::try_from(label.len()).unwrap());
        q.extend(label.bytes());
    }
    q.extend([0, 0, 1, 0, 1]);
    q
}

fn doip(payload_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![0x02, 0xFD];
    m.extend(payload_type.to_be_bytes());
    m.extend(u32::try_from(payload.len()).unwrap().to_be_bytes());
    m.extend(payload);
    m
}

fn routing_activation(source: u16) -> Vec<u8> {
    let mut p = source.to_be_bytes().to_vec();
    p.extend([0x00, 0, 0, 0, 0]);
    doip(0x0005, &p)
}

fn uds(source: u16, target: u16, data: &[u8]) -> Vec<u8> {
    let mut p = source.to_be_bytes().to_vec();
    p.extend(target.to_be_bytes());
    p.extend(data);
    doip(0x8001, &p)
}

/// A TLS 1.3-style ClientHello naming `host`.
fn client_hello(host: &str) -> Vec<u8> {
    let name = host.as_bytes();
    let mut sni = vec![0x00];
    sni.extend(u16::try_from(name.len()).unwrap().to_be_bytes());
    sni.extend(name);
    let mut ext = vec![0x00, 0x00];
    ext.extend(u16::try_from(sni.len() + 2).unwrap().to_be_bytes());
    ext.extend(u16::try_from(sni.len()).unwrap().to_be_bytes());
    ext.extend(sni);
    let mut body = vec![0x03, 0x03];
    body.extend([7u8; 32]);
    body.extend([0x00, 0x00, 0x02, 0x13, 0x01, 0x01, 0x00]);
    body.extend(u16::try_from(ext.len()).unwrap().to_be_bytes());
    body.extend(ext);
    let mut handshake = vec![0x01, 0x00];
    handshake.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend(u16::try_from(handshake.len()).unwrap().to_be_bytes());
    record.extend(handshake);
    record
}

/// An ARP reply: `ip` is at `mac`.
fn arp_reply(mac: [u8; 6], ip: [u8; 4]) -> Vec<u8> {
    let mut frame = vec![0xff; 6];
    frame.extend(mac);
    frame.extend([0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02]);
    frame.extend(mac);
    frame.extend(ip);
    frame.extend([0xff; 6]);
    frame.extend([10, 10, 2, 255]);
    frame
}

/// The vehicle driving: 30 km/h in D, as the chassis and engine report it.
fn driving() -> Vec<Vec<u8>> {
    vec![
        udp(
            30,
            CHASSIS,
            30511,
            GW_CHASSIS,
            30511,
            &someip_event(0x2101, 0x8001, &3000u16.to_be_bytes()),
        ),
        udp(
            30,
            POWERTRAIN,
            30521,
            GW_CHASSIS,
            30521,
            &someip_event(0x2201, 0x8001, &[3]),
        ),
    ]
}

fn parked() -> Vec<Vec<u8>> {
    vec![
        udp(
            30,
            CHASSIS,
            30511,
            GW_CHASSIS,
            30511,
            &someip_event(0x2101, 0x8001, &[0, 0]),
        ),
        udp(
            30,
            POWERTRAIN,
            30521,
            GW_CHASSIS,
            30521,
            &someip_event(0x2201, 0x8001, &[0]),
        ),
    ]
}

/// What, the frames in capture order, and the events expected.
type Case = (&'static str, Vec<Vec<u8>>, Vec<&'static str>);

fn run(frames: &[Vec<u8>]) -> Vec<&'static str> {
    let mut pipeline = Pipeline::new(Arc::new(Topology::reference()), 7447);
    let mut out = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        pipeline.frame(LinkType::Ethernet, 1_000 * (i as u64 + 1), frame, &mut out);
    }
    assert_eq!(
        pipeline.counters.undecodable, 0,
        "a frame built here did not decode"
    );
    out.into_iter().map(|d| d.kind.name).collect()
}

#[test]
fn every_detection_fires_on_its_attack() {
    let key = |k: u8| uds(0x0E00, 0x1001, &[0x27, 0x02, k, k]);
    let cases: Vec<Case> = vec![
        (
            "ivi unlocks",
            vec![udp(
                10,
                IVI,
                40000,
                BODY,
                30501,
                &someip_request(0x1101, 0x0002, 0x0003),
            )],
            vec!["someip.unauthorized_client"],
        ),
        (
            "ivi borrows tcu's id",
            vec![udp(
                10,
                IVI,
                40000,
                BODY,
                30501,
                &someip_request(0x1101, 0x0002, 0x0002),
            )],
            vec!["someip.unauthorized_client"],
        ),
        (
            "unknown method",
            vec![udp(
                10,
                IVI,
                40000,
                BODY,
                30501,
                &someip_request(0x1101, 0x0009, 0x0003),
            )],
            vec!["someip.unknown_method"],
        ),
        (
            "another ECU's service",
            vec![udp(
                10,
                IVI,
                40000,
                BODY,
                30501,
                &someip_request(0x2101, 0x0001, 0x0003),
            )],
            vec!["someip.unknown_service"],
        ),
        (
            "not SOME/IP on a service port",
            vec![udp(10, IVI, 40000, BODY, 30501, &[0])],
            vec!["someip.malformed"],
        ),
        (
            "ivi offers the door lock",
            vec![udp(10, IVI, 30490, SD_GROUP, 30490, &sd(0x01, 0x1101))],
            vec!["someip_sd.offer_spoof"],
        ),
        (
            "tcu looks for the ADAS status it may not use, twice (reported once)",
            vec![udp(10, TCU, 30490, SD_GROUP, 30490, &sd(0x00, 0x3101)); 2],
            vec!["someip_sd.find_scan"],
        ),
        (
            "ivi probes for a service the vehicle does not have",
            vec![udp(10, IVI, 30490, SD_GROUP, 30490, &sd(0x00, 0x4242))],
            vec!["someip_sd.find_scan"],
        ),
        (
            "C&C lookup",
            vec![udp(10, IVI, 5353, TCU, 53, &dns_query("c2.evil.example"))],
            vec!["ioc.dns"],
        ),
        (
            "C&C TLS",
            vec![tcp(
                10,
                IVI,
                40000,
                [93, 184, 216, 34],
                443,
                1,
                &client_hello("update-cdn.evil.example"),
            )],
            vec!["ioc.tls_sni"],
        ),
        (
            "C&C address",
            vec![tcp(10, IVI, 40000, [203, 0, 113, 66], 443, 1, &[1, 2, 3])],
            vec!["ioc.ip"],
        ),
        (
            "ivi on the body VLAN",
            vec![udp(
                20,
                IVI,
                40000,
                BODY,
                30501,
                &someip_request(0x1101, 0x0001, 0x0003),
            )],
            vec!["net.vlan_violation"],
        ),
        (
            "ivi telnets the tcu",
            vec![tcp(10, IVI, 40000, TCU, 23, 1, b"root\n")],
            vec!["net.flow_not_allowed"],
        ),
        (
            "stranger in the body zone",
            vec![udp(20, [10, 10, 2, 77], 40000, BODY, 30501, &[0])],
            vec![
                "net.unknown_host",
                "net.flow_not_allowed",
                "someip.malformed",
            ],
        ),
        (
            "ivi asks the gateway for routing",
            vec![tcp(
                10,
                IVI,
                40000,
                GW_INFO,
                13400,
                1,
                &routing_activation(0x0E00),
            )],
            vec![
                "net.flow_not_allowed",
                "doip.routing_activation_unauthorized",
            ],
        ),
        (
            // The header in one segment, the rest in the next: one message, not two errors.
            "ivi asks for routing in two segments",
            {
                let request = routing_activation(0x0E00);
                vec![
                    tcp(10, IVI, 40000, GW_INFO, 13400, 1, &request[..8]),
                    tcp(10, IVI, 40000, GW_INFO, 13400, 9, &request[8..]),
                ]
            },
            vec![
                "net.flow_not_allowed",
                "doip.routing_activation_unauthorized",
            ],
        ),
        (
            "tester routing while moving",
            [
                driving(),
                vec![tcp(
                    90,
                    TESTER,
                    40000,
                    GW_DIAG,
                    13400,
                    1,
                    &routing_activation(0x0E00),
                )],
            ]
            .concat(),
            vec!["doip.routing_activation_unauthorized"],
        ),
        (
            "ECU reset while moving",
            [
                driving(),
                vec![tcp(
                    90,
                    TESTER,
                    40000,
                    GW_DIAG,
                    13400,
                    1,
                    &uds(0x0E00, 0x1001, &[0x11, 0x01]),
                )],
            ]
            .concat(),
            vec!["uds.dangerous_service_while_moving"],
        ),
        (
            "the ivi's MAC claims body-dc's address",
            vec![arp_reply(mac(IVI), BODY)],
            vec!["net.arp_spoof"],
        ),
        (
            "not DoIP on the DoIP port",
            vec![udp(
                90,
                TESTER,
                40000,
                GW_DIAG,
                13400,
                &[0x02, 0x02, 0, 5, 0, 0, 0, 0],
            )],
            vec!["doip.malformed"],
        ),
        (
            "security access keys guessed",
            [
                parked(),
                vec![tcp(
                    90,
                    TESTER,
                    40000,
                    GW_DIAG,
                    13400,
                    1,
                    &[key(1), key(2), key(3)].concat(),
                )],
            ]
            .concat(),
            vec!["uds.security_access_bruteforce"],
        ),
    ];
    for (what, frames, want) in cases {
        assert_eq!(run(&frames), want, "{what}");
    }
}

#[test]
fn normal_traffic_of_the_reference_vehicle_yields_no_event() {
    let frames = [
        vec![arp_reply(mac(BODY), BODY)],
        parked(),
        driving(),
        vec![
            udp(
                10,
                IVI,
                40000,
                BODY,
                30501,
                &someip_request(0x1101, 0x0001, 0x0003),
            ),
            udp(
                10,
                TCU,
                40001,
                BODY,
                30501,
                &someip_request(0x1101, 0x0002, 0x0002),
            ),
            udp(
                20,
                BODY,
                30501,
                TCU,
                40001,
                &someip_event(0x1101, 0x8001, &[0]),
            ),
            udp(20, BODY, 30490, SD_GROUP, 30490, &sd(0x01, 0x1101)),
            udp(10, IVI, 30490, SD_GROUP, 30490, &sd(0x00, 0x1101)),
            udp(10, IVI, 5353, TCU, 53, &dns_query("maps.vendor.example")),
            tcp(
                10,
                IVI,
                40002,
                [93, 184, 216, 34],
                443,
                1,
                &client_hello("media.vendor.example"),
            ),
            tcp(20, BODY, 40003, [10, 10, 2, 1], 7447, 1, b"zenoh"),
        ],
        parked(),
        vec![
            tcp(
                90,
                TESTER,
                40004,
                GW_DIAG,
                13400,
                1,
                &routing_activation(0x0E00),
            ),
            tcp(
                90,
                TESTER,
                40004,
                GW_DIAG,
                13400,
                16, // after the 15-byte routing activation
                &uds(0x0E00, 0x1001, &[0x3E, 0x00]),
            ),
            tcp(
                90,
                TESTER,
                40004,
                GW_DIAG,
                13400,
                30, // after the 14-byte TesterPresent
                &uds(0x0E00, 0x1001, &[0x11, 0x01]),
            ),
        ],
    ]
    .concat();
    assert_eq!(run(&frames), Vec::<&str>::new());
}

/// The events (type, origin) of `frames` through a pipeline with the reference's `[limits]`
/// changed by `tighten`, and how many frames did not decode.
fn run_limited(tighten: fn(&mut Limits), frames: &[Vec<u8>]) -> (Vec<(&'static str, String)>, u64) {
    let mut topology = Topology::reference();
    tighten(&mut topology.limits);
    let mut pipeline = Pipeline::new(Arc::new(topology), 7447);
    let mut out = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        pipeline.frame(LinkType::Ethernet, 1_000 * (i as u64 + 1), frame, &mut out);
    }
    let events = out.into_iter().map(|d| (d.kind.name, d.origin)).collect();
    (events, pipeline.counters.undecodable)
}

#[test]
fn frames_beyond_a_limit_or_undecodable_are_events() {
    let unlock = udp(
        10,
        IVI,
        40000,
        BODY,
        30501,
        &someip_request(0x1101, 0x0002, 0x0003),
    );
    // The IVI's Unlock with 100 bytes of arguments: 162 bytes on the wire.
    let long_unlock = SomeIpMessage::request(ServiceId(0x1101), MethodId(0x0002))
        .client_id(ClientId(0x0003))
        .payload(vec![0; 100])
        .build()
        .to_bytes();
    let mut oversized = someip_request(0x1101, 0x0001, 0x0003);
    oversized[4..8].copy_from_slice(&100_000u32.to_be_bytes());
    // A DoIP diagnostic message header announcing 1000 bytes.
    let mut header = doip(0x8001, &[]);
    header[4..8].copy_from_slice(&1000u32.to_be_bytes());
    let reference: fn(&mut Limits) = |_| {};
    type LimitCase = (
        &'static str,
        fn(&mut Limits),
        Vec<Vec<u8>>,
        Vec<(&'static str, &'static str)>,
        u64,
    );
    let cases: Vec<LimitCase> = vec![
        (
            // The IVI's Unlock in a frame over the limit: attributed, not judged.
            "frame too large",
            |l| l.frame_max_bytes = 161,
            vec![udp(10, IVI, 40000, BODY, 30501, &long_unlock)],
            vec![("limit.frame_too_large", "ivi")],
            0,
        ),
        (
            "truncated IPv4 header",
            reference,
            vec![unlock[..30].to_vec()],
            vec![("net.malformed_frame", "")],
            1,
        ),
        (
            "SOME/IP length beyond the limit",
            reference,
            vec![udp(10, IVI, 40000, BODY, 30501, &oversized)],
            vec![("limit.someip_too_large", "ivi")],
            0,
        ),
        (
            "TCP bytes pending beyond the limit",
            |l| l.tcp_pending_bytes_per_flow = 64,
            vec![
                tcp(90, TESTER, 40004, GW_DIAG, 13400, 1, &header),
                tcp(90, TESTER, 40004, GW_DIAG, 13400, 9, &[0; 64]),
            ],
            vec![("limit.tcp_pending_exceeded", "")],
            0,
        ),
        (
            "TCP flows beyond the limit",
            |l| l.tcp_max_flows = 1,
            vec![
                tcp(90, TESTER, 40004, GW_DIAG, 13400, 1, &header),
                tcp(90, TESTER, 40005, GW_DIAG, 13400, 1, &header),
            ],
            vec![("limit.tcp_flows_exceeded", "")],
            0,
        ),
    ];
    for (what, tighten, frames, want, undecodable) in cases {
        let (events, bad) = run_limited(tighten, &frames);
        let events: Vec<(&str, &str)> = events.iter().map(|(k, o)| (*k, o.as_str())).collect();
        assert_eq!((events, bad), (want, undecodable), "{what}");
    }
}
