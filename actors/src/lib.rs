//! vsiem's actors: the sensor agent that runs on every ECU, the gateway's ingest, correlation,
//! response and escalation, the V-SOC receiver, the bus monitor, and the simulated vehicle the
//! demo and tests attack. Processes talk only through [`bus`] (Zenoh) in wire types.

pub mod bus;
pub mod gateway;
pub mod monitor;
pub mod sensor;
pub mod sim;
pub mod vsoc;

/// The error actors report to their supervisors.
pub type ActorError = ractor::ActorProcessingErr;
