//! vsiem's actors: the sensor agent that runs on every ECU, the gateway's ingest, correlation,
//! response and escalation, the V-SOC receiver, the bus monitor, and the simulated vehicle the
//! demo and tests attack. Processes talk only through [`bus`] (Zenoh) in wire types.

pub mod bus;
pub mod front;
pub mod gateway;
pub mod monitor;
pub mod sensor;
pub mod sim;
pub mod store;
pub mod vsoc;

/// The error actors report to their supervisors.
pub type ActorError = ractor::ActorProcessingErr;

/// Arms the fail points named in `FAILPOINTS` (test builds with the `failpoints` feature; a
/// no-op otherwise). Called once at process start.
pub fn arm_fail_points() {
    // The scenario lives as long as the process: its guard is never dropped.
    std::mem::forget(fail::FailScenario::setup());
}
