//! The network sensor's decoders against Wireshark's, frame by frame: every SOME/IP header
//! field (service, method, client, session, message type, return code, length), every SOME/IP-SD
//! entry (type, service, instance, major version, TTL, eventgroup), every DoIP message (payload
//! type, source, target, logical and tester addresses) and every UDS message (service, reply,
//! refused service and NRC, sub-function, DID, routine) that tshark decodes, vsiem's library
//! decoders decode to the same values, and nothing else. Over ../shared/captures (other
//! projects' captures, which hold no SD) and the Scapy captures of the reference vehicle
//! (tests/scapy/captures.py, generated here), which carry SD, DoIP and UDS of every kind the
//! sensor judges.
//!
//! Both sides decode TCP segment by segment (tshark with `tcp.desegment_tcp_streams:FALSE`),
//! so that a message is compared in the frame that carries it.
//!
//! Needs tshark (Debian: `apt-get install tshark`) and python3 with scapy 2.6.1
//! (`pip install scapy==2.6.1`): without them the test fails saying what to install.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use vsiem_actors::sensor::net::frame::{self, LinkType, Net, Transport};
use vsiem_actors::sensor::net::someip::{EntryKind, MessageType, SomeipError};
use vsiem_actors::sensor::net::uds::{RequestService, ResponseService, Uds};
use vsiem_actors::sensor::net::{capture_file, doip, someip, uds};

#[path = "../../tests/scapy/run.rs"]
mod scapy;

/// The UDP ports tshark is told to decode as SOME/IP (`someip.ports.udp`), and vsiem here:
/// the reference vehicle's (SD 30490, services 30501-30531) and the independent generator's
/// (server 30491, clients 30501).
const SOMEIP_PORTS: std::ops::RangeInclusive<u16> = 30490..=30531;

/// The fields compared, as tshark names them.
const FIELDS: &[&str] = &[
    "someip.serviceid",
    "someip.methodid",
    "someip.clientid",
    "someip.sessionid",
    "someip.messagetype",
    "someip.returncode",
    "someip.length",
    // A SOME/IP message running past its datagram (tshark: "Truncated message!", printed as 1),
    // and a message no decoder can read (tshark: "[Malformed Packet: SOME/IP]", or DoIP, UDS).
    "someip.message_truncated",
    "_ws.malformed",
    "someipsd.entry.type",
    "someipsd.entry.serviceid",
    "someipsd.entry.instanceid",
    "someipsd.entry.majorver",
    "someipsd.entry.ttl",
    "someipsd.entry.eventgroupid",
    "doip.type",
    "doip.source_address",
    "doip.target_address",
    "doip.logical_address",
    "doip.tester_logical_address",
    "uds.sid",
    "uds.reply",
    "uds.err.sid",
    "uds.err.code",
    "uds.dsc.type",
    "uds.er.type",
    "uds.sa.type",
    "uds.rdbi.data_identifier",
    "uds.rc.type",
    "uds.rc.identifier",
];

/// A frame's decoded values: field -> every occurrence, in order.
type Fields = BTreeMap<&'static str, Vec<u64>>;

/// What vsiem's decoders make of one frame, in tshark's terms.
fn vsiem_fields(link: LinkType, bytes: &[u8]) -> Fields {
    let mut f = Fields::new();
    let Ok(frame) = frame::parse(link, bytes) else {
        return f;
    };
    let Net::Ip(ip) = frame.net else {
        return f;
    };
    let (udp, sport, dport, payload) = match ip.transport {
        Transport::Udp(u) => (true, u.src_port, u.dst_port, u.payload),
        Transport::Tcp(t) => (false, t.src_port, t.dst_port, t.payload),
        _ => return f,
    };
    let mut put = |field: &'static str, value: u64| f.entry(field).or_default().push(value);
    if udp && (SOMEIP_PORTS.contains(&sport) || SOMEIP_PORTS.contains(&dport)) {
        for message in someip::messages(payload) {
            let m = match message {
                Ok(m) => m,
                Err(SomeipError::LengthBeyondData { .. }) => {
                    put("someip.message_truncated", 1);
                    break;
                }
                Err(SomeipError::TruncatedHeader { .. }) => {
                    put("_ws.malformed", malformed("SOME/IP"));
                    break;
                }
                Err(_) => break,
            };
            put("someip.serviceid", m.service_id().into());
            put("someip.methodid", m.method_id().into());
            put("someip.clientid", m.client_id().into());
            put("someip.sessionid", m.session_id().into());
            put("someip.messagetype", message_type(m.message_type()));
            put("someip.returncode", m.return_code().into());
            put("someip.length", m.length().into());
            let Ok(sd) = someip::sd(&m) else { continue };
            for e in sd.entries() {
                put("someipsd.entry.type", entry_type(e.kind()));
                put("someipsd.entry.serviceid", e.service_id().into());
                put("someipsd.entry.instanceid", e.instance_id().into());
                put("someipsd.entry.majorver", e.major_version().into());
                put("someipsd.entry.ttl", e.ttl().into());
                if let Some(group) = e.eventgroup_id() {
                    put("someipsd.entry.eventgroupid", group.into());
                }
            }
        }
    }
    if sport == doip::PORT || dport == doip::PORT {
        for message in doip::messages(payload) {
            let Ok(d) = message.and_then(doip::parse) else {
                put("_ws.malformed", malformed("DoIP"));
                continue;
            };
            put("doip.type", d.payload_type().0.into());
            match d {
                doip::Doip::RoutingActivationRequest(r) => {
                    put("doip.source_address", r.source.into())
                }
                doip::Doip::RoutingActivationResponse(r) => {
                    put("doip.tester_logical_address", r.tester.into());
                    put("doip.source_address", r.entity.into());
                }
                doip::Doip::AliveCheckResponse { source } => {
                    put("doip.source_address", source.into())
                }
                doip::Doip::VehicleAnnouncement(a) => {
                    put("doip.logical_address", a.logical_address.into())
                }
                doip::Doip::DiagnosticAck(a) => {
                    put("doip.source_address", a.source.into());
                    put("doip.target_address", a.target.into());
                }
                doip::Doip::DiagnosticNack(n) => {
                    put("doip.source_address", n.source.into());
                    put("doip.target_address", n.target.into());
                }
                doip::Doip::DiagnosticMessage(m) => {
                    put("doip.source_address", m.source.into());
                    put("doip.target_address", m.target.into());
                    match uds::parse(m.user_data) {
                        Ok(u) => uds_fields(&u, &mut put),
                        Err(_) => put("_ws.malformed", malformed("UDS")),
                    }
                }
                _ => {}
            }
        }
    }
    f
}

