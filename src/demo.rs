//! `vsiem demo`: the whole car, the V-SOC and an attacker as separate processes on loopback,
//! replaying a scenario and judging its outcome. Exits 0 only if the scenario's promise held:
//! for the reference attack, Unlock and Disarm never took effect and the V-SOC acknowledged the
//! incident; for a benign drive, no incident and no block.

mod launch;
pub mod timeline;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Context};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::Instant;
use vsiem_actors::monitor::{self, Record};
use vsiem_actors::sim::attacker::{Scenario, Step};
use vsiem_actors::sim::{self, body};
use vsiem_actors::{bus, gateway};
use vsiem_schemas::catalog::{self, Category};
use vsiem_topology::pki;

use crate::cli::{Addressing, DemoArgs, VehicleArgs};
use crate::commands::{shutdown, Vehicle};
use launch::Fleet;
use timeline::Entry;

/// The ECUs the demo runs a sensor agent on.
const SENSORS: [&str; 4] = ["tcu", "ivi", "body-dc", "chassis-dc"];
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the demo keeps listening once the scenario's outcome is settled: for stragglers
/// after an attack, and for false positives after a benign drive (20 signal samples, 40 process
/// polls).
fn settle(scenario: Scenario) -> Duration {
    match scenario {
        Scenario::Reference => Duration::from_millis(500),
        Scenario::Benign => Duration::from_secs(2),
    }
}

