//! Scenario: the enforcer applies drop-flow and isolate orders with nftables on its ECU, and the
//! packets really stop; they flow again when the order's TTL expires or it is revoked. Two test
//! hosts (ivi 10.10.1.3, tcu 10.10.1.2) in network namespaces joined by a veth pair; the
//! enforcer is the real actor, taking real orders over Zenoh.
//!
//! Needs root, `ip` and `nft`. Without them the test fails saying what is missing, unless
//! VSIEM_SKIP_ROOT_TESTS=1 opts out explicitly.

use std::sync::Arc;
use std::time::Duration;

use flatbuffers::FlatBufferBuilder;
use ractor::Actor;
use tokio::sync::mpsc;
use vsiem_actors::bus::{self, keys};
use vsiem_actors::sensor::enforcer::nft::Nft;
use vsiem_actors::sensor::enforcer::{Enforcer, EnforcerArgs};
use vsiem_schemas::encode::{self, ActionDraft, OrderDraft};
use vsiem_schemas::wire::{AckStatus, Transport};
use vsiem_schemas::{now_ns, read};
use vsiem_topology::{AddressMode, Topology};

#[path = "../../tests/common/netns.rs"]
mod netns;

use netns::{End, Netns};

const IVI: &str = "10.10.1.3";
const TCU: &str = "10.10.1.2";

/// The two test hosts, joined by a veth pair.
struct Hosts {
    ivi: Netns,
    tcu: Netns,
}

impl Hosts {
    fn new() -> Self {
        let hosts = Self {
            ivi: Netns::new("ivi"),
            tcu: Netns::new("tcu"),
        };
        let id = std::process::id();
        let (vi, vt) = (format!("vi{id}"), format!("vt{id}"));
        let (ivi, tcu) = (format!("{IVI}/24"), format!("{TCU}/24"));
        netns::veth(
            &End {
                ns: &hosts.ivi,
                dev: &vi,
                address: &ivi,
                mac: None,
            },
            &End {
                ns: &hosts.tcu,
                dev: &vt,
                address: &tcu,
                mac: None,
            },
        );
        hosts
    }

    fn udp_reaches(&self) -> bool {
        netns::udp_reaches(&self.ivi, &self.tcu, TCU, 5300)
    }

    fn tcp_reaches(&self, port: u16) -> bool {
        netns::tcp_reaches(&self.ivi, &self.tcu, TCU, port)
    }

    fn vsiem_table_exists(&self) -> bool {
        let out = self
            .ivi
            .command("nft")
            .args(["list", "tables"])
            .output()
            .expect("nft runs");
        String::from_utf8_lossy(&out.stdout).contains("vsiem")
    }
}

type Ack = (u64, AckStatus, String);

