//! The body controller's application: door lock, immobilizer and climate, with the payloads
//! of the reference vehicle. Every actuation is appended to an actuator log, which is what
//! the demo reads to prove that an unlock or a disarm never took effect.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use someip_rs::ReturnCode;

use crate::sensor::someip::Application;

pub const DOOR_LOCK: u16 = 0x1101;
pub const IMMOBILIZER: u16 = 0x1102;
pub const CLIMATE: u16 = 0x1201;
pub const LOCK: u16 = 0x0001;
pub const UNLOCK: u16 = 0x0002;
pub const GET_STATE: u16 = 0x0001;
pub const DISARM: u16 = 0x0002;
pub const SET_TEMPERATURE: u16 = 0x0001;

/// Where the actuator log lives under an ECU's file-system root.
pub fn actuator_log(fs_root: &Path) -> PathBuf {
    fs_root.join("var/log/actuators.log")
}

/// One line of the actuator log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actuation {
    pub effect: String,
    pub caller: String,
    pub timestamp_ns: u64,
}

pub struct Body {
    locked: bool,
    armed: bool,
    temperature_decidegrees: i16,
    log: File,
}

impl Body {
    pub fn open(fs_root: &Path) -> std::io::Result<Self> {
        let path = actuator_log(fs_root);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let log = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            locked: true,
            armed: true,
            temperature_decidegrees: 210,
            log,
        })
    }

    fn actuate(&mut self, effect: &str, caller: &str) -> Result<(), ReturnCode> {
        let line = Actuation {
            effect: effect.to_owned(),
            caller: caller.to_owned(),
            timestamp_ns: vsiem_schemas::now_ns(),
        };
        let mut text = serde_json::to_string(&line).map_err(|_| ReturnCode::NotOk)?;
        text.push('\n');
        self.log
            .write_all(text.as_bytes())
            .map_err(|_| ReturnCode::NotOk)
    }
}

impl Application for Body {
    fn call(
        &mut self,
        service: u16,
        method: u16,
        caller: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, ReturnCode> {
        match (service, method) {
            (DOOR_LOCK, LOCK) => {
                self.locked = true;
                self.actuate("lock", caller)?;
                Ok(vec![u8::from(self.locked)])
            }
            (DOOR_LOCK, UNLOCK) => {
                self.locked = false;
                self.actuate("unlock", caller)?;
                Ok(vec![u8::from(self.locked)])
            }
            (IMMOBILIZER, GET_STATE) => Ok(vec![u8::from(!self.armed)]),
            (IMMOBILIZER, DISARM) => {
                self.armed = false;
                self.actuate("disarm", caller)?;
                Ok(vec![])
            }
            (CLIMATE, SET_TEMPERATURE) => {
                let bytes: [u8; 2] = payload
                    .try_into()
                    .map_err(|_| ReturnCode::MalformedMessage)?;
                self.temperature_decidegrees = i16::from_be_bytes(bytes);
                self.actuate("set_temperature", caller)?;
                Ok(vec![])
            }
            (DOOR_LOCK | IMMOBILIZER | CLIMATE, _) => Err(ReturnCode::UnknownMethod),
            _ => Err(ReturnCode::UnknownService),
        }
    }
}

/// Reads an actuator log; a missing log is an empty one.
pub fn read_actuations(fs_root: &Path) -> std::io::Result<Vec<Actuation>> {
    match std::fs::read_to_string(actuator_log(fs_root)) {
        Ok(text) => text
            .lines()
            .map(|l| serde_json::from_str(l).map_err(std::io::Error::other))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actuations_are_logged_with_their_caller() {
        let dir = tempfile::tempdir().unwrap();
        let mut body = Body::open(dir.path()).unwrap();
        assert_eq!(body.call(DOOR_LOCK, UNLOCK, "tcu", &[]), Ok(vec![0]));
        assert_eq!(body.call(IMMOBILIZER, GET_STATE, "ivi", &[]), Ok(vec![0]));
        assert_eq!(
            body.call(CLIMATE, SET_TEMPERATURE, "ivi", &[0x00, 0xd7]),
            Ok(vec![])
        );
        assert_eq!(
            body.call(CLIMATE, SET_TEMPERATURE, "ivi", &[0x00]),
            Err(ReturnCode::MalformedMessage)
        );
        assert_eq!(
            body.call(DOOR_LOCK, 9, "ivi", &[]),
            Err(ReturnCode::UnknownMethod)
        );
        let log = read_actuations(dir.path()).unwrap();
        let effects: Vec<(&str, &str)> = log
            .iter()
            .map(|a| (a.effect.as_str(), a.caller.as_str()))
            .collect();
        assert_eq!(effects, [("unlock", "tcu"), ("set_temperature", "ivi")]);
    }
}