/// A UDS message's fields as Wireshark shows them: `uds.sid` without the reply bit (0x3F for
/// a negative response, whose refused service is `uds.err.sid`).
fn uds_fields(u: &Uds<'_>, put: &mut impl FnMut(&'static str, u64)) {
    let routine = |control: u8, id: u16| {
        vec![
            ("uds.rc.type", control.into()),
            ("uds.rc.identifier", id.into()),
        ]
    };
    let (sid, reply, params): (u8, u64, Vec<(&'static str, u64)>) = match u {
        Uds::Request(r) => (
            r.sid.0,
            0,
            match r.service {
                RequestService::DiagnosticSessionControl { session } => {
                    vec![("uds.dsc.type", session.0.into())]
                }
                RequestService::EcuReset { reset_type } => vec![("uds.er.type", reset_type.into())],
                RequestService::SecurityAccess { sub_function, .. } => {
                    vec![("uds.sa.type", sub_function.into())]
                }
                RequestService::ReadDataByIdentifier { dids } => dids
                    .iter()
                    .map(|did| ("uds.rdbi.data_identifier", did.into()))
                    .collect(),
                RequestService::RoutineControl {
                    control_type,
                    routine_id,
                    ..
                } => routine(control_type, routine_id),
                _ => vec![],
            },
        ),
        Uds::PositiveResponse(r) => (
            r.sid.0,
            1,
            match r.service {
                ResponseService::DiagnosticSessionControl { session, .. } => {
                    vec![("uds.dsc.type", session.0.into())]
                }
                ResponseService::EcuReset { reset_type, .. } => {
                    vec![("uds.er.type", reset_type.into())]
                }
                ResponseService::SecurityAccess { sub_function, .. } => {
                    vec![("uds.sa.type", sub_function.into())]
                }
                ResponseService::ReadDataByIdentifier { did, .. } => {
                    vec![("uds.rdbi.data_identifier", did.into())]
                }
                ResponseService::RoutineControl {
                    control_type,
                    routine_id,
                    ..
                } => routine(control_type, routine_id),
                _ => vec![],
            },
        ),
        Uds::NegativeResponse(n) => (
            0x3F,
            1,
            vec![
                ("uds.err.sid", n.sid.0.into()),
                ("uds.err.code", n.nrc.0.into()),
            ],
        ),
    };
    put("uds.sid", sid.into());
    put("uds.reply", reply);
    for (field, value) in params {
        put(field, value);
    }
}

/// The message type byte vsiem's classification stands for.
fn message_type(t: MessageType) -> u64 {
    match t {
        MessageType::Request => 0x00,
        MessageType::RequestNoReturn => 0x01,
        MessageType::Notification => 0x02,
        MessageType::Response => 0x80,
        MessageType::Error => 0x81,
        MessageType::TpRequest => 0x20,
        MessageType::TpRequestNoReturn => 0x21,
        MessageType::TpNotification => 0x22,
        MessageType::TpResponse => 0xA0,
        MessageType::TpError => 0xA1,
    }
}

/// The SD entry type byte vsiem's classification stands for.
fn entry_type(kind: EntryKind) -> u64 {
    match kind {
        EntryKind::FindService => 0x00,
        EntryKind::OfferService | EntryKind::StopOfferService => 0x01,
        EntryKind::SubscribeEventgroup | EntryKind::StopSubscribeEventgroup => 0x06,
        EntryKind::SubscribeEventgroupAck | EntryKind::SubscribeEventgroupNack => 0x07,
    }
}

/// The header fields (the first of `FIELDS`) of a message that runs past its datagram:
/// tshark shows them, vsiem refuses the message as a whole (`someip.malformed`), so they are
/// not compared.
const HEADER_FIELDS: std::ops::Range<usize> = 0..7;

/// tshark's values without those of a truncated SOME/IP message (the last one of its
/// datagram) and without unnamed expert items.
fn without_truncated(mut fields: Fields) -> Fields {
    if let Some(values) = fields.get_mut("_ws.malformed") {
        values.retain(|v| *v != MALFORMED_UNNAMED);
        if values.is_empty() {
            fields.remove("_ws.malformed");
        }
    }
    if fields.contains_key("someip.message_truncated") {
        for field in &FIELDS[HEADER_FIELDS] {
            if let Some(values) = fields.get_mut(field) {
                values.pop();
                if values.is_empty() {
                    fields.remove(field);
                }
            }
        }
    }
    fields
}

/// What tshark makes of every frame of `capture`, by frame number.
fn tshark_fields(capture: &Path) -> BTreeMap<usize, Fields> {
    let mut command = Command::new("tshark");
    command
        .arg("-r")
        .arg(capture)
        .args(["-o", "tcp.desegment_tcp_streams:FALSE"])
        .args([
            "-o",
            &format!(
                "someip.ports.udp:{}-{}",
                SOMEIP_PORTS.start(),
                SOMEIP_PORTS.end()
            ),
        ])
        .args([
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=,",
            "-e",
            "frame.number",
        ]);
    for field in FIELDS {
        command.args(["-e", field]);
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("this test needs tshark (`apt-get install tshark`): {e}"));
    assert!(
        output.status.success(),
        "tshark failed on {}: {}",
        capture.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let mut columns = line.split('\t');
            let number = columns
                .next()
                .and_then(|n| n.parse().ok())
                .expect("a frame number");
            let fields = FIELDS
                .iter()
                .zip(columns)
                .filter(|(_, values)| !values.is_empty())
                .map(|(field, values)| (*field, values.split(',').map(number_of).collect()))
                .collect();
            (number, without_truncated(fields))
        })
        .collect()
}

