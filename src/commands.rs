//! What each subcommand does: build its configuration from the topology and run its actors
//! until a signal stops them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use ractor::Actor;
use tokio::signal::unix::{signal, SignalKind};
use tracing::info;
use vsiem_actors::gateway::access::Denials;
use vsiem_actors::gateway::{Gateway, GatewayConfig};
use vsiem_actors::sensor::agent::AgentArgs;
use vsiem_actors::sensor::{SensorAgent, SensorConfig};
use vsiem_actors::sim::attacker::Attacker;
use vsiem_actors::{bus, monitor, sim, vsoc};
use vsiem_rules::{RuleSet, RulesError};
use vsiem_schemas::catalog;
use vsiem_topology::{pki, AddressMode, Topology, TopologyError};

use crate::cli::{
    Command, FloodArgs, PkiArgs, PkiCommand, SimProgram, TopologyArgs, TopologyCommand, VehicleArgs,
};

/// Runs `command`; `denials` are the access-control refusals the process's tracing layer counts
/// (the gateway reports them).
pub async fn run(command: Command, denials: Denials) -> anyhow::Result<ExitCode> {
    match command {
        Command::Sensor(args) => {
            let vehicle = Vehicle::new(&args.vehicle)?;
            let config = SensorConfig {
                gateway: vec![vehicle.gateway_endpoint(&args.ecu)?],
                security: vehicle.security(&args.ecu),
                topology: vehicle.topology,
                ecu: args.ecu,
                addressing: vehicle.addressing,
                fs_root: args.fs_root,
                simulate: args.simulate,
                backbone_port: vehicle.port,
                nftables: args.nftables,
                capture: args.capture,
                state_dir: args.state.state_dir,
            };
            supervise(
                SensorAgent,
                AgentArgs {
                    config,
                    drive: args.drive,
                },
            )
            .await
        }
        Command::Gateway(args) => {
            let vehicle = Vehicle::new(&args.vehicle)?;
            let rules = load_rules(args.rules.rules.as_deref(), &vehicle.topology)?;
            let config = GatewayConfig {
                listen: vehicle.gateway_listen(),
                vsoc: vec![vehicle.vsoc_endpoint()],
                security: vehicle.security(&vehicle.topology.gateway().name),
                denials,
                topology: vehicle.topology,
                addressing: vehicle.addressing,
                rules: Arc::new(rules),
                rules_dir: args.rules.rules,
                state_dir: args.state.state_dir,
            };
            supervise(Gateway, config).await
        }
        Command::Vsoc(args) => {
            let vehicle = Vehicle::new(&args.vehicle)?;
            let security = vehicle.security(pki::VSOC);
            tokio::select! {
                result = vsoc::run(
                    vec![vehicle.vsoc_endpoint()],
                    bus::acl::vsoc(&vehicle.topology),
                    &security,
                    args.store,
                ) => result.map_err(|e| anyhow!(e))?,
                () = shutdown() => {}
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Monitor(args) => {
            let vehicle = Vehicle::new(&args.vehicle)?;
            let session = bus::open(
                &bus::Role::Client {
                    connect: vehicle.gateway_listen(),
                },
                &vehicle.security(pki::MONITOR),
            )
            .await
            .map_err(|e| anyhow!(e))?;
            if args.metrics {
                let vin = vehicle.topology.vin();
                let answer = monitor::metrics(&session, vin, Duration::from_secs(5))
                    .await
                    .map_err(|e| anyhow!(e))?
                    .context("the gateway's metrics did not answer within 5 s")?;
                println!("{}", String::from_utf8_lossy(&answer));
                return Ok(ExitCode::SUCCESS);
            }
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let _monitor = monitor::watch(&session, vehicle.topology.vin(), tx)
                .await
                .map_err(|e| anyhow!(e))?;
            loop {
                tokio::select! {
                    Some(record) = rx.recv() => println!("{}", crate::demo::timeline::line(&record, None, args.json)),
                    () = shutdown() => return Ok(ExitCode::SUCCESS),
                }
            }
        }
        Command::Demo(args) => crate::demo::run(args).await,
        Command::Replay(args) => crate::replay::run(args),
        Command::Validate(args) => Ok(validate(args.topology.as_deref(), args.rules.as_deref())),
        Command::Pki(PkiArgs {
            command:
                PkiCommand::Init {
                    topology,
                    out,
                    force,
                },
        }) => {
            let topology = load_topology(topology.as_deref())?;
            let issued = pki::init(&topology, &out, force)?;
            for identity in &issued {
                println!("{}  {}", identity.name, identity.common_name);
            }
            println!(
                "{}: a CA and {} certificates for VIN {} (the CA's key is not kept)",
                out.display(),
                issued.len(),
                topology.vin()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Topology(TopologyArgs {
            command: TopologyCommand::Compose(args),
        }) => {
            print!("{}", crate::testbed::compose(&args)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Sim(args) => match args.program {
            SimProgram::IviMedia { listen, fs_root } => {
                tokio::select! {
                    result = sim::ivi_media::serve(listen, &fs_root) => result?,
                    () = shutdown() => {}
                }
                Ok(ExitCode::SUCCESS)
            }
            SimProgram::Flood(args) => flood(args).await,
        },
        Command::Attack(args) => {
            let vehicle = Vehicle::new(&args.vehicle)?;
            let attacker = Attacker {
                topology: &vehicle.topology,
                addressing: vehicle.addressing,
                ivi_media: args.ivi_media,
                persistence: Duration::from_secs(5),
                from: args.from,
            };
            let scenario = args.scenario;
            tokio::task::block_in_place(|| {
                attacker.run(scenario, &mut |step| {
                    println!(
                        "{}",
                        serde_json::to_string(&step).expect("a step serializes")
                    );
                })
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn flood(args: FloodArgs) -> anyhow::Result<ExitCode> {
    let vehicle = Vehicle::new(&args.vehicle)?;
    let kind = catalog::by_name(&args.event)
        .with_context(|| format!("{} is not an event type of the catalog", args.event))?;
    let session = bus::open(
        &bus::Role::Client {
            connect: vec![vehicle.gateway_endpoint(&args.ecu)?],
        },
        &vehicle.security(args.identity.as_deref().unwrap_or(&args.ecu)),
    )
    .await
    .map_err(|e| anyhow!(e))?;
    let plan = sim::flood::Flood {
        vin: vehicle.topology.vin().to_owned(),
        ecu: args.ecu,
        sensor: args.sensor,
        kind,
        rate: args.rate,
        count: args.count,
        duration: Duration::from_millis(args.duration_ms),
        state_dir: args.state_dir,
    };
    let session = Arc::new(session);
    let published = tokio::select! {
        result = sim::flood::run(Arc::clone(&session), &plan) => result.map_err(|e| anyhow!(e))?,
        () = shutdown() => return Ok(ExitCode::SUCCESS),
    };
    // Closing flushes what is still in the session's queues before the process exits.
    session.close().await.map_err(|e| anyhow!(e))?;
    println!("{}", serde_json::to_string(&published)?);
    Ok(ExitCode::SUCCESS)
}

/// Checks a topology and, given one, a rule directory against it; prints every problem.
fn validate(topology: Option<&Path>, rules: Option<&Path>) -> ExitCode {
    let shown = topology.map_or("the reference topology".into(), |p| p.display().to_string());
    let loaded = match topology {
        None => Ok(Topology::reference()),
        Some(path) => Topology::load(path),
    };
    let topology = match loaded {
        Ok(t) => {
            println!(
                "{shown}: valid ({} ECUs, {} services, VIN {})",
                t.ecus.len(),
                t.services.len(),
                t.vin()
            );
            t
        }
        Err(TopologyError::Invalid(problems)) => {
            eprintln!("{shown}: {} problems", problems.len());
            for problem in problems {
                eprintln!("  {problem}");
            }
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(dir) = rules else {
        return ExitCode::SUCCESS;
    };
    match RuleSet::load_dir(dir, &topology) {
        Ok(set) => {
            println!(
                "{}: valid ({} rules, {} correlations)",
                dir.display(),
                set.rules.len(),
                set.correlations.len()
            );
            ExitCode::SUCCESS
        }
        Err(RulesError::Invalid(problems)) => {
            eprintln!("{}: {} problems", dir.display(), problems.len());
            for problem in problems {
                eprintln!("  {problem}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The topology, where its processes meet, and the PKI they prove who they are with.
pub struct Vehicle {
    pub topology: Arc<Topology>,
    pub addressing: AddressMode,
    pub port: u16,
    /// The PKI directory; `None` with `--insecure`.
    pki: Option<PathBuf>,
}

impl Vehicle {
    pub fn new(args: &VehicleArgs) -> anyhow::Result<Self> {
        Ok(Self {
            topology: Arc::new(load_topology(args.topology.as_deref())?),
            addressing: args.addressing.into(),
            port: args.port,
            pki: args.pki.clone().filter(|_| !args.insecure),
        })
    }

    /// How the process of `identity` (an ECU, `vsoc` or `monitor`) joins the backbone.
    pub fn security(&self, identity: &str) -> bus::Security {
        match &self.pki {
            Some(dir) => bus::Security::Tls(pki::files(dir, identity)),
            None => bus::Security::Insecure,
        }
    }

    fn endpoint(&self, ip: impl std::fmt::Display) -> String {
        bus::endpoint(self.pki.is_some(), ip, self.port)
    }

    /// The gateway's address in the zone of `ecu`'s primary interface.
    pub fn gateway_endpoint(&self, ecu: &str) -> anyhow::Result<String> {
        let t = &self.topology;
        let zone = &t
            .ecu(ecu)
            .with_context(|| format!("{ecu} is not an ECU of the topology"))?
            .interfaces
            .first()
            .with_context(|| format!("{ecu} has no interface"))?
            .zone;
        let gateway = t.gateway();
        let Some(interface) = gateway.interfaces.iter().find(|i| &i.zone == zone) else {
            bail!("{ecu} is in zone {zone}, where the gateway has no interface");
        };
        let ip = t
            .host_address(zone, interface.host, self.addressing)
            .with_context(|| format!("zone {zone} has no address"))?;
        Ok(self.endpoint(ip))
    }

    /// The gateway's endpoints, one in every zone it is on: where it listens, and where a
    /// monitor may connect.
    pub fn gateway_listen(&self) -> Vec<String> {
        let t = &self.topology;
        t.gateway()
            .interfaces
            .iter()
            .filter_map(|i| t.host_address(&i.zone, i.host, self.addressing))
            .map(|ip| self.endpoint(ip))
            .collect()
    }

    pub fn vsoc_endpoint(&self) -> String {
        self.endpoint(self.topology.vsoc_address(self.addressing))
    }
}

/// The rule set of a directory, or the embedded reference set, checked against `topology`.
pub fn load_rules(dir: Option<&Path>, topology: &Topology) -> anyhow::Result<RuleSet> {
    let loaded = match dir {
        None => RuleSet::reference(topology),
        Some(dir) => RuleSet::load_dir(dir, topology),
    };
    loaded.map_err(|e| match e {
        RulesError::Invalid(problems) => {
            let listed: String = problems.iter().map(|p| format!("\n  {p}")).collect();
            anyhow!("{} problems in the rule set:{listed}", problems.len())
        }
        other => anyhow!("{other}"),
    })
}

pub fn load_topology(path: Option<&Path>) -> anyhow::Result<Topology> {
    match path {
        None => Ok(Topology::reference()),
        Some(path) => Topology::load(path).map_err(|e| anyhow!("{e}")),
    }
}

/// Runs a root actor until it stops (an error: roots only stop on failure) or a signal asks.
async fn supervise<A: Actor>(actor: A, args: A::Arguments) -> anyhow::Result<ExitCode> {
    let (root, mut handle) = Actor::spawn(None, actor, args)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    tokio::select! {
        () = shutdown() => {
            info!("Stopping.");
            root.stop(Some("signal".into()));
            let _ = handle.await;
            Ok(ExitCode::SUCCESS)
        }
        result = &mut handle => {
            result?;
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown() {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
