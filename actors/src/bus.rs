//! The Zenoh backbone: sessions, key expressions and the QoS of each kind of traffic.
//!
//! The gateway runs a router that listens on its address in every zone; sensors are clients of
//! it. Every link is mutual TLS with the vehicle PKI's certificates (`vsiem pki init`), and the
//! routers (the gateway's and the V-SOC's) enforce an access control generated from the
//! topology (`acl.rs`) that matches the certificates' common names; `--insecure` (plain TCP, no
//! access control) is for development only. Security events are reliable (TLS over TCP links)
//! with congestion control Block, so a slow gateway slows a sensor down instead of losing its
//! events silently; block orders are express at the highest priority.

pub mod acl;
pub mod keys;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use vsiem_topology::pki::IdentityFiles;
use zenoh::pubsub::Publisher;
use zenoh::qos::{CongestionControl, Priority};
use zenoh::{Config, Session};

pub use zenoh::Error as BusError;

/// The QoS of one kind of traffic.
#[derive(Debug, Clone, Copy)]
pub struct Qos {
    pub priority: Priority,
    pub express: bool,
    pub congestion: CongestionControl,
}

/// Security events, signals, acks and incidents: nothing may be lost, so publishers block.
pub const DATA: Qos = Qos {
    priority: Priority::Data,
    express: false,
    congestion: CongestionControl::Block,
};

/// Block orders: sent at once, ahead of everything else.
pub const ORDERS: Qos = Qos {
    priority: Priority::RealTime,
    express: true,
    congestion: CongestionControl::Block,
};

/// Where a process meets the backbone.
#[derive(Debug, Clone)]
pub enum Role {
    /// A router, listening on these endpoints (`tls/IP:PORT`) and enforcing `acl` (Zenoh's
    /// `access_control`, see [`acl`]) on every link.
    Router {
        listen: Vec<String>,
        acl: serde_json::Value,
    },
    /// A client of a router; opening waits until one of these endpoints answers.
    Client { connect: Vec<String> },
}

/// How a process proves who it is on the backbone.
#[derive(Debug, Clone)]
pub enum Security {
    /// Mutual TLS with this identity's certificate, issued by the vehicle CA; servers' names are
    /// checked against the addresses dialled.
    Tls(IdentityFiles),
    /// Plain TCP: no authentication and no access control (`--insecure`, development only).
    Insecure,
}

/// The endpoint of `ip:port`: over TLS (`tls/`), or plain TCP (`tcp/`, `--insecure`).
pub fn endpoint(tls: bool, ip: impl std::fmt::Display, port: u16) -> String {
    let protocol = if tls { "tls" } else { "tcp" };
    format!("{protocol}/{ip}:{port}")
}

/// The Zenoh configuration of a process. The vehicle network is static, so discovery is off:
/// every process is told where its peers are.
pub fn config(role: &Role, security: &Security) -> Result<Config, BusError> {
    let mut config = Config::default();
    config.insert_json5("scouting/multicast/enabled", "false")?;
    config.insert_json5("scouting/gossip/enabled", "false")?;
    match role {
        Role::Router { listen, acl } => {
            config.insert_json5("mode", r#""router""#)?;
            config.insert_json5("listen/endpoints", &json_list(listen))?;
            // Subjects are certificate names: without TLS there is nothing to match.
            if let Security::Tls(_) = security {
                config.insert_json5("access_control", &acl.to_string())?;
            }
        }
        Role::Client { connect } => {
            config.insert_json5("mode", r#""client""#)?;
            config.insert_json5("connect/endpoints", &json_list(connect))?;
            // Wait for the router instead of failing: ECUs boot in any order.
            config.insert_json5("connect/timeout_ms", "-1")?;
        }
    }
    if let Security::Tls(files) = security {
        let tls = [
            ("root_ca_certificate", &files.ca),
            ("listen_certificate", &files.certificate),
            ("listen_private_key", &files.key),
            ("connect_certificate", &files.certificate),
            ("connect_private_key", &files.key),
        ];
        for (key, file) in tls {
            let path =
                serde_json::to_string(&file.display().to_string()).expect("a string serializes");
            config.insert_json5(&format!("transport/link/tls/{key}"), &path)?;
        }
        config.insert_json5("transport/link/tls/enable_mtls", "true")?;
        config.insert_json5("transport/link/tls/verify_name_on_connect", "true")?;
    }
    Ok(config)
}

/// Opens a session.
pub async fn open(role: &Role, security: &Security) -> Result<Session, BusError> {
    zenoh::open(config(role, security)?).await
}

/// An actor's publishers, one per key, all with one QoS. A declared publisher has its routes
/// resolved once; a session-level put would resolve them on every message.
pub struct Publishers {
    session: Arc<Session>,
    qos: Qos,
    by_key: HashMap<String, Publisher<'static>>,
}

impl Publishers {
    /// Publishers for `keys`, declared now so that the first message pays no declaration.
    pub async fn declare(
        session: Arc<Session>,
        qos: Qos,
        keys: impl IntoIterator<Item = String>,
    ) -> Result<Self, BusError> {
        let mut publishers = Self {
            session,
            qos,
            by_key: HashMap::new(),
        };
        for key in keys {
            publishers.publisher(&key).await?;
        }
        Ok(publishers)
    }

    /// Publishes one message on `key`, declaring its publisher on first use.
    pub async fn put(&mut self, key: &str, payload: &[u8]) -> Result<(), BusError> {
        self.publisher(key).await?.put(payload.to_vec()).await
    }

    /// Waits until a subscriber is known to match `key`, or `timeout` has passed. A put that
    /// no known subscriber matches is dropped where it is made, and a fresh session learns the
    /// router's subscriptions only after it has opened.
    pub async fn wait_matching(&mut self, key: &str, timeout: Duration) -> Result<(), BusError> {
        let publisher = self.publisher(key).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        while !publisher.matching_status().await?.matching()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    async fn publisher(&mut self, key: &str) -> Result<&Publisher<'static>, BusError> {
        if !self.by_key.contains_key(key) {
            let publisher = self
                .session
                .declare_publisher(key.to_owned())
                .priority(self.qos.priority)
                .express(self.qos.express)
                .congestion_control(self.qos.congestion)
                .await?;
            self.by_key.insert(key.to_owned(), publisher);
        }
        Ok(&self.by_key[key])
    }
}

/// How long a caller waits for a query's reply before it retries.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("a list of strings serializes")
}
