//! Scenario: the network sensor captures live (AF_PACKET on the loopback interface, where the
//! one-machine vehicle's ECUs live on 127.0.Z.H) and reports the IVI's Unlock request to the
//! body controller as it crosses the wire. The real NetSensor and Uplink actors, a real Zenoh
//! session.
//!
//! Needs root (CAP_NET_RAW). Without it the test fails saying so, unless
//! VSIEM_SKIP_ROOT_TESTS=1 opts out explicitly.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ractor::Actor;
use someip_rs::{ClientId, MethodId, ServiceId, SomeIpMessage};
use tokio::sync::mpsc;
use vsiem_actors::bus::{self, keys};
use vsiem_actors::front::Front;
use vsiem_actors::sensor::net::{NetArgs, NetSensor, SENSOR};
use vsiem_actors::sensor::uplink::{self, Uplink, UplinkArgs, UplinkHandle};
use vsiem_actors::sensor::SensorConfig;
use vsiem_schemas::{catalog, read};
use vsiem_topology::{AddressMode, Topology};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ivi_unlock_is_seen_on_the_wire() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        if std::env::var_os("VSIEM_SKIP_ROOT_TESTS").is_some() {
            eprintln!("skipped (VSIEM_SKIP_ROOT_TESTS): live capture needs root");
            return;
        }
        panic!("this test needs root (CAP_NET_RAW) for live capture; set VSIEM_SKIP_ROOT_TESTS=1 to skip it explicitly");
    }
    let topology = Arc::new(Topology::reference());
    let vin = topology.vin().to_owned();
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
    let (tx, mut events) = mpsc::unbounded_channel();
    let _events = session
        .declare_subscriber(keys::event(&vin, "gateway", SENSOR))
        .callback(move |sample| {
            let bytes = sample.payload().to_bytes().into_owned();
            let event = read::event(&bytes).expect("a valid event");
            let _ = tx.send((
                event.event_id(),
                event.origin().unwrap_or_default().to_owned(),
            ));
        })
        .await
        .unwrap();
    let front = Front::new(uplink::QUEUE_CAPACITY);
    let state = tempfile::tempdir().unwrap();
    let uplink_args = UplinkArgs {
        session: Arc::clone(&session),
        vin: vin.clone(),
        ecu: "gateway".into(),
        sensors: vec![SENSOR],
        front: Arc::clone(&front),
        qualification: topology.qualification.for_ecu("gateway"),
        store: vsiem_actors::store::open(state.path(), "sensor-gateway").unwrap(),
        outbox_capacity: topology.limits.uplink_queue_events,
    };
    let (uplink_ref, _) = Actor::spawn(None, Uplink, uplink_args).await.unwrap();
    let config = SensorConfig {
        topology: Arc::clone(&topology),
        ecu: "gateway".into(),
        addressing: AddressMode::Loopback,
        fs_root: PathBuf::from("/"),
        simulate: false,
        gateway: vec![],
        security: bus::Security::Insecure,
        backbone_port: 7447,
        nftables: false,
        capture: Some("lo".into()),
        state_dir: state.path().to_owned(),
    };
    let args = NetArgs {
        config,
        uplink: UplinkHandle::new(uplink_ref.clone(), front),
        interface: "lo".into(),
    };
    let (sensor, handle) = Actor::spawn(None, NetSensor, args)
        .await
        .expect("capture on lo");

    let unlock = SomeIpMessage::request(ServiceId(0x1101), MethodId(0x0002))
        .client_id(ClientId(0x0003))
        .build()
        .to_bytes();
    let ivi = UdpSocket::bind("127.0.1.3:0").unwrap();
    let seen = async {
        loop {
            ivi.send_to(&unlock, "127.0.2.2:30501").unwrap();
            if let Ok(Some(event)) =
                tokio::time::timeout(Duration::from_millis(500), events.recv()).await
            {
                return event;
            }
        }
    };
    let (event_id, origin) = tokio::time::timeout(Duration::from_secs(10), seen)
        .await
        .expect("the unlock was not reported");
    assert_eq!(
        (catalog::name_of(event_id), origin.as_str()),
        ("someip.unauthorized_client", "ivi")
    );

    sensor.stop(None);
    handle.await.unwrap();
    uplink_ref.stop(None);
}
