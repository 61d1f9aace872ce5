//! The Zenoh backbone: sessions, key expressions and the QoS of each kind of traffic.
//!
//! The gateway runs a router that listens on its address in every zone; sensors are clients of
//! it. Security events are reliable (TCP links) with congestion control Block, so a slow
//! gateway slows a sensor down instead of losing its events silently; block orders are express
//! at the highest priority.

pub mod keys;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use zenoh::pubsub::Publisher;
use zenoh::qos::{CongestionControl, Priority};
use zenoh::Session;

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
    /// The gateway's router, listening on these endpoints (`tcp/IP:PORT`).
    Router { listen: Vec<String> },
    /// A client of a router; opening waits until one of these endpoints answers.
    Client { connect: Vec<String> },
}

pub fn endpoint(ip: impl std::fmt::Display, port: u16) -> String {
    format!("tcp/{ip}:{port}")
}

/// Opens a session. The vehicle network is static, so discovery is off: every process is told
/// where its peers are.
pub async fn open(role: &Role) -> Result<Session, BusError> {
    let mut config = zenoh::Config::default();
    config.insert_json5("scouting/multicast/enabled", "false")?;
    config.insert_json5("scouting/gossip/enabled", "false")?;
    match role {
        Role::Router { listen } => {
            config.insert_json5("mode", r#""router""#)?;
            config.insert_json5("listen/endpoints", &json_list(listen))?;
        }
        Role::Client { connect } => {
            config.insert_json5("mode", r#""client""#)?;
            config.insert_json5("connect/endpoints", &json_list(connect))?;
            // Wait for the router instead of failing: ECUs boot in any order.
            config.insert_json5("connect/timeout_ms", "-1")?;
        }
    }
    zenoh::open(config).await
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
