//! Encoders: owned drafts (what actors pass around inside one process) to wire buffers.
//!
//! Each encoder resets the builder it is given and returns the finished bytes borrowed from it,
//! so a long-lived actor reuses one builder and allocates nothing per message once it is warm.

use flatbuffers::{FlatBufferBuilder, WIPOffset};

use crate::wire;

/// Who reports an event, and its place in that sensor's sequence.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    pub vin: &'a str,
    pub ecu: &'a str,
    pub sensor: &'a str,
    pub seq: u64,
    pub timestamp_ns: u64,
    /// The sender's epoch: when its sequence numbers started at 1 (its uplink's start, ns since
    /// the Unix epoch). A later epoch tells the gateway the sender restarted, not replayed.
    pub boot_ns: u64,
}

/// A detection before the uplink stamps it with a sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    pub event_id: u16,
    pub severity: wire::Severity,
    pub count: u32,
    pub timestamp_ns: u64,
    pub origin: String,
    pub context: ContextDraft,
    pub evidence: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ContextDraft {
    None,
    SomeipCall(SomeipCallDraft),
    NetworkFlow(NetworkFlowDraft),
    FileChange(FileChangeDraft),
    ProcessStart(ProcessStartDraft),
    VehicleState(VehicleSnapshot),
    SensorHealth(SensorHealthDraft),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SomeipCallDraft {
    pub service: u16,
    pub method: u16,
    pub client: u16,
    pub session: u16,
    pub message_type: u8,
    pub return_code: u8,
    pub src: String,
    pub dst: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkFlowDraft {
    pub transport: wire::Transport,
    /// "ip:port"
    pub src: String,
    /// "ip:port"
    pub dst: String,
    /// 0: untagged
    pub vlan: u16,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChangeDraft {
    pub path: String,
    pub kind: wire::FileChangeKind,
    pub read_only: bool,
    pub old_hash: Vec<u8>,
    pub new_hash: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessStartDraft {
    pub pid: u32,
    pub ppid: u32,
    pub name: String,
    pub parent_name: String,
    pub cmdline: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorHealthDraft {
    pub subject: String,
    pub reason: String,
    pub restarts: u32,
    pub dropped: u64,
}

/// The vehicle state at one instant, as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VehicleSnapshot {
    pub timestamp_ns: u64,
    pub speed_centi_kmh: u16,
    pub gear: wire::Gear,
    pub brake_pct: u8,
    pub accelerator_pct: u8,
    pub engine_on: bool,
}

impl Default for VehicleSnapshot {
    fn default() -> Self {
        Self {
            timestamp_ns: 0,
            speed_centi_kmh: 0,
            gear: wire::Gear::Unknown,
            brake_pct: 0,
            accelerator_pct: 0,
            engine_on: false,
        }
    }
}

impl VehicleSnapshot {
    pub fn from_wire(state: &wire::VehicleState<'_>) -> Self {
        Self {
            timestamp_ns: state.timestamp_ns(),
            speed_centi_kmh: state.speed_centi_kmh(),
            gear: state.gear(),
            brake_pct: state.brake_pct(),
            accelerator_pct: state.accelerator_pct(),
            engine_on: state.engine_on(),
        }
    }

    /// Stationary as the diagnostics rules mean it: no speed and in park.
    pub fn is_stationary(&self) -> bool {
        self.speed_centi_kmh == 0 && self.gear == wire::Gear::Park
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionDraft {
    BlockSomeipClient {
        client_ecu: String,
        client_id: u16,
        service: u16,
        method: u16,
    },
    DropFlow {
        transport: wire::Transport,
        src: String,
        dst: String,
        dst_port: u16,
    },
    IsolateEcu {
        ecu: String,
    },
    StopProcess {
        pid: u32,
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderDraft {
    pub order_id: u64,
    pub target_ecu: String,
    pub action: ActionDraft,
    pub ttl_ms: u32,
    pub incident_id: u64,
    pub issued_ns: u64,
    pub revoke: bool,
    pub reason: String,
}

#[derive(Debug, Clone, Copy)]
pub struct AckDraft<'a> {
    pub vin: &'a str,
    pub order_id: u64,
    pub ecu: &'a str,
    pub status: wire::AckStatus,
    pub detail: &'a str,
    pub timestamp_ns: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRefDraft {
    pub ecu: String,
    pub sensor: String,
    /// The first sequence number referenced, and the last (equal for a single event).
    pub seq: u64,
    pub last_seq: u64,
    pub event_id: u16,
    pub timestamp_ns: u64,
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionTakenDraft {
    pub order_id: u64,
    pub target_ecu: String,
    pub summary: String,
    pub status: wire::AckStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentDraft {
    pub incident_id: u64,
    pub severity: wire::Severity,
    pub title: String,
    pub rule: String,
    pub origin_ecu: String,
    pub opened_ns: u64,
    /// When this version of the incident was made (equal to `opened_ns` for the first).
    pub updated_ns: u64,
    pub events: Vec<EventRefDraft>,
    pub vehicle_state: VehicleSnapshot,
    pub actions: Vec<ActionTakenDraft>,
    pub state: wire::IncidentState,
    /// Events folded into the incident; `events` references every one.
    pub count: u64,
    pub tags: Vec<String>,
}

pub fn event<'b>(
    fbb: &'b mut FlatBufferBuilder<'static>,
    stamp: &Stamp<'_>,
    draft: &EventDraft,
) -> &'b [u8] {
    fbb.reset();
    let vin = fbb.create_string(stamp.vin);
    let ecu = fbb.create_string(stamp.ecu);
    let sensor = fbb.create_string(stamp.sensor);
    let origin = fbb.create_string(&draft.origin);
    let (context_type, context) = context(fbb, &draft.context);
    let evidence = (!draft.evidence.is_empty()).then(|| fbb.create_vector(&draft.evidence));
    let root = wire::SecurityEvent::create(
        fbb,
        &wire::SecurityEventArgs {
            vin: Some(vin),
            ecu: Some(ecu),
            sensor: Some(sensor),
            seq: stamp.seq,
            timestamp_ns: stamp.timestamp_ns,
            event_id: draft.event_id,
            severity: draft.severity,
            count: draft.count,
            origin: Some(origin),
            context_type,
            context,
            evidence,
            boot_ns: stamp.boot_ns,
        },
    );
    fbb.finish_minimal(root);
    fbb.finished_data()
}

fn context(
    fbb: &mut FlatBufferBuilder<'static>,
    draft: &ContextDraft,
) -> (
    wire::Context,
    Option<WIPOffset<flatbuffers::UnionWIPOffset>>,
) {
    match draft {
        ContextDraft::None => (wire::Context::NONE, None),
        ContextDraft::SomeipCall(c) => {
            let args = wire::SomeipCallArgs {
                service: c.service,
                method: c.method,
                client: c.client,
                session: c.session,
                message_type: c.message_type,
                return_code: c.return_code,
                src: Some(fbb.create_string(&c.src)),
                dst: Some(fbb.create_string(&c.dst)),
            };
            let t = wire::SomeipCall::create(fbb, &args);
            (wire::Context::SomeipCall, Some(t.as_union_value()))
        }
        ContextDraft::NetworkFlow(c) => {
            let args = wire::NetworkFlowArgs {
                transport: c.transport,
                src: Some(fbb.create_string(&c.src)),
                dst: Some(fbb.create_string(&c.dst)),
                vlan: c.vlan,
                bytes: c.bytes,
            };
            let t = wire::NetworkFlow::create(fbb, &args);
            (wire::Context::NetworkFlow, Some(t.as_union_value()))
        }
        ContextDraft::FileChange(c) => {
            let args = wire::FileChangeArgs {
                path: Some(fbb.create_string(&c.path)),
                kind: c.kind,
                read_only: c.read_only,
                old_hash: Some(fbb.create_vector(&c.old_hash)),
                new_hash: Some(fbb.create_vector(&c.new_hash)),
            };
            let t = wire::FileChange::create(fbb, &args);
            (wire::Context::FileChange, Some(t.as_union_value()))
        }
        ContextDraft::ProcessStart(c) => {
            let args = wire::ProcessStartArgs {
                pid: c.pid,
                ppid: c.ppid,
                name: Some(fbb.create_string(&c.name)),
                parent_name: Some(fbb.create_string(&c.parent_name)),
                cmdline: Some(fbb.create_string(&c.cmdline)),
            };
            let t = wire::ProcessStart::create(fbb, &args);
            (wire::Context::ProcessStart, Some(t.as_union_value()))
        }
        ContextDraft::VehicleState(s) => {
            let t = vehicle_state(fbb, s);
            (wire::Context::VehicleState, Some(t.as_union_value()))
        }
        ContextDraft::SensorHealth(c) => {
            let args = wire::SensorHealthArgs {
                subject: Some(fbb.create_string(&c.subject)),
                reason: Some(fbb.create_string(&c.reason)),
                restarts: c.restarts,
                dropped: c.dropped,
            };
            let t = wire::SensorHealth::create(fbb, &args);
            (wire::Context::SensorHealth, Some(t.as_union_value()))
        }
    }
}

fn vehicle_state<'b>(
    fbb: &mut FlatBufferBuilder<'b>,
    s: &VehicleSnapshot,
) -> WIPOffset<wire::VehicleState<'b>> {
    wire::VehicleState::create(
        fbb,
        &wire::VehicleStateArgs {
            timestamp_ns: s.timestamp_ns,
            speed_centi_kmh: s.speed_centi_kmh,
            gear: s.gear,
            brake_pct: s.brake_pct,
            accelerator_pct: s.accelerator_pct,
            engine_on: s.engine_on,
        },
    )
}

pub fn signal<'b>(
    fbb: &'b mut FlatBufferBuilder<'static>,
    vin: &str,
    ecu: &str,
    seq: u64,
    state: &VehicleSnapshot,
) -> &'b [u8] {
    fbb.reset();
    let vin = fbb.create_string(vin);
    let ecu = fbb.create_string(ecu);
    let state = vehicle_state(fbb, state);
    let root = wire::VehicleSignal::create(
        fbb,
        &wire::VehicleSignalArgs {
            vin: Some(vin),
            ecu: Some(ecu),
            seq,
            state: Some(state),
        },
    );
    fbb.finish_minimal(root);
    fbb.finished_data()
}

pub fn order<'b>(
    fbb: &'b mut FlatBufferBuilder<'static>,
    vin: &str,
    draft: &OrderDraft,
) -> &'b [u8] {
    fbb.reset();
    let vin = fbb.create_string(vin);
    let target_ecu = fbb.create_string(&draft.target_ecu);
    let reason = fbb.create_string(&draft.reason);
    let (action_type, action) = match &draft.action {
        ActionDraft::BlockSomeipClient {
            client_ecu,
            client_id,
            service,
            method,
        } => {
            let args = wire::BlockSomeipClientArgs {
                client_ecu: Some(fbb.create_string(client_ecu)),
                client_id: *client_id,
                service: *service,
                method: *method,
            };
            let t = wire::BlockSomeipClient::create(fbb, &args);
            (wire::Action::BlockSomeipClient, t.as_union_value())
        }
        ActionDraft::DropFlow {
            transport,
            src,
            dst,
            dst_port,
        } => {
            let args = wire::DropFlowArgs {
                transport: *transport,
                src: Some(fbb.create_string(src)),
                dst: Some(fbb.create_string(dst)),
                dst_port: *dst_port,
            };
            let t = wire::DropFlow::create(fbb, &args);
            (wire::Action::DropFlow, t.as_union_value())
        }
        ActionDraft::IsolateEcu { ecu } => {
            let args = wire::IsolateEcuArgs {
                ecu: Some(fbb.create_string(ecu)),
            };
            let t = wire::IsolateEcu::create(fbb, &args);
            (wire::Action::IsolateEcu, t.as_union_value())
        }
        ActionDraft::StopProcess { pid, name } => {
            let args = wire::StopProcessArgs {
                pid: *pid,
                name: Some(fbb.create_string(name)),
            };
            let t = wire::StopProcess::create(fbb, &args);
            (wire::Action::StopProcess, t.as_union_value())
        }
    };
    let root = wire::BlockOrder::create(
        fbb,
        &wire::BlockOrderArgs {
            vin: Some(vin),
            order_id: draft.order_id,
            target_ecu: Some(target_ecu),
            action_type,
            action: Some(action),
            ttl_ms: draft.ttl_ms,
            incident_id: draft.incident_id,
            issued_ns: draft.issued_ns,
            revoke: draft.revoke,
            reason: Some(reason),
        },
    );
    fbb.finish_minimal(root);
    fbb.finished_data()
}

pub fn ack<'b>(fbb: &'b mut FlatBufferBuilder<'static>, draft: &AckDraft<'_>) -> &'b [u8] {
    fbb.reset();
    let args = wire::BlockAckArgs {
        vin: Some(fbb.create_string(draft.vin)),
        order_id: draft.order_id,
        ecu: Some(fbb.create_string(draft.ecu)),
        status: draft.status,
        detail: Some(fbb.create_string(draft.detail)),
        timestamp_ns: draft.timestamp_ns,
    };
    let root = wire::BlockAck::create(fbb, &args);
    fbb.finish_minimal(root);
    fbb.finished_data()
}

