//! Writes the seed corpus of every fuzz target under `tests/fuzz/corpus/<target>/`: the frames
//! of the independent captures (`../shared/captures`) and what the decoders find in them (SOME/IP
//! datagrams, DoIP messages and the UDS they carry, DoIP TCP segments), one SOME/IP-SD offer, one
//! DNS query and one TLS ClientHello, encoded security events of each context, and the reference topology and
//! rules. Existing files are kept, so that what the fuzzer found stays in the corpus.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flatbuffers::FlatBufferBuilder;
use vsiem_decode::frame::{self, LinkType, Net, Transport};
use vsiem_decode::{capture_file, doip, someip};
use vsiem_schemas::encode::{
    self, ContextDraft, EventDraft, FileChangeDraft, NetworkFlowDraft, SensorHealthDraft,
    SomeipCallDraft, Stamp, VehicleSnapshot,
};
use vsiem_schemas::{catalog, wire};
use vsiem_topology::REFERENCE_TOML;

/// Frames taken from each capture: enough for every protocol in it, few enough to start fast.
const FRAMES_PER_CAPTURE: usize = 300;
const DOIP_PORT: u16 = 13400;
/// A DNS query for maps.vendor.example.
const DNS_QUERY: &str =
    "123401000001000000000000046d6170730676656e646f72076578616d706c650000010001";
/// A SOME/IP-SD OfferService of DoorLock (0x1101) by body-dc with its IPv4 endpoint option (the
/// independent captures have no SD).
const SD_OFFER: &str = "ffff8100000000300000000101010200c000000000000010010000101101000101000003000000000000000c000904000a0a020200117725";
/// A TLS ClientHello naming media.vendor.example.
const CLIENT_HELLO: &str = "160301004c010000480303070707070707070707070707070707070707070707070707070707070707070700000213010100001d0000001900170000146d656469612e76656e646f722e6578616d706c65";