async fn next_ack(acks: &mut mpsc::UnboundedReceiver<Ack>) -> Ack {
    tokio::time::timeout(Duration::from_secs(10), acks.recv())
        .await
        .expect("an ack in time")
        .expect("acks flow")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_stop_packets_until_their_ttl_expires_or_they_are_revoked() {
    if !netns::prerequisites_met(&["ip", "nft", "python3"]) {
        return;
    }
    let hosts = Hosts::new();
    assert!(
        hosts.udp_reaches() && hosts.tcp_reaches(5301),
        "the test hosts cannot talk before any order"
    );

    let topology = Arc::new(Topology::reference());
    let vin = topology.vin().to_owned();
    // One isolated session: the enforcer's subscriber gets this test's puts locally.
    let session = Arc::new(
        bus::open(
            &bus::Role::Router {
                listen: vec![],
                acl: serde_json::Value::Null,
            },
            // In-process, no link to secure.
            &bus::Security::Insecure,
        )
        .await
        .expect("zenoh session"),
    );
    let (tx, mut acks) = mpsc::unbounded_channel();
    let _acks = session
        .declare_subscriber(keys::ack(&vin, "ivi"))
        .callback(move |sample| {
            let bytes = sample.payload().to_bytes().into_owned();
            let ack = read::ack(&bytes).expect("a valid ack");
            let _ = tx.send((
                ack.order_id(),
                ack.status(),
                ack.detail().unwrap_or_default().to_owned(),
            ));
        })
        .await
        .unwrap();
    let args = EnforcerArgs {
        session: Arc::clone(&session),
        vin: vin.clone(),
        ecu: "ivi".into(),
        blocklist: None,
        firewall: Some(
            Nft::open(Some(hosts.ivi.0.clone())).expect("nftables in the ivi namespace"),
        ),
        topology: Arc::clone(&topology),
        addressing: AddressMode::Container,
        backbone_port: 7447,
    };
    let (enforcer, handle) = Actor::spawn(None, Enforcer, args).await.unwrap();
    assert!(hosts.vsiem_table_exists());

    let mut fbb = FlatBufferBuilder::new();
    let mut order = |id: u64, action: ActionDraft, ttl_ms: u32, revoke: bool| {
        let draft = OrderDraft {
            order_id: id,
            target_ecu: "ivi".into(),
            action,
            ttl_ms,
            incident_id: 1,
            issued_ns: now_ns(),
            revoke,
            reason: "test".into(),
        };
        encode::order(&mut fbb, &vin, &draft).to_vec()
    };

    // Drop the IVI's UDP egress for 2 s: UDP stops, TCP still works, then UDP flows again.
    let drop_udp = ActionDraft::DropFlow {
        transport: Transport::Udp,
        src: IVI.into(),
        dst: String::new(),
        dst_port: 0,
    };
    session
        .put(keys::order(&vin, "ivi"), order(1, drop_udp, 2_000, false))
        .await
        .unwrap();
    assert_eq!(
        next_ack(&mut acks).await,
        (1, AckStatus::Applied, "nftables rules installed".to_owned())
    );
    assert!(!hosts.udp_reaches(), "UDP still flows after the drop order");
    assert!(hosts.tcp_reaches(5301), "the UDP order dropped TCP too");
    let expired = next_ack(&mut acks).await;
    assert_eq!((expired.0, expired.1), (1, AckStatus::Expired));
    assert!(hosts.udp_reaches(), "UDP does not flow again after the TTL");

    // Regression: drop the IVI's TCP egress for 8 s (longer than the probes take); TCP stops, but not to the backbone port
    // (the sensor would silence itself), and UDP still flows.
    let drop_tcp = ActionDraft::DropFlow {
        transport: Transport::Tcp,
        src: IVI.into(),
        dst: String::new(),
        dst_port: 0,
    };
    session
        .put(keys::order(&vin, "ivi"), order(3, drop_tcp, 8_000, false))
        .await
        .unwrap();
    assert_eq!(next_ack(&mut acks).await.1, AckStatus::Applied);
    assert!(
        !hosts.tcp_reaches(5301),
        "TCP still flows after the drop order"
    );
    assert!(
        hosts.tcp_reaches(7447),
        "the drop order cut the backbone port"
    );
    assert!(hosts.udp_reaches(), "the TCP order dropped UDP too");
    let expired = next_ack(&mut acks).await;
    assert_eq!((expired.0, expired.1), (3, AckStatus::Expired));

    // Isolate the IVI until revoked: nothing gets through, then everything does.
    let isolate = ActionDraft::IsolateEcu { ecu: "ivi".into() };
    session
        .put(
            keys::order(&vin, "ivi"),
            order(2, isolate.clone(), 60_000, false),
        )
        .await
        .unwrap();
    assert_eq!(next_ack(&mut acks).await.1, AckStatus::Applied);
    assert!(
        !hosts.tcp_reaches(5301) && !hosts.udp_reaches(),
        "the isolated IVI still talks"
    );
    session
        .put(keys::order(&vin, "ivi"), order(2, isolate, 60_000, true))
        .await
        .unwrap();
    assert_eq!(next_ack(&mut acks).await.1, AckStatus::Revoked);
    assert!(
        hosts.tcp_reaches(5301) && hosts.udp_reaches(),
        "the IVI stays cut off after the revocation"
    );

    enforcer.stop(None);
    handle.await.unwrap();
    assert!(
        !hosts.vsiem_table_exists(),
        "vsiem's table outlived the enforcer"
    );
}
