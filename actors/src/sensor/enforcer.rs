//! The enforcer: applies the gateway's block orders on this ECU and acknowledges each one,
//! then lifts it when its TTL expires or the gateway revokes it.
//!
//! Enforcement points: the SOME/IP guard's blocklist (block a client), the process table (stop a
//! process) and nftables ([`nft`]: drop a flow, isolate an ECU). An enforcer without an
//! enforcement point for an order says so in its ack (`Unsupported`) instead of pretending.

pub mod nft;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flatbuffers::FlatBufferBuilder;
use ractor::{Actor, ActorRef};
use tracing::{info, warn};
use vsiem_schemas::encode::{self, AckDraft};
use vsiem_schemas::wire::{AckStatus, BlockOrder, Transport};
use vsiem_schemas::{now_ns, read};
use vsiem_topology::{AddressMode, Topology};
use zenoh::pubsub::Subscriber;
use zenoh::Session;

use super::someip::Blocklist;
use crate::bus::{self, keys, Publishers};
use crate::ActorError;
use nft::{Nft, Rule, L4};

pub struct Enforcer;

pub struct EnforcerArgs {
    pub session: Arc<Session>,
    pub vin: String,
    pub ecu: String,
    /// The SOME/IP guard's blocklist, when this ECU runs the guard.
    pub blocklist: Option<Blocklist>,
    /// The firewall, when the agent may use nftables (`vsiem sensor --nftables`).
    pub firewall: Option<Nft>,
    /// Where ECUs named by isolate orders are.
    pub topology: Arc<Topology>,
    pub addressing: AddressMode,
    /// The backbone's TCP port, which an isolated ECU keeps so that it still reports.
    pub backbone_port: u16,
}

pub struct EnforcerState {
    args: EnforcerArgs,
    acks: Publishers,
    fbb: FlatBufferBuilder<'static>,
    /// The answer given to each order, so a retried order gets the same answer.
    answered: HashMap<u64, (AckStatus, String)>,
    _orders: Subscriber<()>,
}

pub enum EnforcerMsg {
    Order(Vec<u8>),
    Expire(u64),
}

