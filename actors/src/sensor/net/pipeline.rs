//! One captured frame through decode and detect: link to transport ([`frame`]), the matrix
//! and host checks ([`detect`]), then the application protocols on their ports (SOME/IP and
//! SD, DNS, TLS, DoIP carrying UDS), judged against the topology and the vehicle state read
//! from the traffic itself. Live capture and offline replay both drive this.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use vsiem_schemas::catalog::{self, EventType};
use vsiem_schemas::encode::{ContextDraft, SomeipCallDraft, VehicleSnapshot};
use vsiem_schemas::wire::Gear;
use vsiem_topology::{Peer, Topology, Transport};

use super::detect::{self, Detection, NetDetector, Packet};
use super::frame::{self, FlowKey, LinkType, Net};
use super::someip::{EntryKind, MessageType, SomeipError};
use super::tcp::{SegmentReport, StreamAnomaly, StreamLimits, Streams};
use super::uds::{SecurityStep, Uds};
use super::{dns, doip, someip, tls};
use crate::sensor::evidence;
use crate::sensor::someip::judge_request;

/// VehicleDynamics.Speed and Engine.GearState of the reference contract, the signals the
/// diagnostics rules need ("stationary": speed 0, gear P).
const SPEED: (u16, u16) = (0x2101, 0x8001);
const GEAR: (u16, u16) = (0x2201, 0x8001);
/// Failed SecurityAccess key attempts from one tester address before it is brute force.
const SECURITY_ACCESS_ATTEMPTS: u32 = 3;
/// How often idle TCP directions are looked for, in capture time.
const EXPIRY_PERIOD_NS: u64 = 1_000_000_000;

/// What the pipeline counts, for the replay summary and the metrics.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Counters {
    pub frames: u64,
    pub undecodable: u64,
    pub detections: u64,
}

pub struct Pipeline {
    topology: Arc<Topology>,
    detector: NetDetector,
    streams: Streams,
    /// Capture time after which idle TCP directions are next looked for.
    next_expiry_ns: u64,
    vehicle: VehicleSnapshot,
    /// (source ECU, service) pairs already reported as SD find scans.
    finds: HashSet<(String, u16)>,
    /// SecurityAccess sendKey attempts per tester address, reset by a positive response.
    key_attempts: std::collections::HashMap<IpAddr, u32>,
    pub counters: Counters,
}

impl Pipeline {
    pub fn new(topology: Arc<Topology>, backbone_port: u16) -> Self {
        let limits = &topology.limits;
        let streams = Streams::new(StreamLimits {
            max_flows: limits.tcp_max_flows,
            max_pending_bytes_per_flow: limits.tcp_pending_bytes_per_flow,
            idle_timeout_ns: limits.tcp_idle_timeout_ms.saturating_mul(1_000_000),
        });
        Self {
            detector: NetDetector::new(Arc::clone(&topology), backbone_port),
            topology,
            streams,
            next_expiry_ns: 0,
            vehicle: VehicleSnapshot::default(),
            finds: HashSet::new(),
            key_attempts: std::collections::HashMap::new(),
            counters: Counters::default(),
        }
    }

    /// The vehicle state as the traffic has shown it so far.
    pub fn vehicle(&self) -> VehicleSnapshot {
        self.vehicle
    }

    /// Runs one frame captured at `ts_ns`; findings go to `out`.
    pub fn frame(&mut self, link: LinkType, ts_ns: u64, bytes: &[u8], out: &mut Vec<Detection>) {
        self.counters.frames += 1;
        let before = out.len();
        self.inspect(link, ts_ns, bytes, out);
        self.counters.detections += u64::try_from(out.len() - before).unwrap_or(0);
        if ts_ns >= self.next_expiry_ns {
            self.streams.expire(ts_ns);
            self.next_expiry_ns = ts_ns.saturating_add(EXPIRY_PERIOD_NS);
        }
    }

