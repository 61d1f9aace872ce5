//! The command line: one subcommand per process role.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use vsiem_actors::sim::attacker::Scenario;
use vsiem_actors::sim::chassis::Drive;
use vsiem_topology::AddressMode;

#[derive(Debug, Parser)]
#[command(
    name = "vsiem",
    version,
    about = "In-vehicle SIEM for zonal Automotive Ethernet"
)]
pub struct Cli {
    /// Log as JSON lines instead of text (logs go to stderr).
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the sensor agent of one ECU (detectors, enforcer, uplink to the gateway).
    Sensor(SensorArgs),
    /// Run the central gateway: backbone router, ingest, correlation, response, escalation.
    Gateway(GatewayArgs),
    /// Run the V-SOC receiver that vehicles escalate incidents to.
    Vsoc(VsocArgs),
    /// Follow a vehicle's backbone: events, incidents, orders, acks, escalations.
    Monitor(MonitorArgs),
    /// The whole car, the V-SOC and an attacker on loopback, replaying the reference attack.
    Demo(DemoArgs),
    /// Run the network sensor and the gateway's correlation offline over capture files.
    Replay(ReplayArgs),
    /// Check a topology (and a rule set) and print every problem in them.
    Validate(ValidateArgs),
    /// The vehicle PKI: a CA and a certificate per ECU, the V-SOC and the monitor.
    Pki(PkiArgs),
    /// What else derives from a topology: the container testbed's compose file.
    Topology(TopologyArgs),
    /// A simulated ECU program of the demo vehicle (not part of the SIEM).
    #[command(hide = true)]
    Sim(SimArgs),
    /// The demo's attacker, or the benign traffic of a normal drive (not part of the SIEM).
    #[command(hide = true)]
    Attack(AttackArgs),
}

/// Where the vehicle runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Addressing {
    /// One machine, rootless: ECU Z.H listens on 127.0.Z.H.
    Loopback,
    /// The container testbed: ECU Z.H is 10.10.Z.H on its zone's network.
    Container,
}

