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
