//! Criterion benchmarks of the wire kernels every security event crosses: a sensor's uplink
//! encodes it, the gateway verifies it in place and reads the fields it routes and correlates on.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flatbuffers::FlatBufferBuilder;
use vsiem_schemas::encode::{self, ContextDraft, EventDraft, SomeipCallDraft, Stamp};
use vsiem_schemas::{catalog, read};

/// The reference attack's lateral movement as the body controller's SOME/IP sensor reports it:
/// the IVI calling the door-lock service, with the request header as evidence. Its size and shape
/// are those of the events that decide a block, so the figures are the hot path's.
fn lateral_movement() -> (Stamp<'static>, EventDraft) {
    let stamp = Stamp {
        vin: "5VS1M00REF0000001",
        ecu: "body-dc",
        sensor: "someip",
        seq: 7,
        timestamp_ns: 1_700_000_000_000_000_000,
        boot_ns: 1_699_999_000_000_000_000,
    };
    let draft = EventDraft {
        event_id: catalog::SOMEIP_UNAUTHORIZED_CLIENT.id,
        severity: catalog::SOMEIP_UNAUTHORIZED_CLIENT.severity,
        count: 1,
        timestamp_ns: stamp.timestamp_ns,
        origin: "ivi".into(),
        context: ContextDraft::SomeipCall(SomeipCallDraft {
            service: 0x1101,
            method: 0x0002,
            client: 0x0003,
            session: 1,
            message_type: 0,
            return_code: 0,
            src: "127.0.1.3:40000".into(),
            dst: "127.0.2.2:30501".into(),
        }),
        // A SOME/IP header: message ID, length, request ID, versions, type, return code.
        evidence: vec![
            0x11, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x08, 0x00, 0x03, 0x00, 0x01, 0x01, 0x01,
            0x00, 0x00,
        ],
    };
    (stamp, draft)
}

/// Everything the gateway's ingest takes from an event: who sent it (dedup by sensor and
/// sequence), what it is, where it came from, and which SOME/IP call a block order would name.
type GatewayView<'a> = (
    &'a str,
    &'a str,
    &'a str,
    u64,
    u16,
    Option<&'a str>,
    Option<(u16, u16, u16)>,
);

fn gateway_read(bytes: &[u8]) -> Option<GatewayView<'_>> {
    let event = read::event(bytes).ok()?;
    let call = event
        .context_as_someip_call()
        .map(|c| (c.client(), c.service(), c.method()));
    Some((
        event.vin(),
        event.ecu(),
        event.sensor(),
        event.seq(),
        event.event_id(),
        event.origin(),
        call,
    ))
}

fn security_event(c: &mut Criterion) {
    let (stamp, draft) = lateral_movement();
    let mut fbb = FlatBufferBuilder::new();
    let bytes = encode::event(&mut fbb, &stamp, &draft).to_vec();
    // A bench of a reader that silently rejects its input would measure the error path.
    assert!(
        gateway_read(&bytes).is_some_and(|v| v.6.is_some()),
        "sample event does not verify"
    );

    let mut group = c.benchmark_group("security_event");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode", |b| {
        // One builder for all iterations, as an uplink keeps one: the figure is the warm path.
        b.iter(|| black_box(encode::event(&mut fbb, black_box(&stamp), black_box(&draft)).len()));
    });
    group.bench_function("verify", |b| {
        b.iter(|| black_box(read::event(black_box(&bytes)).is_ok()));
    });
    group.bench_function("verify_and_read", |b| {
        b.iter(|| black_box(gateway_read(black_box(&bytes))));
    });
    group.finish();
}

criterion_group!(benches, security_event);
criterion_main!(benches);
