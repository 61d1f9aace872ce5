//! The simulated vehicle that the demo and tests run and attack: the body controller's
//! services, the chassis' drive, the IVI's vulnerable media service, the attacker, and a
//! publisher that floods the gateway as a compromised sensor agent would.
//! These are stand-ins for the car's own software, not part of the SIEM.

pub mod attacker;
pub mod body;
pub mod chassis;
pub mod flood;
pub mod ivi_media;

use std::path::Path;

/// The simulated ECUs' file trees, by ECU: the IVI's system and apps, the TCU's system, and the
/// directories the simulated controllers write their actuator logs to.
const FILE_TREES: [(&str, &str, &str); 9] = [
    ("ivi", "opt/ivi/system/bin/ivi-hmi", "ivi-hmi 4.2.0\n"),
    ("ivi", "opt/ivi/system/bin/ivi-media", "ivi-media 4.2.0\n"),
    ("ivi", "opt/ivi/system/bin/ivi-nav", "ivi-nav 4.2.0\n"),
    ("ivi", "opt/ivi/system/bin/ivi-update", "ivi-update 4.2.0\n"),
    ("ivi", "opt/ivi/system/etc/ivi.conf", "resolver=10.10.1.2\n"),
    (
        "ivi",
        "opt/ivi/apps/maps/manifest.json",
        "{\"name\":\"maps\"}\n",
    ),
    ("tcu", "opt/tcu/system/bin/tcu-modem", "tcu-modem 1.9.3\n"),
    ("body-dc", "var/log/.keep", ""),
    ("chassis-dc", "var/log/.keep", ""),
];

/// Plants the simulated file tree of `ecu` (if it has one) under `root`, the ECU's `--fs-root`.
pub fn plant_file_tree(ecu: &str, root: &Path) -> std::io::Result<()> {
    for (_, path, content) in FILE_TREES.iter().filter(|(owner, ..)| *owner == ecu) {
        let path = root.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, content)?;
    }
    Ok(())
}

/// Names this process as the kernel reports it (`comm`), as the real ECU program would be
/// named; the host sensor judges processes by that name.
pub fn set_process_name(name: &str) -> std::io::Result<()> {
    let name = std::ffi::CString::new(name).map_err(std::io::Error::other)?;
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of which the kernel copies at most 16
    // bytes; `name` outlives the call.
    let rc = unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