#[derive(Default)]
struct Corpus(BTreeMap<&'static str, Vec<Vec<u8>>>);

impl Corpus {
    fn add(&mut self, target: &'static str, input: &[u8]) {
        self.0.entry(target).or_default().push(input.to_vec());
    }

    /// Writes each input as `seed-<n>`; returns how many inputs each target got.
    fn write(self, dir: &Path) -> std::io::Result<Vec<(&'static str, usize)>> {
        let mut counts = Vec::new();
        for (target, mut inputs) in self.0 {
            inputs.sort();
            inputs.dedup();
            let target_dir = dir.join(target);
            std::fs::create_dir_all(&target_dir)?;
            for (n, input) in inputs.iter().enumerate() {
                std::fs::write(target_dir.join(format!("seed-{n}")), input)?;
            }
            counts.push((target, inputs.len()));
        }
        Ok(counts)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let captures = fuzz_dir.join("../../../shared/captures");
    let mut corpus = Corpus::default();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&captures)
        .map_err(|e| format!("{}: {e}", captures.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    names.sort();
    for path in &names {
        let mut taken = 0;
        capture_file::read(path, &mut |c| {
            if taken < FRAMES_PER_CAPTURE {
                taken += 1;
                seed_frame(&mut corpus, u32::from(c.link), c.data);
            }
        })?;
    }
    corpus.add("someip_sd", &hex(SD_OFFER));
    corpus.add("dns", &hex(DNS_QUERY));
    corpus.add("tls_sni", &hex(CLIENT_HELLO));
    for event in events() {
        corpus.add("gateway_event", &event);
    }
    corpus.add("topology", REFERENCE_TOML.as_bytes());
    for (_, text) in vsiem_rules::REFERENCE_RULES {
        corpus.add("rules", text.as_bytes());
    }
    for (target, n) in corpus.write(&fuzz_dir.join("corpus"))? {
        println!("{target}: {n} seeds");
    }
    Ok(())
}

/// One captured frame, and what each decoder's target can take from it.
fn seed_frame(corpus: &mut Corpus, link: u32, data: &[u8]) {
    corpus.add("frame", data);
    let Some(Ok(frame)) = LinkType::from_pcap(link).map(|l| frame::parse(l, data)) else {
        return;
    };
    let Net::Ip(ip) = frame.net else {
        return;
    };
    match ip.transport {
        Transport::Udp(u) if u.dst_port == DOIP_PORT || u.src_port == DOIP_PORT => {
            seed_doip(corpus, u.payload);
        }
        Transport::Udp(u) => {
            corpus.add("someip", u.payload);
            if someip::messages(u.payload).flatten().any(|m| m.is_sd()) {
                corpus.add("someip_sd", u.payload);
            }
        }
        Transport::Tcp(t) if !t.payload.is_empty() => {
            if t.dst_port == DOIP_PORT || t.src_port == DOIP_PORT {
                seed_doip(corpus, t.payload);
            }
            // The reassembly target's input: flow, sequence number, flags, length, payload.
            let len = u8::try_from(t.payload.len().min(255)).unwrap_or(u8::MAX);
            let mut segment = vec![(t.src_port % 8) as u8];
            segment.extend(t.seq.to_be_bytes());
            segment.extend([t.flags.0, len]);
            segment.extend(&t.payload[..usize::from(len)]);
            corpus.add("tcp_reassembly", &segment);
        }
        _ => {}
    }
}

fn seed_doip(corpus: &mut Corpus, payload: &[u8]) {
    corpus.add("doip", payload);
    for message in doip::messages(payload).flatten() {
        if let Ok(doip::Doip::DiagnosticMessage(d)) = doip::parse(message) {
            corpus.add("uds", d.user_data);
        }
    }
}

/// One encoded security event per kind of context.
fn events() -> Vec<Vec<u8>> {
    let stamp = Stamp {
        vin: "5VS1M00REF0000001",
        ecu: "body-dc",
        sensor: "someip",
        seq: 7,
        timestamp_ns: 1_700_000_000_000_000_000,
        boot_ns: 1_699_999_000_000_000_000,
    };
    let contexts = [
        (
            &catalog::SOMEIP_UNAUTHORIZED_CLIENT,
            ContextDraft::SomeipCall(SomeipCallDraft {
                service: 0x1101,
                method: 0x0002,
                client: 0x0003,
                session: 1,
                message_type: 0,
                return_code: 0,
                src: "10.10.1.3:40000".into(),
                dst: "10.10.2.2:30501".into(),
            }),
        ),
        (
            &catalog::NET_PORT_SCAN,
            ContextDraft::NetworkFlow(NetworkFlowDraft {
                transport: wire::Transport::Tcp,
                src: "10.10.1.3:40000".into(),
                dst: "10.10.2.2:22".into(),
                vlan: 10,
                bytes: 74,
            }),
        ),
        (
            &catalog::HOST_FILE_TAMPERED,
            ContextDraft::FileChange(FileChangeDraft {
                path: "/opt/ivi/system/bin/ivi-update".into(),
                kind: wire::FileChangeKind::Modified,
                read_only: true,
                old_hash: vec![0xab; 32],
                new_hash: vec![0xcd; 32],
            }),
        ),
        (
            &catalog::SENSOR_SEQUENCE_GAP,
            ContextDraft::SensorHealth(SensorHealthDraft {
                subject: "ivi/files".into(),
                reason: "3 of sequence numbers 4 to 6 missing".into(),
                restarts: 0,
                dropped: 3,
            }),
        ),
        (
            &catalog::UDS_DANGEROUS_SERVICE_WHILE_MOVING,
            ContextDraft::VehicleState(VehicleSnapshot::default()),
        ),
        (&catalog::IOC_DNS, ContextDraft::None),
    ];
    let mut fbb = FlatBufferBuilder::new();
    contexts
        .into_iter()
        .map(|(kind, context)| {
            let draft = EventDraft {
                event_id: kind.id,
                severity: kind.severity,
                count: 1,
                timestamp_ns: stamp.timestamp_ns,
                origin: "ivi".into(),
                context,
                evidence: b"evidence".to_vec(),
            };
            encode::event(&mut fbb, &stamp, &draft).to_vec()
        })
        .collect()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("a hex literal"))
        .collect()
}
