//! Runs tests/scapy/captures.py, the Scapy captures of the reference vehicle, into a
//! directory. Shared by the tests and benches that replay them (included with `#[path]`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes every scenario's capture into `dir` and returns (scenario, path), in the script's
/// order. Fails saying what to install when python3 or scapy is missing.
pub fn captures(dir: &Path) -> Vec<(String, PathBuf)> {
    // From the root package or from a member crate one level down (actors/).
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = ["tests/scapy/captures.py", "../tests/scapy/captures.py"]
        .iter()
        .map(|p| manifest.join(p))
        .find(|p| p.exists())
        .expect("tests/scapy/captures.py");
    let install = "python3 with scapy 2.6.1 is needed: `pip install scapy==2.6.1`";
    let output = Command::new("python3")
        .arg(&script)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("{install} (python3: {e})"));
    assert!(
        output.status.success(),
        "{} failed; {install}\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|name| (name.to_owned(), dir.join(format!("{name}.pcap"))))
        .collect()
}
