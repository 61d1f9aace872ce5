//! Scenario: a normal drive (allowed SOME/IP calls from the IVI and the TCU, speed and pedal
//! signals changing) raises no event, no incident and no block, and the calls take effect.

mod common;

use common::{demo, of_kind, summary};

#[test]
fn a_benign_drive_raises_nothing_and_blocks_nothing() {
    let (output, lines) = demo(&["--scenario", "benign"]);
    let s = summary(&lines);
    assert!(
        output.status.success(),
        "demo failed: {s}\nevents: {:#?}\nstderr:\n{}",
        of_kind(&lines, "event"),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(s["outcome"], "quiet");
    for kind in ["event", "incident", "order"] {
        assert!(
            of_kind(&lines, kind).is_empty(),
            "a benign drive produced {kind}s: {:#?}",
            of_kind(&lines, kind)
        );
    }
    assert_eq!(
        s["unlock_effects"].as_u64(),
        Some(1),
        "the TCU's unlock did not take effect"
    );
    let refused: Vec<_> = of_kind(&lines, "attack")
        .into_iter()
        .filter(|a| a["outcome"] != "ok")
        .collect();
    assert!(refused.is_empty(), "allowed calls refused: {refused:#?}");
}
