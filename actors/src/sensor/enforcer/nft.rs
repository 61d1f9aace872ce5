//! The nftables enforcement point: drops flows and isolates ECUs with rules in a table that
//! vsiem owns (`inet vsiem`), one comment per block order so that each order's rules can be
//! removed alone when its TTL expires or it is revoked. The whole table goes when the enforcer
//! stops.
//!
//! Rules are written as an nft script from typed values (addresses, ports, protocols), never from
//! strings received over the network, and fed to `nft -f -`.

use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use serde_json::Value;
use thiserror::Error;

pub const TABLE: &str = "vsiem";
const CHAINS: [&str; 3] = ["input", "output", "forward"];

#[derive(Debug, Error)]
pub enum NftError {
    #[error("cannot run nft: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("nft refused ({status}): {stderr}")]
    Refused {
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("nft printed what vsiem cannot read: {0}")]
    Output(String),
}

/// The transport a rule matches; `None` in a rule means every protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    Tcp,
    Udp,
}

/// What one block order asks of the firewall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// Drop packets of a flow; `None` fields match anything. The SIEM's own backbone (TCP
    /// `keep_port`, both directions) is kept even when the flow covers it: a drop of an ECU's
    /// TCP egress must not cut its sensor off the gateway, or the sensor silences itself.
    DropFlow {
        l4: Option<L4>,
        src: Option<IpAddr>,
        dst: Option<IpAddr>,
        dst_port: Option<u16>,
        keep_port: u16,
    },
    /// Drop everything from and to these addresses except the SIEM's own backbone (TCP
    /// `keep_port`), so an isolated ECU still reports.
    Isolate {
        addresses: Vec<IpAddr>,
        keep_port: u16,
    },
}

/// The firewall of this host, or of a named network namespace (test hosts, container testbeds).
#[derive(Debug, Clone)]
pub struct Nft {
    netns: Option<String>,
}

impl Nft {
    /// Takes over vsiem's table (emptied if it exists) on this host or in `netns`. Fails when
    /// nft is missing or the process lacks CAP_NET_ADMIN.
    pub fn open(netns: Option<String>) -> Result<Self, NftError> {
        let nft = Self { netns };
        let chains: String = CHAINS
            .iter()
            .map(|c| {
                format!("  chain {c} {{ type filter hook {c} priority -10; policy accept; }}\n")
            })
            .collect();
        // "table; delete table; table {...}" empties the table whether or not it existed.
        nft.run(&format!(
            "table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n{chains}}}\n"
        ))?;
        Ok(nft)
    }

    /// Installs the rules of one order.
    pub fn apply(&self, order_id: u64, rule: &Rule) -> Result<(), NftError> {
        let comment = comment(order_id);
        let mut script = String::new();
        for (expr, verdict) in matches(rule) {
            for chain in CHAINS {
                script.push_str(&format!(
                    "add rule inet {TABLE} {chain} {expr} counter {verdict} comment \"{comment}\"\n"
                ));
            }
        }
        self.run(&script)
    }

    /// Removes the rules of one order; false when it had none.
    pub fn remove(&self, order_id: u64) -> Result<bool, NftError> {
        let listing = self.output(&["-j", "-a", "list", "table", "inet", TABLE])?;
        let json: Value =
            serde_json::from_str(&listing).map_err(|e| NftError::Output(e.to_string()))?;
        let comment = comment(order_id);
        let script: String = json["nftables"]
            .as_array()
            .ok_or_else(|| NftError::Output("no nftables array".into()))?
            .iter()
            .filter_map(|item| item.get("rule"))
            .filter(|rule| rule["comment"] == comment.as_str())
            .filter_map(|rule| {
                Some(format!(
                    "delete rule inet {TABLE} {} handle {}\n",
                    rule["chain"].as_str()?,
                    rule["handle"].as_u64()?
                ))
            })
            .collect();
        if script.is_empty() {
            return Ok(false);
        }
        self.run(&script)?;
        Ok(true)
    }

    /// Removes vsiem's table and every rule in it.
    pub fn close(&self) -> Result<(), NftError> {
        self.run(&format!("delete table inet {TABLE}\n"))
    }

    fn command(&self) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "nft"]);
                c
            }
            None => Command::new("nft"),
        }
    }

    fn run(&self, script: &str) -> Result<(), NftError> {
        let mut child = self
            .command()
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(NftError::Spawn)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(script.as_bytes())
                .map_err(NftError::Spawn)?;
        }
        let out = child.wait_with_output().map_err(NftError::Spawn)?;
        refused(out.status, &out.stderr)
    }

    fn output(&self, args: &[&str]) -> Result<String, NftError> {
        let out = self
            .command()
            .args(args)
            .stderr(Stdio::piped())
            .output()
            .map_err(NftError::Spawn)?;
        refused(out.status, &out.stderr)?;
        String::from_utf8(out.stdout).map_err(|e| NftError::Output(e.to_string()))
    }
}

