//! Access denials on the backbone, reported as security events (`gateway.access_denied`).
//!
//! The gateway's router enforces the access control (`bus/acl.rs`) in this process, in Zenoh's
//! ACL interceptor, which tells nobody but its trace log what it refused. [`Denials`] is a
//! tracing layer that listens to that one target and counts each refusal of a message a client
//! sent (ingress; egress refusals are the router holding data back, not a client misbehaving)
//! by (client, message, key). Every second [`AccessWatch`] names each client by the common name
//! of the certificate its link authenticated with (learnt as links open, and kept until the
//! report after a link closed: a client that was refused and left is still named), and reports
//! what it was refused, once per (client, message, key) and interval with the count.
//!
//! Zenoh judges a message against its per-key cache of decisions ("Using cached result"), which
//! it builds when a key is declared (a declared publisher, as vsiem's own): those decisions are
//! the ones counted. A put on a key nobody declared is judged without the cache, in a log line
//! that Zenoh also writes while building a cache for decisions nobody asked for; it is refused
//! all the same, but not reported.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorRef};
use tracing::field::{Field, Visit};
use tracing::{warn, Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;
use vsiem_schemas::catalog;
use vsiem_schemas::encode::SensorHealthDraft;
use zenoh::sample::SampleKind;
use zenoh::session::{LinkEvent, LinkEventsListener};
use zenoh::Session;

use crate::sensor::uplink::{self, UplinkHandle};
use crate::ActorError;

/// The sensor name of these reports (on the gateway ECU).
pub const SENSOR: &str = "access";

/// Where Zenoh's ACL interceptor logs its decisions.
const TARGET: &str = "zenoh::net::routing::interceptor::access_control";
const REPORT_PERIOD: Duration = Duration::from_secs(1);
/// Distinct (client, message, key) counted per interval; past it, a client's other refusals are
/// counted under one `OTHER_KEYS` entry (the keys are the client's to choose).
const MAX_DENIALS: usize = 256;
const OTHER_KEYS: &str = "<other keys>";

/// One kind of refusal: a client (its Zenoh ID), a message ("Put"), a key expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Denial {
    zid: String,
    message: String,
    key: String,
}

/// Refusals counted since the last report, shared by the tracing layer and the watcher.
#[derive(Debug, Clone, Default)]
pub struct Denials(Arc<Mutex<HashMap<Denial, u64>>>);

impl Denials {
    /// The tracing layer counting the router's refusals (and seeing no other event).
    pub fn layer<S>(&self) -> impl Layer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        DenialLayer(self.clone()).with_filter(Targets::new().with_target(TARGET, Level::TRACE))
    }

    fn count(&self, mut denial: Denial) {
        let mut counts = self.0.lock().expect("no panic while counting");
        if counts.len() >= MAX_DENIALS && !counts.contains_key(&denial) {
            denial.key = OTHER_KEYS.to_owned();
        }
        *counts.entry(denial).or_default() += 1;
    }

    fn take(&self) -> HashMap<Denial, u64> {
        std::mem::take(&mut *self.0.lock().expect("no panic while counting"))
    }
}

struct DenialLayer(Denials);

impl<S: Subscriber> Layer<S> for DenialLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut message = MessageText(String::new());
        event.record(&mut message);
        if let Some(denial) = parse(&message.0) {
            self.0.count(denial);
        }
    }
}

struct MessageText(String);

impl Visit for MessageText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}

/// A refusal of an ingress message, from Zenoh 1.10's line
/// `Using cached result: <zid> is unauthorized to <Message> (ingress) on <key>`.
fn parse(line: &str) -> Option<Denial> {
    let rest = line.strip_prefix("Using cached result: ")?;
    let (zid, rest) = rest.split_once(" is unauthorized to ")?;
    let (message, key) = rest.split_once(" (ingress) on ")?;
    Some(Denial {
        zid: zid.to_owned(),
        message: message.to_owned(),
        key: key.to_owned(),
    })
}

pub struct AccessWatch;

