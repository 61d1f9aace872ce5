//! `vsiem replay`: the network sensor's decode and detect pipeline and the gateway's correlation,
//! offline, over capture files. Time comes from the captures, so the output is deterministic.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use flatbuffers::FlatBufferBuilder;
use serde::Serialize;
use vsiem_actors::gateway::correlator::incidents::{Book, Change};
use vsiem_actors::monitor;
use vsiem_actors::sensor::net::capture_file;
use vsiem_actors::sensor::net::frame::LinkType;
use vsiem_actors::sensor::net::pipeline::{Counters, Pipeline};
use vsiem_rules::Engine;
use vsiem_schemas::encode::{self, Stamp};
use vsiem_schemas::{catalog, read};
use vsiem_topology::Topology;

use crate::cli::ReplayArgs;
use crate::demo::timeline;

/// The sensor name replayed events carry.
const SENSOR: &str = "net";

#[derive(Debug, Serialize)]
struct Summary {
    kind: &'static str,
    #[serde(flatten)]
    counters: Counters,
    unsupported_link: u64,
    events: BTreeMap<&'static str, u64>,
    incidents: u64,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let topology = Arc::new(crate::commands::load_topology(args.topology.as_deref())?);
    let rules = crate::commands::load_rules(args.rules.rules.as_deref(), &topology)?;
    let mut replay = Replay {
        pipeline: Pipeline::new(Arc::clone(&topology), args.port),
        engine: Engine::new(Arc::new(rules)),
        book: Book::default(),
        topology,
        ecu: args.ecu,
        json: args.json,
        seq: 0,
        boot_ns: vsiem_schemas::now_ns(),
        fbb: FlatBufferBuilder::new(),
        summary: Summary {
            kind: "summary",
            counters: Counters::default(),
            unsupported_link: 0,
            events: BTreeMap::new(),
            incidents: 0,
        },
    };
    for path in &args.captures {
        replay.capture(path)?;
    }
    replay.summary.counters = replay.pipeline.counters;
    if args.json {
        println!("{}", serde_json::to_string(&replay.summary)?);
    } else {
        let s = &replay.summary;
        println!(
            "\n{} frames ({} undecodable, {} of unsupported link types), {} events, {} incidents",
            s.counters.frames,
            s.counters.undecodable,
            s.unsupported_link,
            s.events.values().sum::<u64>(),
            s.incidents
        );
        for (name, n) in &s.events {
            println!("  {n:>8}  {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

struct Replay {
    topology: Arc<Topology>,
    pipeline: Pipeline,
    engine: Engine,
    book: Book,
    ecu: String,
    json: bool,
    seq: u64,
    /// The epoch of `seq`, as a sensor's uplink stamps it.
    boot_ns: u64,
    fbb: FlatBufferBuilder<'static>,
    summary: Summary,
}

impl Replay {
    fn capture(&mut self, path: &Path) -> anyhow::Result<()> {
        let mut found = Vec::new();
        capture_file::read(path, &mut |frame| {
            let Some(link) = LinkType::from_pcap(u32::from(frame.link)) else {
                self.summary.unsupported_link += 1;
                return;
            };
            self.pipeline
                .frame(link, frame.ts_ns, frame.data, &mut found);
            for detection in found.drain(..) {
                self.emit(detection.into_draft());
            }
        })?;
        Ok(())
    }

    /// Prints one event as the sensor would publish it, and runs it through correlation.
    fn emit(&mut self, draft: encode::EventDraft) {
        self.seq += 1;
        let stamp = Stamp {
            vin: self.topology.vin(),
            ecu: &self.ecu,
            sensor: SENSOR,
            seq: self.seq,
            timestamp_ns: draft.timestamp_ns,
            boot_ns: self.boot_ns,
        };
        let bytes = encode::event(&mut self.fbb, &stamp, &draft);
        let event = read::event(bytes).expect("an event just encoded verifies");
        let kind = catalog::by_id(draft.event_id).expect("detectors emit catalog types");
        *self.summary.events.entry(kind.name).or_default() += 1;
        println!(
            "{}",
            timeline::line(&monitor::event(&event), None, self.json)
        );
        // Time is the capture's: the incidents' own times are the events' times.
        let now = draft.timestamp_ns;
        let vehicle = self.pipeline.vehicle();
        let outcomes = self.engine.observe(&event, &vehicle);
        let mut changed = Vec::new();
        for outcome in &outcomes {
            match self.book.apply(outcome, vehicle, now) {
                Change::Unchanged(_) => {}
                change => {
                    if matches!(change, Change::Raised(_)) {
                        self.summary.incidents += 1;
                    }
                    if !changed.contains(&change.incident()) {
                        changed.push(change.incident());
                    }
                }
            }
        }
        for id in changed {
            let Some(incident) = self.book.get(id) else {
                continue;
            };
            let mut draft = incident.draft.clone();
            draft.updated_ns = now;
            let bytes = encode::incident(&mut self.fbb, self.topology.vin(), &draft);
            let view = read::incident(bytes).expect("an incident just encoded verifies");
            println!(
                "{}",
                timeline::line(&monitor::incident(&view), None, self.json)
            );
        }
    }
}
