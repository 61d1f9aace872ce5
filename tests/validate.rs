//! `vsiem validate`: a topology with several mistakes is refused with every mistake listed and
//! its path; the reference topology passes.

mod common;

use common::vsiem;

#[test]
fn every_problem_of_a_broken_topology_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let reference = vsiem_topology::REFERENCE_TOML;
    let broken = reference
        .replacen("vin = \"5VS1M00REF0000001\"", "vin = \"SHORT\"", 1)
        .replacen("provider = \"body-dc\"", "provider = \"bcm\"", 1)
        .replacen("clients = [\"tcu\"]", "clients = [\"tcuu\"]", 1);
    assert_ne!(broken, reference);
    std::fs::write(
        dir.path().join("reference-intel.json"),
        vsiem_topology::REFERENCE_INTEL,
    )
    .unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, broken).unwrap();

    let output = vsiem()
        .args(["validate", "--topology"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a broken topology was accepted");
    for expected in [
        "vehicle.vin",
        "services[0].provider",
        "services[0].methods[1].clients[0]",
    ] {
        assert!(
            stderr.contains(&format!("{expected}:")),
            "{expected} not reported:\n{stderr}"
        );
    }
    assert!(stderr.contains("3 problems"), "{stderr}");
}

#[test]
fn the_reference_topology_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("reference-intel.json"),
        vsiem_topology::REFERENCE_INTEL,
    )
    .unwrap();
    let path = dir.path().join("reference.toml");
    std::fs::write(&path, vsiem_topology::REFERENCE_TOML).unwrap();
    let output = vsiem()
        .args(["validate", "--topology"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("valid"));
}

#[test]
fn every_problem_of_a_broken_rule_set_is_listed_with_its_file() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in vsiem_rules::REFERENCE_RULES {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let shipped = vsiem()
        .args(["validate", "--rules"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        shipped.status.success(),
        "{}",
        String::from_utf8_lossy(&shipped.stderr)
    );
    let renamed = vsiem_rules::REFERENCE_RULES
        .iter()
        .find(|(name, _)| *name == "correlations.yml")
        .map(|(_, text)| text.replacen("group-by: [origin]", "group-by: [origin_ecu]", 1))
        .unwrap();
    std::fs::write(dir.path().join("correlations.yml"), renamed).unwrap();
    std::fs::write(
        dir.path().join("local.yml"),
        "title: t\nname: local\nlevel: urgent\ndetection:\n  sel: {ecu: ivi}\n  condition: sel or other\n",
    )
    .unwrap();
    let output = vsiem()
        .args(["validate", "--rules"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a broken rule set was accepted");
    for expected in [
        "correlations.yml#3: correlation.group-by[0]: unknown field `origin_ecu`",
        "local.yml: level: `urgent` is not one of",
        "local.yml: detection.condition: `other` is not a selection of this rule",
        // The broken correlation no longer exists, so the policy naming it is a problem too.
        "topology: response.policies[0].rules[0]: `intrusion-then-lateral-movement` is not a rule of the set",
    ] {
        assert!(stderr.contains(expected), "{expected} not reported:\n{stderr}");
    }
    assert!(stderr.contains("4 problems"), "{stderr}");
}
