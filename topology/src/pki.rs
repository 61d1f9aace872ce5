//! The vehicle PKI: who has a certificate (every ECU, the V-SOC, the monitor), what it is named,
//! and issuing the CA and the certificates with rcgen (`vsiem pki init`).
//!
//! A certificate's common name is `<identity>.<vin>`, which the Zenoh access control matches;
//! its subject alternative names are that name and every address the identity listens on in
//! either addressing mode, which TLS clients check against the endpoint they dialled. The CA's
//! key signs the certificates and is then dropped: it is never written, so there is nothing on
//! any ECU (or in the output directory) that could issue a new identity. Adding an ECU means
//! issuing the vehicle's PKI again.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::{AddressMode, Topology};

/// The V-SOC's identity (the receiver the gateway escalates to).
pub const VSOC: &str = "vsoc";
/// The identity of `vsiem monitor`, the demo and the tests: it may read the backbone, not write.
pub const MONITOR: &str = "monitor";
/// The CA certificate's file in a PKI directory.
pub const CA_FILE: &str = "ca.pem";

/// One holder of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// An ECU's name, [`VSOC`] or [`MONITOR`].
    pub name: String,
    pub common_name: String,
    /// Where it listens, in every addressing mode (servers' names are checked against these).
    pub addresses: Vec<IpAddr>,
}

/// The files of one identity in a PKI directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityFiles {
    pub ca: PathBuf,
    pub certificate: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{0} already holds a PKI (ca.pem); pass --force to replace it")]
    Exists(PathBuf),
    #[error("ECU {0:?} has the name of a reserved identity")]
    Reserved(String),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot issue a certificate: {0}")]
    Issue(#[from] rcgen::Error),
}

/// The common name of `identity` in the vehicle `vin`.
pub fn common_name(identity: &str, vin: &str) -> String {
    format!("{identity}.{vin}")
}

/// Where `identity`'s certificate, key and the CA are in the PKI directory `dir`.
pub fn files(dir: &Path, identity: &str) -> IdentityFiles {
    IdentityFiles {
        ca: dir.join(CA_FILE),
        certificate: dir.join(format!("{identity}.pem")),
        key: dir.join(format!("{identity}.key")),
    }
}

impl Topology {
    /// Every identity of the vehicle's PKI: each ECU, the V-SOC and the monitor.
    pub fn identities(&self) -> Vec<Identity> {
        let every_mode = |f: &dyn Fn(AddressMode) -> Vec<IpAddr>| -> Vec<IpAddr> {
            [AddressMode::Loopback, AddressMode::Container]
                .into_iter()
                .flat_map(f)
                .collect()
        };
        let identity = |name: &str, addresses| Identity {
            name: name.to_owned(),
            common_name: common_name(name, self.vin()),
            addresses,
        };
        let mut identities: Vec<Identity> = self
            .ecus
            .iter()
            .map(|ecu| {
                identity(
                    &ecu.name,
                    every_mode(&|mode| {
                        ecu.interfaces
                            .iter()
                            .filter_map(|i| self.host_address(&i.zone, i.host, mode))
                            .map(IpAddr::V4)
                            .collect()
                    }),
                )
            })
            .collect();
        identities.push(identity(
            VSOC,
            every_mode(&|mode| vec![IpAddr::V4(self.vsoc_address(mode))]),
        ));
        identities.push(identity(MONITOR, Vec::new()));
        identities
    }
}