impl Actor for Enforcer {
    type Msg = EnforcerMsg;
    type State = EnforcerState;
    type Arguments = EnforcerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: EnforcerArgs,
    ) -> Result<Self::State, ActorError> {
        let orders = args
            .session
            .declare_subscriber(keys::order(&args.vin, &args.ecu))
            .callback(move |sample| {
                let _ = myself.cast(EnforcerMsg::Order(sample.payload().to_bytes().into_owned()));
            })
            .await?;
        let ack_key = keys::ack(&args.vin, &args.ecu);
        let acks = Publishers::declare(Arc::clone(&args.session), bus::ORDERS, [ack_key]).await?;
        Ok(EnforcerState {
            args,
            acks,
            fbb: FlatBufferBuilder::new(),
            answered: HashMap::new(),
            _orders: orders,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut EnforcerState,
    ) -> Result<(), ActorError> {
        if let Some(firewall) = &state.args.firewall {
            if let Err(e) = firewall.close() {
                warn!(error = %e, "vsiem's nftables table not removed.");
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: EnforcerMsg,
        state: &mut EnforcerState,
    ) -> Result<(), ActorError> {
        match msg {
            EnforcerMsg::Order(bytes) => {
                let bounds = state.args.topology.limits.flatbuffers.options();
                let order = match read::verified_within::<BlockOrder>(&bounds, &bytes) {
                    Ok(order) => order,
                    Err(e) => {
                        warn!(error = %e, "Block order refused by the FlatBuffers verifier.");
                        return Ok(());
                    }
                };
                let id = order.order_id();
                let (status, detail) = if order.revoke() {
                    state.lift(id);
                    (AckStatus::Revoked, String::new())
                } else if let Some(answer) = state.answered.get(&id) {
                    answer.clone()
                } else {
                    let answer = state.apply(&order);
                    info!(order = id, action = %read::action_summary(&order), status = ?answer.0, detail = %answer.1, "Block order handled.");
                    if answer.0 == AckStatus::Applied && order.ttl_ms() > 0 {
                        myself.send_after(
                            Duration::from_millis(u64::from(order.ttl_ms())),
                            move || EnforcerMsg::Expire(id),
                        );
                    }
                    state.answered.insert(id, answer.clone());
                    answer
                };
                state.ack(id, status, &detail).await?;
            }
            EnforcerMsg::Expire(id) => {
                if state.lift(id) {
                    info!(order = id, "Block order expired.");
                    state.ack(id, AckStatus::Expired, "").await?;
                }
            }
        }
        Ok(())
    }
}

impl EnforcerState {
    fn apply(&mut self, order: &BlockOrder<'_>) -> (AckStatus, String) {
        if let Some(block) = order.action_as_block_someip_client() {
            let Some(list) = &self.args.blocklist else {
                return (
                    AckStatus::Unsupported,
                    "no SOME/IP guard on this ECU".into(),
                );
            };
            let ttl = match order.ttl_ms() {
                0 => Duration::from_secs(365 * 24 * 3600),
                ms => Duration::from_millis(u64::from(ms)),
            };
            let client = block.client_ecu().unwrap_or_default();
            list.insert(
                order.order_id(),
                client,
                block.service(),
                block.method(),
                Instant::now() + ttl,
            );
            (
                AckStatus::Applied,
                format!("SOME/IP requests of {client} refused"),
            )
        } else if let Some(stop) = order.action_as_stop_process() {
            stop_process(stop.pid(), stop.name().unwrap_or_default())
        } else if let Some(rule) = self.firewall_rule(order) {
            let Some(firewall) = &self.args.firewall else {
                return (
                    AckStatus::Unsupported,
                    "nftables enforcement is off on this ECU (vsiem sensor --nftables)".into(),
                );
            };
            match rule.and_then(|rule| {
                firewall
                    .apply(order.order_id(), &rule)
                    .map_err(|e| e.to_string())
            }) {
                Ok(()) => (AckStatus::Applied, "nftables rules installed".into()),
                Err(e) => (AckStatus::Rejected, e),
            }
        } else {
            (AckStatus::Rejected, "unknown action".into())
        }
    }

    /// The nftables rule of a drop-flow or isolate order (`None` for other actions), or why
    /// the order cannot be one.
    fn firewall_rule(&self, order: &BlockOrder<'_>) -> Option<Result<Rule, String>> {
        if let Some(flow) = order.action_as_drop_flow() {
            let ip = |s: Option<&str>| -> Result<Option<IpAddr>, String> {
                match s.unwrap_or_default() {
                    "" => Ok(None),
                    text => text
                        .parse()
                        .map(Some)
                        .map_err(|_| format!("{text:?} is not an address")),
                }
            };
            let rule = (|| {
                Ok(Rule::DropFlow {
                    l4: Some(if flow.transport() == Transport::Tcp {
                        L4::Tcp
                    } else {
                        L4::Udp
                    }),
                    src: ip(flow.src())?,
                    dst: ip(flow.dst())?,
                    dst_port: (flow.dst_port() != 0).then_some(flow.dst_port()),
                })
            })();
            return Some(rule);
        }
        let isolate = order.action_as_isolate_ecu()?;
        let ecu = isolate.ecu().unwrap_or_default();
        let topology = &self.args.topology;
        let Some(found) = topology.ecu(ecu) else {
            return Some(Err(format!("{ecu} is not an ECU")));
        };
        let addresses = found
            .interfaces
            .iter()
            .filter_map(|i| topology.host_address(&i.zone, i.host, self.args.addressing))
            .map(IpAddr::V4)
            .collect();
        Some(Ok(Rule::Isolate {
            addresses,
            keep_port: self.args.backbone_port,
        }))
    }

    /// Lifts an order's block; true when there was one to lift.
    fn lift(&mut self, order_id: u64) -> bool {
        self.answered.remove(&order_id);
        let unblocked = self
            .args
            .blocklist
            .as_ref()
            .is_some_and(|l| l.remove(order_id));
        let unfirewalled = self
            .args
            .firewall
            .as_ref()
            .is_some_and(|f| match f.remove(order_id) {
                Ok(removed) => removed,
                Err(e) => {
                    warn!(order = order_id, error = %e, "nftables rules of an order not removed.");
                    false
                }
            });
        unblocked || unfirewalled
    }

    async fn ack(
        &mut self,
        order_id: u64,
        status: AckStatus,
        detail: &str,
    ) -> Result<(), ActorError> {
        let bytes = encode::ack(
            &mut self.fbb,
            &AckDraft {
                vin: &self.args.vin,
                order_id,
                ecu: &self.args.ecu,
                status,
                detail,
                timestamp_ns: now_ns(),
            },
        );
        let key = keys::ack(&self.args.vin, &self.args.ecu);
        self.acks.put(&key, bytes).await?;
        Ok(())
    }
}

/// Kills a process, after checking the pid still names the process the order means (pids are
/// reused).
fn stop_process(pid: u32, name: &str) -> (AckStatus, String) {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim_end() != name {
        return (
            AckStatus::Rejected,
            format!("pid {pid} is not {name} (any more)"),
        );
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return (AckStatus::Rejected, format!("pid {pid} out of range"));
    };
    // SAFETY: kill(2) takes plain integers and has no memory effects on this process.
    if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
        (AckStatus::Applied, format!("{name} ({pid}) killed"))
    } else {
        (
            AckStatus::Rejected,
            std::io::Error::last_os_error().to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_process_kills_only_the_named_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        // Until the child has exec'd, its name is still ours.
        let comm = format!("/proc/{}/comm", child.id());
        for _ in 0..200 {
            if std::fs::read_to_string(&comm).is_ok_and(|c| c.trim_end() == "sleep") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let (status, detail) = stop_process(child.id(), "not-sleep");
        assert_eq!(status, AckStatus::Rejected, "{detail}");
        let (status, detail) = stop_process(child.id(), "sleep");
        assert_eq!(status, AckStatus::Applied, "{detail}");
        let exit = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit.signal(), Some(libc::SIGKILL));
    }
}