#[derive(Debug, Default, Serialize)]
struct Summary {
    kind: &'static str,
    scenario: &'static str,
    outcome: &'static str,
    problems: Vec<String>,
    events: usize,
    incidents: usize,
    orders: usize,
    acks: usize,
    vsoc_acked: bool,
    unlock_effects: usize,
    disarm_effects: usize,
    detect_to_block_ms: Option<f64>,
    detect_to_escalation_ms: Option<f64>,
    rss_kb: BTreeMap<String, u64>,
    logs: String,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let temp;
    let dir: PathBuf = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new().prefix("vsiem-demo-").tempdir()?;
            temp.path().to_owned()
        }
    };
    let vehicle = Vehicle::new(&VehicleArgs {
        topology: args.topology.clone(),
        addressing: Addressing::Loopback,
        port: 7447,
        pki: Some(dir.join("pki")),
        insecure: args.insecure,
    })?;
    if !args.insecure {
        // A throwaway PKI: replaced on every run, also in a kept directory.
        pki::init(&vehicle.topology, &dir.join("pki"), true)?;
    }
    let mut fleet = Fleet::new(&dir)?;
    let result = tokio::select! {
        result = scenario(&args, &vehicle, &dir, &mut fleet) => result,
        () = shutdown() => Err(anyhow!("interrupted")),
    };
    fleet.stop().await;
    let mut summary = result?;
    summary.logs = if args.keep.is_some() {
        dir.join("logs").display().to_string()
    } else {
        String::new()
    };
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(if summary.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn scenario(
    args: &DemoArgs,
    vehicle: &Vehicle,
    dir: &Path,
    fleet: &mut Fleet,
) -> anyhow::Result<Summary> {
    let common = common_args(args, dir);
    // Each run is a new car: no events or records of an earlier run in a kept directory.
    let state = dir.join("state");
    if state.exists() {
        std::fs::remove_dir_all(&state)
            .with_context(|| format!("cannot clear {}", state.display()))?;
    }
    let state_args = vec!["--state-dir".into(), state.into_os_string()];
    let ivi_ip = vehicle
        .topology
        .ecu_address("ivi", vehicle.addressing)
        .context("the topology has no ivi")?;
    let ivi_media = std::net::SocketAddr::from((ivi_ip, sim::ivi_media::PORT));
    for ecu in SENSORS {
        sim::plant_file_tree(ecu, &dir.join(ecu))?;
    }

    fleet.spawn(
        "vsoc",
        &[
            args_of(&["vsoc", "--store"]),
            vec![dir.join("vsoc-incidents.jsonl").into()],
            common.clone(),
        ]
        .concat(),
        false,
    )?;
    fleet.spawn(
        "gateway",
        &[args_of(&["gateway"]), state_args.clone(), common.clone()].concat(),
        false,
    )?;
    let session = bus::open(
        &bus::Role::Client {
            connect: vehicle.gateway_listen(),
        },
        &vehicle.security(pki::MONITOR),
    )
    .await
    .map_err(|e| anyhow!(e))?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _monitor = monitor::watch(&session, vehicle.topology.vin(), tx)
        .await
        .map_err(|e| anyhow!(e))?;
    for ecu in SENSORS {
        let mut sensor = args_of(&["sensor", "--ecu", ecu, "--simulate", "--fs-root"]);
        sensor.push(dir.join(ecu).into());
        if args.scenario == Scenario::Benign {
            sensor.extend(args_of(&["--drive", "city"]));
        }
        fleet.spawn(
            ecu,
            &[sensor, state_args.clone(), common.clone()].concat(),
            false,
        )?;
    }
    let mut media = args_of(&[
        "sim",
        "ivi-media",
        "--listen",
        &ivi_media.to_string(),
        "--fs-root",
    ]);
    media.push(dir.join("ivi").into());
    fleet.spawn("ivi-media", &media, false)?;

    let mut entries: Vec<Entry> = Vec::new();
    wait_until_watching(&mut rx, fleet, &mut entries).await?;
    wait_until_listening(ivi_media, fleet).await?;

    let scenario_name = match args.scenario {
        Scenario::Reference => "reference",
        Scenario::Benign => "benign",
    };
    let attack = [
        args_of(&[
            "attack",
            "--scenario",
            scenario_name,
            "--ivi-media",
            &ivi_media.to_string(),
        ]),
        common,
    ]
    .concat();
    let stdout = fleet
        .spawn("attacker", &attack, true)?
        .context("attacker stdout")?;
    let mut steps = BufReader::new(stdout).lines();
    let mut attacker_done = false;
    let deadline = Instant::now() + SCENARIO_TIMEOUT;
    let mut settled_at: Option<Instant> = None;
    loop {
        let until = settled_at
            .map_or(deadline, |t| t + settle(args.scenario))
            .min(deadline);
        tokio::select! {
            Some(record) = rx.recv() => entries.push(Entry::Bus(record)),
            line = steps.next_line(), if !attacker_done => match line? {
                Some(line) => entries.push(Entry::Attack(serde_json::from_str::<Step>(&line).with_context(|| format!("attacker said {line:?}"))?)),
                None => attacker_done = true,
            },
            () = tokio::time::sleep_until(until) => break,
        }
        if settled_at.is_none() && attacker_done && settled(args.scenario, &entries) {
            settled_at = Some(Instant::now());
        }
        if let Some(problem) = fleet.exited(&["attacker"]) {
            return Err(anyhow!(problem));
        }
    }
    let rss_kb = fleet.peak_rss_kb();
    let actuations = body::read_actuations(&dir.join("body-dc"))?;
    entries.sort_by_key(Entry::ts_ns);
    let t0 = entries.iter().find_map(|e| match e {
        Entry::Bus(r @ Record::Event { .. }) => Some(timeline::record_ts(r)),
        _ => None,
    });
    for entry in &entries {
        println!("{}", timeline::entry_line(entry, t0, args.json));
    }
    let mut summary = judge(args.scenario, &entries, &actuations);
    summary.scenario = scenario_name;
    summary.rss_kb = rss_kb;
    if !attacker_done {
        summary.problems.push(format!(
            "the attacker did not finish within {SCENARIO_TIMEOUT:?}"
        ));
    }
    summary.outcome = match (summary.problems.is_empty(), args.scenario) {
        (true, Scenario::Reference) => "attack stopped",
        (true, Scenario::Benign) => "quiet",
        (false, _) => "FAILED",
    };
    Ok(summary)
}

fn common_args(args: &DemoArgs, dir: &Path) -> Vec<OsString> {
    let mut common = args_of(&["--addressing", "loopback"]);
    if args.insecure {
        common.push("--insecure".into());
    } else {
        common.push("--pki".into());
        common.push(dir.join("pki").into());
    }
    if let Some(topology) = &args.topology {
        common.push("--topology".into());
        common.push(topology.into());
    }
    common
}

fn args_of(words: &[&str]) -> Vec<OsString> {
    words.iter().map(OsString::from).collect()
}

/// Waits until the gateway takes events and every sensor agent watches.
async fn wait_until_watching(
    rx: &mut mpsc::UnboundedReceiver<Record>,
    fleet: &mut Fleet,
    entries: &mut Vec<Entry>,
) -> anyhow::Result<()> {
    let mut waiting: HashSet<&str> = SENSORS.into_iter().chain([gateway::ECU]).collect();
    let deadline = Instant::now() + READY_TIMEOUT;
    while !waiting.is_empty() {
        let record = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .map_err(|_| anyhow!("sensors not up within {READY_TIMEOUT:?}: {waiting:?}"))?
            .context("monitor closed")?;
        if let Record::Alive { ecu, up: true, .. } = &record {
            waiting.remove(ecu.as_str());
        }
        if let Some(problem) = fleet.exited(&[]) {
            return Err(anyhow!(problem));
        }
        entries.push(Entry::Bus(record));
    }
    Ok(())
}

/// Waits until the IVI's media service accepts connections (the exploit's target).
async fn wait_until_listening(addr: std::net::SocketAddr, fleet: &mut Fleet) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if let Some(problem) = fleet.exited(&[]) {
            return Err(anyhow!(problem));
        }
        if Instant::now() > deadline {
            return Err(anyhow!(
                "ivi-media not listening on {addr} within {READY_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Whether the scenario has reached its end state (the demo then listens a little longer).
fn settled(scenario: Scenario, entries: &[Entry]) -> bool {
    match scenario {
        Scenario::Benign => true,
        Scenario::Reference => {
            let (orders, acked) = orders_and_acks(entries);
            let incident = entries
                .iter()
                .any(|e| matches!(e, Entry::Bus(Record::Incident { .. })));
            let escalated = entries
                .iter()
                .any(|e| matches!(e, Entry::Bus(Record::Escalation { .. })));
            incident
                && escalated
                && !orders.is_empty()
                && orders.keys().all(|id| acked.contains_key(id))
        }
    }
}

/// Orders by id (with their issue time) and the first ack of each (with its time).
fn orders_and_acks(entries: &[Entry]) -> (HashMap<u64, u64>, HashMap<u64, u64>) {
    let mut orders = HashMap::new();
    let mut acks = HashMap::new();
    for entry in entries {
        match entry {
            Entry::Bus(Record::Order { id, ts_ns, .. }) => {
                orders.entry(*id).or_insert(*ts_ns);
            }
            Entry::Bus(Record::Ack { order, ts_ns, .. }) => {
                acks.entry(*order).or_insert(*ts_ns);
            }
            _ => {}
        }
    }
    (orders, acks)
}

fn judge(scenario: Scenario, entries: &[Entry], actuations: &[body::Actuation]) -> Summary {
    let mut s = Summary {
        kind: "summary",
        ..Summary::default()
    };
    let (orders, acks) = orders_and_acks(entries);
    s.orders = orders.len();
    s.acks = acks.len();
    s.events = entries
        .iter()
        .filter(|e| matches!(e, Entry::Bus(Record::Event { .. })))
        .count();
    s.incidents = entries
        .iter()
        .filter(|e| matches!(e, Entry::Bus(Record::Incident { .. })))
        .map(|e| match e {
            Entry::Bus(Record::Incident { id, .. }) => *id,
            _ => 0,
        })
        .collect::<HashSet<_>>()
        .len();
    let escalated = entries.iter().find_map(|e| match e {
        Entry::Bus(Record::Escalation { ts_ns, .. }) => Some(*ts_ns),
        _ => None,
    });
    s.vsoc_acked = escalated.is_some();
    s.unlock_effects = actuations.iter().filter(|a| a.effect == "unlock").count();
    s.disarm_effects = actuations.iter().filter(|a| a.effect == "disarm").count();
    let first_intrusion = entries.iter().find_map(|e| match e {
        Entry::Bus(r @ Record::Event { name, .. })
            if catalog::by_name(name).is_some_and(|t| t.category == Category::Intrusion) =>
        {
            Some(timeline::record_ts(r))
        }
        _ => None,
    });
    if let Some(t0) = first_intrusion {
        let all_acked = !orders.is_empty() && orders.keys().all(|id| acks.contains_key(id));
        s.detect_to_block_ms = acks
            .values()
            .max()
            .filter(|_| all_acked)
            .map(|t| timeline::delay_ms(*t, t0));
        s.detect_to_escalation_ms = escalated.map(|t| timeline::delay_ms(t, t0));
    }
    match scenario {
        Scenario::Reference => {
            let unauthorized: Vec<_> = actuations
                .iter()
                .filter(|a| a.effect == "unlock" || a.effect == "disarm")
                .collect();
            if !unauthorized.is_empty() {
                s.problems
                    .push(format!("the attack took effect: {unauthorized:?}"));
            }
            if s.incidents == 0 {
                s.problems.push("no incident was raised".into());
            }
            if !s.vsoc_acked {
                s.problems
                    .push("the V-SOC did not acknowledge the incident".into());
            }
            if s.detect_to_block_ms.is_none() {
                s.problems.push(format!(
                    "{} of {} block orders acknowledged",
                    s.acks, s.orders
                ));
            }
        }
        Scenario::Benign => {
            if s.incidents > 0 || s.orders > 0 {
                s.problems.push(format!(
                    "a benign drive raised {} incidents and {} block orders",
                    s.incidents, s.orders
                ));
            }
            if s.events > 0 {
                s.problems.push(format!(
                    "a benign drive raised {} security events",
                    s.events
                ));
            }
            let by = |effect: &str, caller: &str| {
                actuations
                    .iter()
                    .any(|a| a.effect == effect && a.caller == caller)
            };
            if !(by("lock", "ivi") && by("unlock", "tcu")) {
                s.problems
                    .push(format!("allowed calls did not take effect: {actuations:?}"));
            }
        }
    }
    s
}

fn print_summary(s: &Summary) {
    println!();
    println!("Outcome: {} ({} scenario)", s.outcome, s.scenario);
    for problem in &s.problems {
        println!("  problem: {problem}");
    }
    println!(
        "  {} events, {} incidents, {} block orders, {} acks, V-SOC acknowledged: {}",
        s.events, s.incidents, s.orders, s.acks, s.vsoc_acked
    );
    println!(
        "  unlock took effect {} times, disarm {} times",
        s.unlock_effects, s.disarm_effects
    );
    if let Some(ms) = s.detect_to_block_ms {
        println!("  detect-to-block: {ms:.3} ms (first intrusion event to the last block ack)");
    }
    if let Some(ms) = s.detect_to_escalation_ms {
        println!("  detect-to-escalation: {ms:.3} ms (first intrusion event to the V-SOC receipt)");
    }
    let rss: Vec<String> = s
        .rss_kb
        .iter()
        .map(|(name, kb)| format!("{name} {:.1} MiB", *kb as f64 / 1024.0))
        .collect();
    println!("  peak RSS: {}", rss.join(", "));
    if !s.logs.is_empty() {
        println!("  logs: {}", s.logs);
    }
}