/// Issues a vehicle CA and a certificate and key for every identity of `topology` into `dir`
/// (created if needed). Refuses a directory that already holds a PKI unless `force`. Key files
/// are created with mode 0600. Returns the identities issued.
pub fn init(topology: &Topology, dir: &Path, force: bool) -> Result<Vec<Identity>, PkiError> {
    let ca_path = dir.join(CA_FILE);
    if ca_path.exists() && !force {
        return Err(PkiError::Exists(dir.to_owned()));
    }
    let identities = topology.identities();
    if let Some(ecu) = topology
        .ecus
        .iter()
        .find(|e| [VSOC, MONITOR, "ca"].contains(&e.name.as_str()))
    {
        return Err(PkiError::Reserved(ecu.name.clone()));
    }
    fs::create_dir_all(dir).map_err(|source| PkiError::Write {
        path: dir.to_owned(),
        source,
    })?;

    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(
        DnType::CommonName,
        format!("vsiem vehicle CA {}", topology.vin()),
    );
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    for identity in &identities {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![identity.common_name.clone()])?;
        params
            .subject_alt_names
            .extend(identity.addresses.iter().copied().map(SanType::IpAddress));
        params
            .distinguished_name
            .push(DnType::CommonName, identity.common_name.clone());
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // Every identity is both: a router serves, and every process dials as a client.
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &issuer)?;
        let paths = files(dir, &identity.name);
        write(&paths.certificate, cert.pem().as_bytes(), 0o644)?;
        write(&paths.key, key.serialize_pem().as_bytes(), 0o600)?;
    }
    // Last: a directory with a CA file is complete.
    write(&ca_path, ca_cert.pem().as_bytes(), 0o644)?;
    Ok(identities)
}

/// Writes `bytes` to `path` replacing it, created with `mode` (a replaced file gets it too).
fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    let failed = |source| PkiError::Write {
        path: path.to_owned(),
        source,
    };
    // Removed first: an existing file would keep its own, possibly wider, mode.
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(failed(e)),
        _ => {}
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(failed)?;
    file.write_all(bytes).map_err(failed)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn every_ecu_the_vsoc_and_the_monitor_get_named_certificates() {
        let topology = Topology::reference();
        let dir = tempfile::tempdir().unwrap();
        let issued = init(&topology, dir.path(), false).unwrap();
        let names: Vec<&str> = issued.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "gateway",
                "tcu",
                "ivi",
                "body-dc",
                "powertrain-dc",
                "chassis-dc",
                "adas-dc",
                "vsoc",
                "monitor"
            ]
        );
        let gateway = &issued[0];
        assert_eq!(gateway.common_name, "gateway.5VS1M00REF0000001");
        // Loopback and container addresses of every zone the gateway is on.
        for ip in ["127.0.1.1", "10.10.1.1", "127.0.2.1", "10.10.2.1"] {
            assert!(gateway.addresses.contains(&ip.parse().unwrap()), "{ip}");
        }
        assert!(issued[7].addresses.contains(&"127.0.0.10".parse().unwrap()));
        for identity in &issued {
            let paths = files(dir.path(), &identity.name);
            let key = fs::metadata(&paths.key).unwrap().permissions().mode();
            assert_eq!(key & 0o777, 0o600, "{}", identity.name);
            let pem = fs::read_to_string(&paths.certificate).unwrap();
            assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        }
        assert!(!dir.path().join("ca.key").exists(), "the CA key is dropped");
    }

    #[test]
    fn an_existing_pki_is_replaced_only_when_forced() {
        let topology = Topology::reference();
        let dir = tempfile::tempdir().unwrap();
        init(&topology, dir.path(), false).unwrap();
        let ca = fs::read(dir.path().join(CA_FILE)).unwrap();
        let ivi = files(dir.path(), "ivi").key;
        fs::set_permissions(&ivi, fs::Permissions::from_mode(0o644)).unwrap();
        let refused = init(&topology, dir.path(), false).unwrap_err();
        assert!(matches!(refused, PkiError::Exists(_)), "{refused}");
        assert_eq!(fs::read(dir.path().join(CA_FILE)).unwrap(), ca);

        init(&topology, dir.path(), true).unwrap();
        assert_ne!(fs::read(dir.path().join(CA_FILE)).unwrap(), ca);
        let mode = fs::metadata(&ivi).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "a replaced key gets 0600 again");
    }
}