    fn inspect(&mut self, link: LinkType, ts_ns: u64, bytes: &[u8], out: &mut Vec<Detection>) {
        let frame = match frame::parse(link, bytes) {
            Ok(frame) => frame,
            Err(e) => {
                self.counters.undecodable += 1;
                tracing::debug!(error = %e, len = bytes.len(), "Undecodable frame.");
                out.push(unattributed(&catalog::NET_MALFORMED_FRAME, ts_ns, bytes));
                return;
            }
        };
        let too_large = bytes.len() > self.topology.limits.frame_max_bytes;
        let ip = match &frame.net {
            Net::Ip(ip) => ip,
            _ if too_large => {
                out.push(unattributed(&catalog::LIMIT_FRAME_TOO_LARGE, ts_ns, bytes));
                return;
            }
            Net::Arp(arp) => {
                self.detector
                    .arp(ts_ns, arp.sender_mac.0, arp.sender_ip, out);
                return;
            }
            Net::Other { .. } => return,
        };
        let (ports, payload, tcp) = match &ip.transport {
            frame::Transport::Udp(u) => (
                Some((Transport::Udp, u.src_port, u.dst_port)),
                u.payload,
                None,
            ),
            frame::Transport::Tcp(t) => (
                Some((Transport::Tcp, t.src_port, t.dst_port)),
                t.payload,
                Some(t),
            ),
            _ => (None, &[][..], None),
        };
        let packet = Packet {
            ts_ns,
            vlan: frame.outer_vlan.map(|v| v.id),
            src_mac: match frame.link {
                frame::Link::Ethernet { src, .. } => Some(src),
                frame::Link::LinuxSll { src, .. } => src,
                frame::Link::RawIp => None,
            },
            src: ip.src,
            dst: ip.dst,
            ports,
            payload,
            len: bytes.len(),
        };
        if too_large {
            // Headers only: the source is named, the payload is not looked at.
            out.push(self.found(&catalog::LIMIT_FRAME_TOO_LARGE, &packet));
            return;
        }
        self.detector.packet(&packet, out);
        if let Some((proto, sport, dport)) = ports {
            let (src, dst) = (
                SocketAddr::new(ip.src, sport),
                SocketAddr::new(ip.dst, dport),
            );
            match (proto, tcp) {
                (Transport::Udp, _) => self.udp(&packet, src, dst, out),
                (Transport::Tcp, Some(t)) => {
                    if dport == 443 && t.payload.first() == Some(&0x16) {
                        self.tls(&packet, t.payload, out);
                    }
                    if dport == self.topology.diagnostics.port
                        || sport == self.topology.diagnostics.port
                    {
                        if let Some(key) = frame.flow() {
                            self.doip_stream(key, t, &packet, out);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn udp(&mut self, p: &Packet<'_>, src: SocketAddr, dst: SocketAddr, out: &mut Vec<Detection>) {
        let t = Arc::clone(&self.topology);
        if dst.port() == t.someip.sd_port {
            self.sd(p, src, out);
        } else if let Some(provider) = provider_at(&t, dst) {
            self.someip(p, src, dst, &provider, out);
        } else if is_service_port(&t, src) {
            self.vehicle_signals(p.payload);
        }
        if dst.port() == 53 {
            let asks_intel = dns::parse(p.payload).is_ok_and(|q| {
                !q.is_response && q.questions.iter().any(|q| t.is_intel_domain(&q.name))
            });
            if asks_intel {
                out.push(self.found(&catalog::IOC_DNS, p));
            }
        }
        if dst.port() == t.diagnostics.port {
            for m in doip::messages(p.payload) {
                match m {
                    Ok(m) => self.doip(p, m, out),
                    Err(_) => out.push(self.found(&catalog::DOIP_MALFORMED, p)),
                }
            }
        }
    }

    fn someip(
        &mut self,
        p: &Packet<'_>,
        src: SocketAddr,
        dst: SocketAddr,
        provider: &str,
        out: &mut Vec<Detection>,
    ) {
        let t = Arc::clone(&self.topology);
        let caller = t.ecu_by_address(src.ip()).map(|e| e.name.as_str());
        for message in self.someip_messages(p.payload) {
            let m = match message {
                Ok(m) => m,
                Err(e) => {
                    out.push(self.someip_error(&e, p));
                    return;
                }
            };
            if !matches!(
                m.message_type(),
                MessageType::Request | MessageType::RequestNoReturn
            ) {
                continue;
            }
            if let Err((event, _)) = judge_request(
                &t,
                provider,
                caller,
                m.service_id(),
                m.method_id(),
                m.client_id(),
            ) {
                let call = SomeipCallDraft {
                    service: m.service_id(),
                    method: m.method_id(),
                    client: m.client_id(),
                    session: m.session_id(),
                    message_type: u8::from(m.message_type() == MessageType::RequestNoReturn),
                    return_code: m.return_code(),
                    src: src.to_string(),
                    dst: dst.to_string(),
                };
                out.push(Detection {
                    context: ContextDraft::SomeipCall(call),
                    ..self.found(event, p)
                });
            }
        }
    }

    fn sd(&mut self, p: &Packet<'_>, src: SocketAddr, out: &mut Vec<Detection>) {
        let t = Arc::clone(&self.topology);
        let sender = t.peer(src.ip());
        for message in self.someip_messages(p.payload) {
            let m = match message {
                Ok(m) => m,
                Err(e) => {
                    out.push(self.someip_error(&e, p));
                    return;
                }
            };
            let Ok(sd) = someip::sd(&m) else {
                out.push(self.found(&catalog::SOMEIP_MALFORMED, p));
                continue;
            };
            for entry in sd.entries() {
                let service = entry.service_id();
                let provider = t.service(service).map(|s| s.provider.as_str());
                match entry.kind() {
                    EntryKind::OfferService | EntryKind::StopOfferService
                        if provider != Some(sender.name()) =>
                    {
                        out.push(self.found(&catalog::SOMEIP_SD_OFFER_SPOOF, p));
                    }
                    EntryKind::FindService => {
                        let may_use = t.service(service).is_some_and(|s| {
                            s.methods.iter().any(|m| m.allows(sender.name()))
                                || s.events
                                    .iter()
                                    .any(|e| e.subscribers.iter().any(|n| n == sender.name()))
                        });
                        if !may_use && self.finds.insert((sender.name().to_owned(), service)) {
                            out.push(self.found(&catalog::SOMEIP_SD_FIND_SCAN, p));
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn tls(&mut self, p: &Packet<'_>, payload: &[u8], out: &mut Vec<Detection>) {
        if let Ok(Some(hello)) = tls::client_hello_sni(payload) {
            if hello
                .server_names
                .iter()
                .any(|n| self.topology.is_intel_domain(n))
            {
                out.push(self.found(&catalog::IOC_TLS_SNI, p));
            }
        }
    }

    /// DoIP over TCP: reassembles the stream and judges each whole message. Bytes that cannot
    /// be framed are one `doip.malformed` and are dropped, so the stream can resynchronise.
    fn doip_stream(
        &mut self,
        key: FlowKey,
        t: &frame::Tcp<'_>,
        p: &Packet<'_>,
        out: &mut Vec<Detection>,
    ) {
        let mut messages = Vec::new();
        let mut malformed = false;
        let report = self
            .streams
            .segment(key, t.seq, t.flags, t.payload, p.ts_ns, &mut |buf| {
                let mut used = 0;
                loop {
                    let rest = buf.get(used..).unwrap_or_default();
                    match doip::frame_len(rest) {
                        Some(Ok(n)) => {
                            // A message whose end has not arrived yet waits for it.
                            let Some(message) = rest.get(..n) else {
                                return used;
                            };
                            messages.push(message.to_vec());
                            used += n;
                        }
                        Some(Err(_)) => {
                            malformed = true;
                            return buf.len();
                        }
                        None => return used,
                    }
                }
            });
        self.stream_anomalies(report, p, out);
        for m in messages {
            self.doip(p, &m, out);
        }
        if malformed {
            out.push(self.found(&catalog::DOIP_MALFORMED, p));
        }
    }

    /// Reassembly that hit a limit; a gap is the capture's loss, not the sender's doing.
    fn stream_anomalies(&self, report: SegmentReport, p: &Packet<'_>, out: &mut Vec<Detection>) {
        for anomaly in report.anomalies() {
            match anomaly {
                StreamAnomaly::PendingLimit { .. } => {
                    out.push(self.found(&catalog::LIMIT_TCP_PENDING_EXCEEDED, p));
                }
                StreamAnomaly::FlowEvicted { .. } => {
                    out.push(self.found(&catalog::LIMIT_TCP_FLOWS_EXCEEDED, p));
                }
                StreamAnomaly::Gap { .. } => {}
            }
        }
    }

    fn someip_messages<'p>(&self, datagram: &'p [u8]) -> someip::Messages<'p> {
        someip::messages_with_max(datagram, self.topology.limits.someip_max_message_bytes)
    }

    /// A SOME/IP message that did not decode: over the length limit, or malformed.
    fn someip_error(&self, e: &SomeipError, p: &Packet<'_>) -> Detection {
        let kind = match e {
            SomeipError::MessageTooLong { .. } => &catalog::LIMIT_SOMEIP_TOO_LARGE,
            _ => &catalog::SOMEIP_MALFORMED,
        };
        self.found(kind, p)
    }

    fn doip(&mut self, p: &Packet<'_>, message: &[u8], out: &mut Vec<Detection>) {
        let t = Arc::clone(&self.topology);
        let Ok(parsed) = doip::parse(message) else {
            out.push(self.found(&catalog::DOIP_MALFORMED, p));
            return;
        };
        let tester = matches!(t.peer(p.src), Peer::Tester(tester) if t.diagnostics.testers.contains(&tester.name));
        let allowed_now = !t.diagnostics.require_stationary || self.vehicle.is_stationary();
        match parsed {
            doip::Doip::RoutingActivationRequest(_) if !(tester && allowed_now) => {
                out.push(self.found(&catalog::DOIP_ROUTING_ACTIVATION_UNAUTHORIZED, p));
            }
            doip::Doip::DiagnosticMessage(d) => match super::uds::parse(d.user_data) {
                Ok(Uds::Request(r)) => {
                    if !self.vehicle.is_stationary()
                        && t.diagnostics.dangerous_services.contains(&r.sid.0)
                    {
                        out.push(self.found(&catalog::UDS_DANGEROUS_SERVICE_WHILE_MOVING, p));
                    }
                    if matches!(
                        r.service,
                        super::uds::RequestService::SecurityAccess {
                            step: SecurityStep::SendKey,
                            ..
                        }
                    ) {
                        let attempts = self.key_attempts.entry(p.src).or_default();
                        *attempts += 1;
                        if *attempts == SECURITY_ACCESS_ATTEMPTS {
                            out.push(self.found(&catalog::UDS_SECURITY_ACCESS_BRUTEFORCE, p));
                        }
                    }
                }
                // Only an accepted key ends the guessing: the answer to a seed request is a
                // positive response too, and a tester asking for a new seed before each guess
                // must not start its count again.
                Ok(Uds::PositiveResponse(super::uds::PositiveResponse {
                    service:
                        super::uds::ResponseService::SecurityAccess {
                            step: SecurityStep::SendKey,
                            ..
                        },
                    ..
                })) => {
                    self.key_attempts.remove(&p.dst);
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// Speed and gear from the chassis and engine events in the traffic.
    fn vehicle_signals(&mut self, payload: &[u8]) {
        for m in self.someip_messages(payload).flatten() {
            match ((m.service_id(), m.method_id()), m.payload()) {
                (SPEED, &[hi, lo]) => self.vehicle.speed_centi_kmh = u16::from_be_bytes([hi, lo]),
                (GEAR, &[gear]) => self.vehicle.gear = Gear(gear),
                _ => {}
            }
        }
    }

    /// A finding about packet `p`, with its flow as context and its payload's start as evidence
    /// (the name queried, the server named, the request refused are in there).
    fn found(&self, kind: &'static EventType, p: &Packet<'_>) -> Detection {
        let origin = self
            .topology
            .ecu_by_address(p.src)
            .map(|e| e.name.clone())
            .unwrap_or_default();
        Detection {
            kind,
            ts_ns: p.ts_ns,
            origin,
            context: ContextDraft::NetworkFlow(detect::flow(p)),
            evidence: evidence(p.payload),
        }
    }
}

/// A finding about a frame whose addresses are not known (or not to be trusted): its first
/// bytes are the evidence.
fn unattributed(kind: &'static EventType, ts_ns: u64, bytes: &[u8]) -> Detection {
    Detection {
        kind,
        ts_ns,
        origin: String::new(),
        context: ContextDraft::None,
        evidence: evidence(bytes),
    }
}

/// The ECU providing a SOME/IP service on the address and port a datagram goes to.
fn provider_at(t: &Topology, dst: SocketAddr) -> Option<String> {
    let ecu = t.ecu_by_address(dst.ip())?;
    t.services_provided_by(&ecu.name)
        .any(|s| s.port == dst.port())
        .then(|| ecu.name.clone())
}

fn is_service_port(t: &Topology, src: SocketAddr) -> bool {
    provider_at(t, src).is_some()
}

#[cfg(test)]
mod tests;