pub fn incident<'b>(
    fbb: &'b mut FlatBufferBuilder<'static>,
    vin: &str,
    draft: &IncidentDraft,
) -> &'b [u8] {
    fbb.reset();
    let events: Vec<_> = draft
        .events
        .iter()
        .map(|e| {
            let args = wire::EventRefArgs {
                ecu: Some(fbb.create_string(&e.ecu)),
                sensor: Some(fbb.create_string(&e.sensor)),
                seq: e.seq,
                event_id: e.event_id,
                timestamp_ns: e.timestamp_ns,
                origin: Some(fbb.create_string(&e.origin)),
                last_seq: e.last_seq,
            };
            wire::EventRef::create(fbb, &args)
        })
        .collect();
    let events = fbb.create_vector(&events);
    let actions: Vec<_> = draft
        .actions
        .iter()
        .map(|a| {
            let args = wire::ActionTakenArgs {
                order_id: a.order_id,
                target_ecu: Some(fbb.create_string(&a.target_ecu)),
                summary: Some(fbb.create_string(&a.summary)),
                status: a.status,
            };
            wire::ActionTaken::create(fbb, &args)
        })
        .collect();
    let actions = fbb.create_vector(&actions);
    let tags: Vec<_> = draft.tags.iter().map(|t| fbb.create_string(t)).collect();
    let tags = fbb.create_vector(&tags);
    let args = wire::IncidentArgs {
        vin: Some(fbb.create_string(vin)),
        incident_id: draft.incident_id,
        severity: draft.severity,
        title: Some(fbb.create_string(&draft.title)),
        rule: Some(fbb.create_string(&draft.rule)),
        origin_ecu: Some(fbb.create_string(&draft.origin_ecu)),
        opened_ns: draft.opened_ns,
        events: Some(events),
        vehicle_state: Some(vehicle_state(fbb, &draft.vehicle_state)),
        actions: Some(actions),
        updated_ns: draft.updated_ns,
        state: draft.state,
        count: draft.count,
        tags: Some(tags),
    };
    let root = wire::Incident::create(fbb, &args);
    fbb.finish_minimal(root);
    fbb.finished_data()
}

