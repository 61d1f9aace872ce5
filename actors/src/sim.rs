//! The simulated vehicle that the demo and tests run and attack: the body controller's
//! services, the chassis' drive, the IVI's vulnerable media service, the attacker, and a
//! publisher that floods the gateway as a compromised sensor agent would.
//! These are stand-ins for the car's own software, not part of the SIEM.

pub mod attacker;
pub mod body;
pub mod chassis;
pub mod flood;
pub mod ivi_media;

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
