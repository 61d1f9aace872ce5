//! A security event as the gateway takes it off the bus: verified within the reference
//! topology's bounds, then run through the reference rules, which read every field they name in
//! place from the buffer.
#![no_main]

use std::sync::{Arc, LazyLock, Mutex};

use libfuzzer_sys::fuzz_target;
use vsiem_rules::{Engine, RuleSet};
use vsiem_schemas::encode::VehicleSnapshot;
use vsiem_schemas::{read, wire};
use vsiem_topology::Topology;

struct Gateway {
    bounds: flatbuffers::VerifierOptions,
    engine: Mutex<Engine>,
}

static GATEWAY: LazyLock<Gateway> = LazyLock::new(|| {
    let topology = Topology::reference();
    let rules = RuleSet::reference(&topology).expect("the reference rules are valid");
    Gateway {
        bounds: topology.limits.flatbuffers.options(),
        engine: Mutex::new(Engine::new(Arc::new(rules))),
    }
});

fuzz_target!(|data: &[u8]| {
    let gateway = &*GATEWAY;
    let Ok(event) = read::verified_within::<wire::SecurityEvent>(&gateway.bounds, data) else {
        return;
    };
    let driving = VehicleSnapshot {
        speed_centi_kmh: 5000,
        gear: wire::Gear::Drive,
        engine_on: true,
        ..VehicleSnapshot::default()
    };
    let mut engine = gateway.engine.lock().unwrap();
    for vehicle in [VehicleSnapshot::default(), driving] {
        let _ = engine.observe(&event, &vehicle);
    }
});