/// The protocols whose malformed messages are compared, as `_ws.malformed` names them.
const MALFORMED: [&str; 3] = ["SOME/IP", "DoIP", "UDS"];

fn malformed(protocol: &str) -> u64 {
    MALFORMED
        .iter()
        .position(|p| *p == protocol)
        .map_or(u64::MAX, |i| i as u64)
}

/// What tshark prints for `_ws.malformed` as the expert item beside the protocol's own
/// "[Malformed Packet: ...]" (and alone for a truncated SOME/IP message): dropped.
const MALFORMED_UNNAMED: u64 = u64::MAX - 1;

fn number_of(text: &str) -> u64 {
    if text == "_ws.malformed" {
        return MALFORMED_UNNAMED;
    }
    if let Some(protocol) = text
        .strip_prefix("[Malformed Packet: ")
        .and_then(|t| t.strip_suffix(']'))
    {
        return malformed(protocol);
    }
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    }
    .unwrap_or_else(|e| panic!("tshark printed {text:?}: {e}"))
}

#[test]
fn decoded_fields_match_tsharks_frame_by_frame() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures");
    let mut captures: Vec<PathBuf> = std::fs::read_dir(&shared)
        .expect("../shared/captures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    captures.sort();
    let dir = tempfile::tempdir().unwrap();
    captures.extend(
        scapy::captures(dir.path())
            .into_iter()
            .map(|(_, path)| path),
    );

    // Values compared per field, over every capture, and every disagreement.
    let mut compared: BTreeMap<&str, usize> = BTreeMap::new();
    let mut frames = 0;
    let mut differences = Vec::new();
    for capture in &captures {
        let theirs = tshark_fields(capture);
        let mut number = 0;
        capture_file::read(capture, &mut |c| {
            number += 1;
            let link = LinkType::from_pcap(u32::from(c.link)).expect("a supported link type");
            let ours = vsiem_fields(link, c.data);
            let empty = Fields::new();
            let tshark = theirs.get(&number).unwrap_or(&empty);
            for field in FIELDS {
                let (a, b) = (ours.get(field), tshark.get(field));
                if a != b {
                    differences.push(format!(
                        "{} frame {number} {field}: vsiem {a:x?}, tshark {b:x?}",
                        capture.file_name().unwrap_or_default().to_string_lossy()
                    ));
                }
                *compared.entry(field).or_default() += a.map_or(0, Vec::len);
            }
        })
        .expect("the capture reads");
        assert_eq!(
            number,
            theirs.len(),
            "{}: frame counts differ",
            capture.display()
        );
        frames += number;
    }
    eprintln!(
        "{frames} frames of {} captures compared with tshark:",
        captures.len()
    );
    for (field, n) in &compared {
        eprintln!("  {n:>7}  {field}");
    }
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
    for field in FIELDS {
        assert!(
            compared[field] > 0,
            "no {field} in any capture: the comparison proves nothing there"
        );
    }
}
