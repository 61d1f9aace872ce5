//! From the file as written to the model, once validation found nothing wrong.

use crate::address::HostIndex;
use crate::model::{
    Diagnostics, Ecu, Event, Flow, HostConfig, Interface, Limits, Method, Qualification, Response,
    ResponsePolicy, Service, SomeIp, Tester, ThreatIntel, Topology, Vehicle, Vsoc, Zone,
};
use crate::raw::{RawFlow, RawService, RawTopology};

/// Only called once validation found nothing wrong.
pub(super) fn convert(
    raw: RawTopology,
    zones: Vec<Zone>,
    threat_intel: ThreatIntel,
    qualification: Qualification,
) -> Topology {
    let mut topology = Topology {
        vehicle: Vehicle {
            vin: raw.vehicle.vin,
            name: raw.vehicle.name,
        },
        someip: SomeIp {
            protocol_version: raw.someip.protocol_version,
            interface_version: raw.someip.interface_version,
            sd_port: raw.someip.sd_port,
            sd_multicast: raw.someip.sd_multicast,
        },
        zones,
        ecus: raw
            .ecus
            .into_iter()
            .map(|ecu| Ecu {
                name: ecu.name,
                role: ecu.role,
                client_id: ecu.client_id,
                doip_address: ecu.doip_address,
                sensors: ecu.sensors,
                interfaces: ecu
                    .interfaces
                    .into_iter()
                    .map(|interface| Interface {
                        zone: interface.zone,
                        host: interface.host,
                    })
                    .collect(),
                host: ecu.host.map(|host| HostConfig {
                    watch: host.watch,
                    read_only: host.read_only,
                    processes: host.processes,
                }),
            })
            .collect(),
        testers: raw
            .testers
            .into_iter()
            .map(|tester| Tester {
                name: tester.name,
                zone: tester.zone,
                host: tester.host,
                doip_address: tester.doip_address,
            })
            .collect(),
        vsoc: Vsoc {
            zone: raw.vsoc.zone,
            host: raw.vsoc.host,
        },
        services: raw.services.into_iter().map(convert_service).collect(),
        flows: raw.flows.into_iter().map(convert_flow).collect(),
        diagnostics: Diagnostics {
            port: raw.diagnostics.port,
            testers: raw.diagnostics.testers,
            require_stationary: raw.diagnostics.require_stationary,
            dangerous_services: raw.diagnostics.dangerous_services,
        },
        threat_intel,
        response: Response {
            order_ttl_ms: raw.response.order_ttl_ms,
            ack_timeout_ms: raw.response.ack_timeout_ms,
            max_retries: raw.response.max_retries,
            block_while_moving: raw.response.block_while_moving,
            close_after_ms: raw.response.close_after_ms,
            policies: raw
                .response
                .policies
                .into_iter()
                .map(|p| ResponsePolicy {
                    rules: p.rules,
                    actions: p.actions,
                })
                .collect(),
        },
        limits: Limits {
            // --- gateway ingest ---
            events_per_sensor_per_second: raw.limits.events_per_sensor_per_second,
            ingest_queue_per_sensor: usize::try_from(raw.limits.ingest_queue_per_sensor)
                .expect("validated to at most 65536"),
            event_max_age_ms: raw.limits.event_max_age_ms,
            clock_skew_ms: raw.limits.clock_skew_ms,
            // --- end of gateway ingest ---
            uplink_queue_events: bounded(raw.limits.uplink_queue_events),
            escalation_queue_incidents: bounded(raw.limits.escalation_queue_incidents),
            frame_max_bytes: bounded(raw.limits.frame_max_bytes),
            someip_max_message_bytes: bounded(raw.limits.someip_max_message_bytes),
            tcp_max_flows: bounded(raw.limits.tcp_max_flows),
            tcp_pending_bytes_per_flow: bounded(raw.limits.tcp_pending_bytes_per_flow),
            tcp_idle_timeout_ms: raw.limits.tcp_idle_timeout_ms,
            flatbuffers: vsiem_schemas::read::Bounds {
                max_bytes: bounded(raw.limits.flatbuffers_max_bytes),
                max_depth: bounded(raw.limits.flatbuffers_max_depth),
                max_tables: bounded(raw.limits.flatbuffers_max_tables),
            },
        },
        qualification,
        hosts: HostIndex::default(),
    };
    topology.hosts = HostIndex::build(&topology);
    topology
}

fn convert_service(service: RawService) -> Service {
    Service {
        id: service.id,
        name: service.name,
        provider: service.provider,
        transport: service.transport,
        port: service.port,
        methods: service
            .methods
            .into_iter()
            .map(|method| Method {
                id: method.id,
                name: method.name,
                clients: method.clients,
                safety_critical: method.safety_critical,
                request: method.request,
                response: method.response,
            })
            .collect(),
        events: service
            .events
            .into_iter()
            .map(|event| Event {
                id: event.id,
                name: event.name,
                subscribers: event.subscribers,
                payload: event.payload,
                cycle_ms: event.cycle_ms,
            })
            .collect(),
    }
}

fn convert_flow(flow: RawFlow) -> Flow {
    Flow {
        from: flow.from,
        to: flow.to,
        via: flow.via.filter(|via| !via.is_empty()),
        proto: flow.proto,
        ports: flow.ports,
    }
}

/// A size limit as `usize`: validation bounds every one of them far below `u32::MAX`.
fn bounded(value: u64) -> usize {
    usize::try_from(value).expect("validated to fit")
}