pub struct AccessWatchArgs {
    pub session: Arc<Session>,
    pub vin: String,
    pub denials: Denials,
    pub uplink: UplinkHandle,
}

pub struct AccessWatchState {
    args: AccessWatchArgs,
    /// By Zenoh ID: the certificate name of a client's link, and whether the link closed.
    names: Arc<Mutex<HashMap<String, (String, bool)>>>,
    _links: LinkEventsListener<()>,
}

pub enum AccessWatchMsg {
    Report,
}

impl Actor for AccessWatch {
    type Msg = AccessWatchMsg;
    type State = AccessWatchState;
    type Arguments = AccessWatchArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: AccessWatchArgs,
    ) -> Result<Self::State, ActorError> {
        let names = Arc::new(Mutex::new(HashMap::new()));
        let learnt = Arc::clone(&names);
        let links = args
            .session
            .info()
            .link_events_listener()
            .history(true)
            .callback(move |event: LinkEvent| {
                let link = event.link();
                let Some(name) = link.auth_identifier() else {
                    return;
                };
                let closed = event.kind() == SampleKind::Delete;
                learnt
                    .lock()
                    .expect("no panic while naming")
                    .insert(link.zid().to_string(), (name.to_owned(), closed));
            })
            .await?;
        myself.send_interval(REPORT_PERIOD, || AccessWatchMsg::Report);
        Ok(AccessWatchState {
            args,
            names,
            _links: links,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        AccessWatchMsg::Report: AccessWatchMsg,
        state: &mut AccessWatchState,
    ) -> Result<(), ActorError> {
        let denials = state.args.denials.take();
        let mut names = state.names.lock().expect("no panic while naming");
        let suffix = format!(".{}", state.args.vin);
        for (denial, count) in denials {
            let name = names.get(&denial.zid).map(|(name, _)| name.as_str());
            let ecu = name.and_then(|n| n.strip_suffix(&suffix)).unwrap_or("");
            let reason = format!(
                "{} on {} refused by the backbone's access control (client {} {})",
                denial.message,
                denial.key,
                name.unwrap_or("unknown"),
                denial.zid
            );
            warn!(ecu, count, %reason, "Backbone access denied.");
            let report = SensorHealthDraft {
                subject: ecu.to_owned(),
                reason,
                restarts: 0,
                dropped: count,
            };
            state.args.uplink.report(
                SENSOR,
                uplink::health(&catalog::GATEWAY_ACCESS_DENIED, ecu, report),
            );
        }
        names.retain(|_, (_, closed)| !*closed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refusals_of_what_a_client_sent_are_counted() {
        let cases = [
            (
                "Using cached result: 8f3a is unauthorized to Put (ingress) on vsiem/V/order/ivi",
                Some(("8f3a", "Put", "vsiem/V/order/ivi")),
            ),
            (
                "Using cached result: 8f3a is authorized to Put (ingress) on vsiem/V/event/ivi/x",
                None,
            ),
            (
                "Using cached result: 8f3a is unauthorized to Put (egress) on vsiem/V/order/tcu",
                None,
            ),
            // Written while a cache is built, for decisions nobody asked for yet.
            (
                "8f3a on cert_common_name=ivi.V is unauthorized to Put (ingress) on vsiem/V/x",
                None,
            ),
        ];
        for (line, want) in cases {
            let got = parse(line);
            let got = got
                .as_ref()
                .map(|d| (d.zid.as_str(), d.message.as_str(), d.key.as_str()));
            assert_eq!(got, want, "{line}");
        }
    }

    #[test]
    fn keys_a_client_chooses_cannot_grow_the_counts_without_bound() {
        let denials = Denials::default();
        for i in 0..10 * MAX_DENIALS {
            denials.count(Denial {
                zid: "8f3a".into(),
                message: "Put".into(),
                key: format!("vsiem/V/event/x/{i}"),
            });
        }
        let counts = denials.take();
        assert_eq!(counts.len(), MAX_DENIALS + 1);
        assert_eq!(counts.values().sum::<u64>(), 10 * MAX_DENIALS as u64);
        assert!(denials.take().is_empty());
    }
}
