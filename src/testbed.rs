//! `vsiem topology compose`: the container testbed of a topology. The layout (networks,
//! addresses, routes, resources, mounts) is `vsiem_topology::compose`'s; here is what each
//! container runs, as the demo runs it on loopback, and its state directory.

use anyhow::Context;
use clap::ValueEnum;
use vsiem_actors::sim;
use vsiem_topology::compose::{self, Container, Mounts, STATE_DIR};
use vsiem_topology::{AddressMode, EcuRole, SensorKind};

use crate::cli::ComposeArgs;
use crate::commands::load_topology;

/// Where the simulated ECUs' file systems are, inside each container's state directory.
const FS_ROOT: &str = "root";

/// The compose file of `args.topology`; creates the state directories and plants the simulated
/// ECUs' file trees in them.
pub fn compose(args: &ComposeArgs) -> anyhow::Result<String> {
    let topology = load_topology(Some(&args.topology))?;
    let absolute = |p: &std::path::Path| {
        std::path::absolute(p).with_context(|| format!("cannot resolve {}", p.display()))
    };
    let (file, pki, state) = (
        absolute(&args.topology)?,
        absolute(&args.pki)?,
        absolute(&args.state)?,
    );
    for name in topology
        .ecus
        .iter()
        .map(|e| e.name.as_str())
        .chain([compose::VSOC, compose::ATTACKER])
    {
        let dir = state.join(name);
        std::fs::create_dir_all(dir.join(FS_ROOT))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        sim::plant_file_tree(name, &dir.join(FS_ROOT))
            .with_context(|| format!("cannot plant {name}'s files"))?;
    }
    let drive = args
        .drive
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    let programs = |c: &Container<'_>| programs(&topology, c, &drive);
    let mounts = Mounts {
        topology: &file,
        pki: &pki,
        state: &state,
    };
    Ok(compose::compose(
        &topology,
        &args.image,
        &mounts,
        &programs,
    )?)
}

/// Every container runs its role's `vsiem` processes; the ECUs host the simulated vehicle's
/// programs (`--simulate`, the IVI's media service) behind their agents, which enforce with
/// nftables and capture on their primary zone when the topology gives them a network sensor.
/// The attacker waits for the harness to run its steps (`vsiem attack`).
fn programs(
    topology: &vsiem_topology::Topology,
    container: &Container<'_>,
    drive: &str,
) -> Vec<String> {
    let root = format!("{STATE_DIR}/{FS_ROOT}");
    match container {
        Container::Ecu(ecu) => {
            let mut agent = format!(
                "vsiem sensor --addressing container --ecu {} --nftables --simulate \
                 --fs-root {root} --drive {drive}",
                ecu.name
            );
            if ecu.sensors.contains(&SensorKind::Net) {
                if let Some(zone) = ecu.interfaces.first().map(|i| &i.zone) {
                    agent.push_str(&format!(" --capture {zone}"));
                }
            }
            let mut run = Vec::new();
            if ecu.role == EcuRole::Gateway {
                run.push("vsiem gateway --addressing container".to_owned());
            }
            if !ecu.sensors.is_empty() {
                run.push(agent);
            }
            if ecu.role == EcuRole::Ivi {
                if let Some(ip) = topology.ecu_address(&ecu.name, AddressMode::Container) {
                    run.push(format!(
                        "vsiem sim ivi-media --listen {ip}:{} --fs-root {root}",
                        sim::ivi_media::PORT
                    ));
                }
            }
            run
        }
        Container::Vsoc => vec![format!(
            "vsiem vsoc --addressing container --store {STATE_DIR}/vsoc-incidents.jsonl"
        )],
        Container::Attacker => vec!["sleep 2000000000".to_owned()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_programs() {
        let t = vsiem_topology::Topology::reference();
        let of = |name: &str| programs(&t, &Container::Ecu(t.ecu(name).unwrap()), "city");
        let gateway = of("gateway");
        assert_eq!(gateway[0], "vsiem gateway --addressing container");
        assert!(gateway[1].starts_with("vsiem sensor --addressing container --ecu gateway "));
        assert!(
            gateway[1].ends_with(" --capture infotainment"),
            "{gateway:?}"
        );
        let ivi = of("ivi");
        assert_eq!(ivi.len(), 2);
        assert!(!ivi[0].contains("--capture"), "the IVI has no net sensor");
        assert_eq!(
            ivi[1],
            "vsiem sim ivi-media --listen 10.10.1.3:8554 --fs-root /var/lib/vsiem/root"
        );
        assert!(of("tcu")[0].ends_with("--drive city --capture infotainment"));
        assert_eq!(of("body-dc").len(), 1);
        assert_eq!(
            programs(&t, &Container::Vsoc, "city"),
            ["vsiem vsoc --addressing container --store /var/lib/vsiem/vsoc-incidents.jsonl"]
        );
    }
}