fn refused(status: std::process::ExitStatus, stderr: &[u8]) -> Result<(), NftError> {
    if status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(stderr).trim().to_owned();
        Err(NftError::Refused { status, stderr })
    }
}

fn comment(order_id: u64) -> String {
    format!("vsiem-order-{order_id}")
}

fn family(ip: &IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "ip"
    } else {
        "ip6"
    }
}

fn l4(p: L4) -> &'static str {
    match p {
        L4::Tcp => "tcp",
        L4::Udp => "udp",
    }
}

/// The match expressions of a rule, each with its verdict, in the order they must be evaluated.
fn matches(rule: &Rule) -> Vec<(String, &'static str)> {
    match rule {
        Rule::DropFlow {
            l4: proto,
            src,
            dst,
            dst_port,
            keep_port,
        } => {
            let mut hosts = Vec::new();
            if let Some(ip) = src {
                hosts.push(format!("{} saddr {ip}", family(ip)));
            }
            if let Some(ip) = dst {
                hosts.push(format!("{} daddr {ip}", family(ip)));
            }
            let with = |extra: String| {
                let mut expr = hosts.clone();
                expr.push(extra);
                expr.join(" ")
            };
            let mut rules = Vec::new();
            let covers_backbone =
                *proto != Some(L4::Udp) && dst_port.is_none_or(|port| port == *keep_port);
            if covers_backbone {
                for side in ["dport", "sport"] {
                    rules.push((with(format!("tcp {side} {keep_port}")), "accept"));
                }
            }
            let drop = match (proto, dst_port) {
                (Some(p), Some(port)) => with(format!("{} dport {port}", l4(*p))),
                (Some(p), None) => with(format!("meta l4proto {}", l4(*p))),
                (None, Some(port)) => with(format!("th dport {port}")),
                (None, None) => hosts.join(" "),
            };
            rules.push((drop, "drop"));
            rules
        }
        Rule::Isolate {
            addresses,
            keep_port,
        } => {
            let mut rules = Vec::new();
            for ip in addresses {
                let f = family(ip);
                rules.push((format!("{f} saddr {ip} tcp dport {keep_port}"), "accept"));
                rules.push((format!("{f} daddr {ip} tcp sport {keep_port}"), "accept"));
            }
            for ip in addresses {
                let f = family(ip);
                rules.push((format!("{f} saddr {ip}"), "drop"));
                rules.push((format!("{f} daddr {ip}"), "drop"));
            }
            rules
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_written_from_typed_values() {
        let ivi: IpAddr = "10.10.1.3".parse().unwrap();
        let cases = [
            (
                Rule::DropFlow {
                    l4: Some(L4::Udp),
                    src: Some(ivi),
                    dst: None,
                    dst_port: None,
                    keep_port: 7447,
                },
                vec!["ip saddr 10.10.1.3 meta l4proto udp"],
            ),
            (
                // Regression: the IVI's TCP egress dropped, its sensor's backbone kept.
                Rule::DropFlow {
                    l4: Some(L4::Tcp),
                    src: Some(ivi),
                    dst: None,
                    dst_port: None,
                    keep_port: 7447,
                },
                vec![
                    "ip saddr 10.10.1.3 tcp dport 7447",
                    "ip saddr 10.10.1.3 tcp sport 7447",
                    "ip saddr 10.10.1.3 meta l4proto tcp",
                ],
            ),
            (
                Rule::DropFlow {
                    l4: Some(L4::Tcp),
                    src: None,
                    dst: Some("fd00::2".parse().unwrap()),
                    dst_port: Some(443),
                    keep_port: 7447,
                },
                vec!["ip6 daddr fd00::2 tcp dport 443"],
            ),
            (
                Rule::DropFlow {
                    l4: None,
                    src: Some(ivi),
                    dst: None,
                    dst_port: Some(53),
                    keep_port: 7447,
                },
                vec!["ip saddr 10.10.1.3 th dport 53"],
            ),
            (
                Rule::Isolate {
                    addresses: vec![ivi],
                    keep_port: 7447,
                },
                vec![
                    "ip saddr 10.10.1.3 tcp dport 7447",
                    "ip daddr 10.10.1.3 tcp sport 7447",
                    "ip saddr 10.10.1.3",
                    "ip daddr 10.10.1.3",
                ],
            ),
        ];
        for (rule, want) in cases {
            let got: Vec<String> = matches(&rule).into_iter().map(|(e, _)| e).collect();
            assert_eq!(got, want, "{rule:?}");
        }
    }
}