pub fn incident_ack<'b>(
    fbb: &'b mut FlatBufferBuilder<'static>,
    vin: &str,
    incident_id: u64,
    received_ns: u64,
) -> &'b [u8] {
    fbb.reset();
    let args = wire::IncidentAckArgs {
        vin: Some(fbb.create_string(vin)),
        incident_id,
        received_ns,
    };
    let root = wire::IncidentAck::create(fbb, &args);
    fbb.finish_minimal(root);
    fbb.finished_data()
}

/// The gateway's cumulative receipt of one sensor's events (see `EventAck` in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventAckDraft<'a> {
    pub vin: &'a str,
    pub ecu: &'a str,
    pub sensor: &'a str,
    pub boot_ns: u64,
    pub seq: u64,
}

pub fn event_ack<'b>(
    fbb: &'b mut FlatBufferBuilder<'static>,
    draft: &EventAckDraft<'_>,
) -> &'b [u8] {
    fbb.reset();
    let args = wire::EventAckArgs {
        vin: Some(fbb.create_string(draft.vin)),
        ecu: Some(fbb.create_string(draft.ecu)),
        sensor: Some(fbb.create_string(draft.sensor)),
        boot_ns: draft.boot_ns,
        seq: draft.seq,
    };
    let root = wire::EventAck::create(fbb, &args);
    fbb.finish_minimal(root);
    fbb.finished_data()
}

