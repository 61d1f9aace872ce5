//! The SOME/IP guard: the ECU's SOME/IP provider endpoint as a sensor and an enforcement point
//! (the AUTOSAR model). Every request is checked against the topology before the application
//! sees it; violations are answered with an error and reported.

pub mod blocklist;
pub mod check;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use ractor::{Actor, ActorRef};
use someip_rs::{ReturnCode, SomeIpMessage};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tracing::{info, warn};
use vsiem_schemas::catalog::EventType;
use vsiem_schemas::encode::{ContextDraft, SomeipCallDraft};
use vsiem_topology::Transport;

pub use blocklist::Blocklist;
pub use check::{check, judge_request, Verdict};

use super::uplink::{self, UplinkHandle};
use super::SensorConfig;
use crate::ActorError;

pub const SENSOR: &str = "someip";

/// The application behind the guard: what an allowed request reaches.
pub trait Application: Send {
    /// Executes a request from `caller` (an ECU name) and returns the response payload.
    fn call(
        &mut self,
        service: u16,
        method: u16,
        caller: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, ReturnCode>;
}

pub type SharedApplication = Arc<Mutex<dyn Application>>;

pub struct SomeipGuard;

pub struct GuardArgs {
    pub config: SensorConfig,
    pub uplink: UplinkHandle,
    pub blocklist: Blocklist,
    pub application: Option<SharedApplication>,
}

pub struct GuardState {
    args: GuardArgs,
    sockets: Vec<Arc<UdpSocket>>,
    readers: Vec<JoinHandle<()>>,
}

pub enum GuardMsg {
    Datagram {
        socket: usize,
        from: SocketAddr,
        bytes: Vec<u8>,
    },
}

impl Actor for SomeipGuard {
    type Msg = GuardMsg;
    type State = GuardState;
    type Arguments = GuardArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: GuardArgs,
    ) -> Result<Self::State, ActorError> {
        let topology = &args.config.topology;
        let ip = topology
            .ecu_address(&args.config.ecu, args.config.addressing)
            .ok_or("the ECU has no address")?;
        let mut sockets = Vec::new();
        let mut readers = Vec::new();
        for service in topology.services_provided_by(&args.config.ecu) {
            if service.transport != Transport::Udp {
                warn!(service = %service.name, "SOME/IP over TCP is not guarded yet; service skipped.");
                continue;
            }
            let socket = Arc::new(UdpSocket::bind((ip, service.port)).await?);
            info!(service = %service.name, addr = %socket.local_addr()?, "Guarding SOME/IP service.");
            readers.push(tokio::spawn(read_datagrams(
                Arc::clone(&socket),
                sockets.len(),
                myself.clone(),
            )));
            sockets.push(socket);
        }
        Ok(GuardState {
            args,
            sockets,
            readers,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut GuardState,
    ) -> Result<(), ActorError> {
        for reader in &state.readers {
            reader.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: GuardMsg,
        state: &mut GuardState,
    ) -> Result<(), ActorError> {
        let GuardMsg::Datagram {
            socket,
            from,
            bytes,
        } = msg;
        let reply = state.serve(from, &bytes);
        if let Some(reply) = reply {
            state.sockets[socket]
                .send_to(&reply.to_bytes(), from)
                .await?;
        }
        Ok(())
    }
}

impl GuardState {
    /// Checks one datagram, reports what is wrong with it, and returns the reply to send.
    fn serve(&mut self, from: SocketAddr, bytes: &[u8]) -> Option<SomeIpMessage> {
        let config = &self.args.config;
        let verdict = check(
            &config.topology,
            &config.ecu,
            from.ip(),
            bytes,
            &self.args.blocklist,
        );
        match verdict {
            Verdict::Allowed { message, caller } => Some(self.forward(&message, &caller)),
            Verdict::Rejected {
                message,
                event,
                caller,
                code,
            } => {
                warn!(event = event.name, %from, service = message.header.service_id.0, method = message.header.method_id.0, "SOME/IP request rejected.");
                let context = ContextDraft::SomeipCall(call_context(&message, from, config));
                self.report(event, caller, context, bytes);
                message
                    .expects_response()
                    .then(|| message.create_error_response(code).build())
            }
            Verdict::Malformed { event, caller } => {
                self.report(event, caller, ContextDraft::None, bytes);
                None
            }
        }
    }

    fn report(
        &self,
        event: &EventType,
        caller: Option<String>,
        context: ContextDraft,
        bytes: &[u8],
    ) {
        let mut draft = uplink::draft(event, caller.as_deref().unwrap_or(""), context);
        draft.evidence = super::evidence(bytes);
        self.args.uplink.report(SENSOR, draft);
    }

    fn forward(&mut self, request: &SomeIpMessage, caller: &str) -> SomeIpMessage {
        let (service, method) = (request.header.service_id.0, request.header.method_id.0);
        let result = match &self.args.application {
            Some(app) => app.lock().expect("application lock").call(
                service,
                method,
                caller,
                &request.payload,
            ),
            None => Err(ReturnCode::NotReachable),
        };
        match result {
            Ok(payload) => request.create_response().payload(payload).build(),
            Err(code) => request.create_error_response(code).build(),
        }
    }
}

fn call_context(
    message: &SomeIpMessage,
    from: SocketAddr,
    config: &SensorConfig,
) -> SomeipCallDraft {
    let own = config
        .topology
        .ecu_address(&config.ecu, config.addressing)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    SomeipCallDraft {
        service: message.header.service_id.0,
        method: message.header.method_id.0,
        client: message.header.client_id.0,
        session: message.header.session_id.0,
        message_type: message.header.message_type as u8,
        return_code: message.header.return_code as u8,
        src: from.to_string(),
        dst: own,
    }
}

async fn read_datagrams(socket: Arc<UdpSocket>, index: usize, guard: ActorRef<GuardMsg>) {
    let mut buf = vec![0u8; 65536];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((len, from)) => {
                let msg = GuardMsg::Datagram {
                    socket: index,
                    from,
                    bytes: buf[..len].to_vec(),
                };
                if guard.cast(msg).is_err() {
                    return;
                }
            }
            Err(e) => warn!(error = %e, "SOME/IP socket receive failed."),
        }
    }
}