impl From<Addressing> for AddressMode {
    fn from(a: Addressing) -> Self {
        match a {
            Addressing::Loopback => AddressMode::Loopback,
            Addressing::Container => AddressMode::Container,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct VehicleArgs {
    /// The vehicle's topology file (default: the embedded reference vehicle).
    #[arg(long, env = "VSIEM_TOPOLOGY")]
    pub topology: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Addressing::Loopback)]
    pub addressing: Addressing,
    /// The backbone's Zenoh port on the gateway (and the V-SOC's).
    #[arg(long, default_value_t = 7447)]
    pub port: u16,
    /// The vehicle PKI's directory (`vsiem pki init`): the CA, and this process's certificate
    /// and key under its name (the ECU's, `vsoc` or `monitor`).
    #[arg(long, env = "VSIEM_PKI", required_unless_present = "insecure")]
    pub pki: Option<PathBuf>,
    /// INSECURE, for development only: plain TCP without authentication or access control
    /// (overrides --pki).
    #[arg(long)]
    pub insecure: bool,
}

/// Where a process keeps what must survive it (a redb file of its own).
#[derive(Debug, Clone, Args)]
pub struct StateArgs {
    /// The directory of the process's durable state: an agent's unacknowledged events and
    /// sequence counters (`sensor-<ecu>.redb`), the gateway's sequence records and escalation
    /// queue (`gateway.redb`). Created (mode 0700) if missing.
    #[arg(long, env = "VSIEM_STATE_DIR", default_value = vsiem_actors::store::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct SensorArgs {
    #[command(flatten)]
    pub vehicle: VehicleArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// The ECU this agent runs on, as the topology names it.
    #[arg(long)]
    pub ecu: String,
    /// Root of the ECU's file system (the demo gives each ECU its own tree).
    #[arg(long, default_value = "/")]
    pub fs_root: PathBuf,
    /// Host the simulated application of this ECU behind its sensors (demo vehicle).
    #[arg(long)]
    pub simulate: bool,
    /// Enforce drop-flow and isolate orders with nftables in a table of vsiem's own (needs the
    /// nft tool and CAP_NET_ADMIN; without this flag such orders are acknowledged Unsupported).
    #[arg(long)]
    pub nftables: bool,
    /// Capture on this interface for the ECU's network sensor (needs CAP_NET_RAW).
    #[arg(long, env = "VSIEM_CAPTURE")]
    pub capture: Option<String>,
    /// The simulated drive that a signals sensor reads.
    #[arg(long, value_enum, default_value_t = Drive::Parked)]
    pub drive: Drive,
}

/// The gateway's rule set.
#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    /// Directory of YAML rule files (default: the embedded reference rules, topology/rules/).
    /// The gateway watches it and reloads the set when a file changes.
    #[arg(long, env = "VSIEM_RULES")]
    pub rules: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GatewayArgs {
    #[command(flatten)]
    pub vehicle: VehicleArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub rules: RulesArgs,
}

#[derive(Debug, Args)]
pub struct VsocArgs {
    #[command(flatten)]
    pub vehicle: VehicleArgs,
    /// Where the V-SOC keeps incidents (JSON lines).
    #[arg(long, default_value = "vsoc-incidents.jsonl")]
    pub store: PathBuf,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    pub vehicle: VehicleArgs,
    /// Print JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
    /// Print the gateway's metrics (JSON) once and exit, instead of following the bus; exits
    /// non-zero if the gateway does not answer within 5 s.
    #[arg(long)]
    pub metrics: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Print the timeline and the summary as JSON lines.
    #[arg(long)]
    pub json: bool,
    /// What happens to the car.
    #[arg(long, value_enum, default_value_t = Scenario::Reference)]
    pub scenario: Scenario,
    /// The vehicle's topology file (default: the embedded reference vehicle).
    #[arg(long)]
    pub topology: Option<PathBuf>,
    /// Keep the processes' logs and file trees in this directory instead of a temporary one.
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// INSECURE, for development only: run the car over plain TCP without its throwaway PKI,
    /// authentication or access control.
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The vehicle's topology file (default: the embedded reference vehicle).
    #[arg(long)]
    pub topology: Option<PathBuf>,
    /// The ECU the capture was taken on (the events' reporter).
    #[arg(long, default_value = "gateway")]
    pub ecu: String,
    /// The backbone's TCP port (vsiem's own traffic is an allowed flow).
    #[arg(long, default_value_t = 7447)]
    pub port: u16,
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Print JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
    /// pcap or pcapng files, replayed in order.
    #[arg(required = true)]
    pub captures: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The topology to check (default: the embedded reference vehicle).
    #[arg(long)]
    pub topology: Option<PathBuf>,
    /// Also check this rule directory against the topology.
    #[arg(long)]
    pub rules: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PkiArgs {
    #[command(subcommand)]
    pub command: PkiCommand,
}

#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Issue a vehicle CA and a certificate and key (mode 0600) for every identity of the
    /// topology into a directory. The CA's key is not kept.
    Init {
        /// The vehicle's topology file (default: the embedded reference vehicle).
        #[arg(long)]
        topology: Option<PathBuf>,
        /// The directory to write to (created if needed).
        #[arg(long)]
        out: PathBuf,
        /// Replace a PKI already in the directory.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct SimArgs {
    #[command(subcommand)]
    pub program: SimProgram,
}

#[derive(Debug, Subcommand)]
pub enum SimProgram {
    /// The IVI's media service, with its command-injection flaw.
    IviMedia {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        fs_root: PathBuf,
    },
    /// A test double of a sensor agent publishing well-formed events at a chosen rate, as a
    /// compromised agent flooding the gateway would (prints what it sent as one JSON line).
    Flood(FloodArgs),
}

#[derive(Debug, Args)]
pub struct FloodArgs {
    #[command(flatten)]
    pub vehicle: VehicleArgs,
    /// The ECU to speak as (it connects to the gateway in that ECU's zone).
    #[arg(long)]
    pub ecu: String,
    /// The certificate to present (default: the ECU's own): a compromised ECU speaking as
    /// another has only its own.
    #[arg(long)]
    pub identity: Option<String>,
    /// The sensor to speak as; need not be one the topology lists for the ECU.
    #[arg(long)]
    pub sensor: String,
    /// Events per second aimed at.
    #[arg(long, default_value_t = 100_000)]
    pub rate: u64,
    /// Stop after this many events.
    #[arg(long)]
    pub count: Option<u64>,
    /// Stop after this long at the latest.
    #[arg(long, default_value_t = 5000)]
    pub duration_ms: u64,
    /// The catalog name of the event type to send.
    #[arg(long, default_value = "net.port_scan")]
    pub event: String,
    /// Send through a real uplink's durable outbox kept in this directory (windowed, resent
    /// until the gateway acknowledges each event), and wait for every receipt before exiting.
    /// Without it, publish directly as fast as the rate allows.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AttackArgs {
    #[command(flatten)]
    pub vehicle: VehicleArgs,
    #[arg(long, value_enum)]
    pub scenario: Scenario,
    /// The IVI media service the exploit targets.
    #[arg(long)]
    pub ivi_media: SocketAddr,
    /// Only the steps sent from here: `outside` (the exploit) or an ECU (the requests it
    /// sends); default: every step, from this host (the demo's loopback).
    #[arg(long)]
    pub from: Option<String>,
}

#[derive(Debug, Args)]
pub struct TopologyArgs {
    #[command(subcommand)]
    pub command: TopologyCommand,
}

#[derive(Debug, Subcommand)]
pub enum TopologyCommand {
    /// Print the container testbed's compose file (docker-compose, format 2.4) and prepare its
    /// state directories: one network per zone, one container per ECU (the simulated vehicle's
    /// programs behind each agent), the V-SOC and an attacker. Images: deploy/container/build.
    Compose(ComposeArgs),
}

#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// The vehicle's topology file; its directory is mounted into every container.
    #[arg(long)]
    pub topology: PathBuf,
    /// The image every container runs (deploy/container/build makes it).
    #[arg(long, default_value = "vsiem-testbed:latest")]
    pub image: String,
    /// The vehicle PKI's directory (`vsiem pki init`); each container mounts its own files.
    #[arg(long)]
    pub pki: PathBuf,
    /// A directory with one writable subdirectory per container (mounted at /var/lib/vsiem),
    /// created and planted with the simulated ECUs' file trees.
    #[arg(long)]
    pub state: PathBuf,
    /// The simulated drive the signals sensors read.
    #[arg(long, value_enum, default_value_t = Drive::Parked)]
    pub drive: Drive,
}