#[derive(Debug, Clone, Copy)]
pub struct HeartbeatDraft<'a> {
    pub vin: &'a str,
    pub ecu: &'a str,
    pub timestamp_ns: u64,
    pub uptime_ms: u64,
    pub events_sent: u64,
    pub events_dropped: u64,
}

pub fn heartbeat<'b>(
    fbb: &'b mut FlatBufferBuilder<'static>,
    draft: &HeartbeatDraft<'_>,
) -> &'b [u8] {
    fbb.reset();
    let args = wire::HeartbeatArgs {
        vin: Some(fbb.create_string(draft.vin)),
        ecu: Some(fbb.create_string(draft.ecu)),
        timestamp_ns: draft.timestamp_ns,
        uptime_ms: draft.uptime_ms,
        events_sent: draft.events_sent,
        events_dropped: draft.events_dropped,
    };
    let root = wire::Heartbeat::create(fbb, &args);
    fbb.finish_minimal(root);
    fbb.finished_data()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::read;

    pub(crate) fn sample_event<'a>(fbb: &'a mut FlatBufferBuilder<'static>) -> &'a [u8] {
        let stamp = Stamp {
            vin: "5VS1M00REF0000001",
            ecu: "body-dc",
            sensor: "someip",
            seq: 7,
            timestamp_ns: 1_700_000_000_000_000_000,
            boot_ns: 1_699_999_000_000_000_000,
        };
        let draft = EventDraft {
            event_id: 0x8010,
            severity: wire::Severity::High,
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
            evidence: vec![0x11, 0x01, 0x00, 0x02],
        };
        event(fbb, &stamp, &draft)
    }

    #[test]
    fn event_round_trips_through_a_verified_view() {
        let mut fbb = FlatBufferBuilder::new();
        let bytes = sample_event(&mut fbb).to_vec();
        let view = read::event(&bytes).expect("valid event");
        assert_eq!(view.vin(), "5VS1M00REF0000001");
        assert_eq!(view.ecu(), "body-dc");
        assert_eq!(view.seq(), 7);
        assert_eq!(view.boot_ns(), 1_699_999_000_000_000_000);
        assert_eq!(view.event_id(), 0x8010);
        assert_eq!(view.origin(), Some("ivi"));
        let call = view.context_as_someip_call().expect("someip context");
        assert_eq!(
            (call.service(), call.method(), call.client()),
            (0x1101, 2, 3)
        );
        assert_eq!(call.src(), Some("127.0.1.3:40000"));
        assert_eq!(
            view.evidence().map(|e| e.bytes()),
            Some(&[0x11, 0x01, 0x00, 0x02][..])
        );
    }

    #[test]
    fn truncated_event_is_rejected() {
        let mut fbb = FlatBufferBuilder::new();
        let bytes = sample_event(&mut fbb).to_vec();
        // The tail of a buffer may be alignment padding, so cut into its body, not its end.
        for len in [0, 4, 8, bytes.len() / 4, bytes.len() / 2] {
            assert!(
                read::event(&bytes[..len]).is_err(),
                "prefix of {len} bytes accepted"
            );
        }
    }

    #[test]
    fn order_and_ack_round_trip() {
        let mut fbb = FlatBufferBuilder::new();
        let draft = OrderDraft {
            order_id: 42,
            target_ecu: "body-dc".into(),
            action: ActionDraft::BlockSomeipClient {
                client_ecu: "ivi".into(),
                client_id: 3,
                service: 0xFFFF,
                method: 0xFFFF,
            },
            ttl_ms: 60_000,
            incident_id: 9,
            issued_ns: 5,
            revoke: false,
            reason: "lateral movement".into(),
        };
        let bytes = order(&mut fbb, "VIN", &draft).to_vec();
        let view = read::order(&bytes).expect("valid order");
        assert_eq!(
            (view.order_id(), view.target_ecu(), view.ttl_ms()),
            (42, "body-dc", 60_000)
        );
        assert_eq!(
            read::action_summary(&view),
            "block SOME/IP client ivi (0x0003)"
        );

        let bytes = ack(
            &mut fbb,
            &AckDraft {
                vin: "VIN",
                order_id: 42,
                ecu: "body-dc",
                status: wire::AckStatus::Applied,
                detail: "",
                timestamp_ns: 6,
            },
        )
        .to_vec();
        let view = read::ack(&bytes).expect("valid ack");
        assert_eq!(
            (view.order_id(), view.status()),
            (42, wire::AckStatus::Applied)
        );
    }

    #[test]
    fn incident_keeps_every_contributing_event() {
        let mut fbb = FlatBufferBuilder::new();
        let refs: Vec<_> = (1..=3)
            .map(|seq| EventRefDraft {
                ecu: "ivi".into(),
                sensor: "processes".into(),
                seq,
                last_seq: seq * 10,
                event_id: 0x8001,
                timestamp_ns: seq,
                origin: "ivi".into(),
            })
            .collect();
        let draft = IncidentDraft {
            incident_id: 1,
            severity: wire::Severity::Critical,
            title: "t".into(),
            rule: "r".into(),
            origin_ecu: "ivi".into(),
            opened_ns: 1,
            updated_ns: 1,
            events: refs,
            vehicle_state: VehicleSnapshot::default(),
            actions: vec![],
            state: wire::IncidentState::Contained,
            count: 57,
            tags: vec!["atm.tactic.execution".into()],
        };
        let bytes = incident(&mut fbb, "VIN", &draft).to_vec();
        let view = read::incident(&bytes).expect("valid incident");
        let seqs: Vec<(u64, u64)> = view
            .events()
            .unwrap()
            .iter()
            .map(|e| (e.seq(), e.last_seq()))
            .collect();
        assert_eq!(seqs, [(1, 10), (2, 20), (3, 30)]);
        assert_eq!(
            (view.state(), view.count(), view.tags().unwrap().get(0)),
            (wire::IncidentState::Contained, 57, "atm.tactic.execution")
        );
        assert_eq!(view.vehicle_state().unwrap().gear(), wire::Gear::Unknown);
    }
}
