//! Sigma detections compiled for matching: each selection is a list of alternatives (a YAML
//! list of maps), each alternative a conjunction of field matchers (a YAML map), each matcher a
//! field, a modifier and the values it accepts. Compiling checks every field name, modifier and
//! value against the field's type, the catalog and the topology; matching reads the event in
//! place and allocates nothing.

use std::net::IpAddr;

use serde_yaml_ng::Value as Yaml;
use vsiem_schemas::catalog;
use vsiem_schemas::encode::VehicleSnapshot;
use vsiem_schemas::wire;
use vsiem_topology::Topology;

use crate::compile::Located;
use crate::condition::{self, Expr};
use crate::field::{Field, Kind, Value};

#[derive(Debug, Clone)]
pub struct Detection {
    selections: Vec<Vec<Vec<Matcher>>>,
    condition: Expr,
}

#[derive(Debug, Clone)]
struct Matcher {
    field: Field,
    op: Op,
    patterns: Vec<Pattern>,
    /// `|all`: every pattern must match (default: any).
    all: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
    Regex,
    Cidr,
    Gt,
    Gte,
    Lt,
    Lte,
    Exists,
}

impl Op {
    fn by_name(name: &str) -> Option<Op> {
        Some(match name {
            "contains" => Op::Contains,
            "startswith" => Op::StartsWith,
            "endswith" => Op::EndsWith,
            "re" => Op::Regex,
            "cidr" => Op::Cidr,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "exists" => Op::Exists,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
enum Pattern {
    /// Lowercase; `*` and `?` are wildcards when `glob`.
    Text {
        lower: String,
        glob: bool,
    },
    Number(f64),
    Bool(bool),
    Ordinal(usize),
    Regex(regex::Regex),
    Cidr(IpAddr, u8),
    /// `null`: the field is absent.
    Absent,
}

impl Detection {
    pub fn matches(&self, event: &wire::SecurityEvent<'_>, vehicle: &VehicleSnapshot) -> bool {
        self.condition.eval(&|i| {
            self.selections[i]
                .iter()
                .any(|all| all.iter().all(|m| m.matches(event, vehicle)))
        })
    }

    /// Compiles `detection` (the rule's YAML map); problems go to `problems` under `path`.
    pub(crate) fn compile(
        detection: &serde_yaml_ng::Mapping,
        topology: &Topology,
        at: &mut Located<'_>,
    ) -> Option<Detection> {
        let path = "detection";
        let mut names = Vec::new();
        let mut selections = Vec::new();
        let mut condition = None;
        for (key, value) in detection {
            let Some(key) = key.as_str() else {
                at.add(path, "selection names must be strings");
                continue;
            };
            let here = format!("{path}.{key}");
            if key == "condition" {
                match value.as_str() {
                    Some(text) => condition = Some((here, text.to_owned())),
                    None => at.add(
                        here,
                        "must be a string (lists of conditions are not supported)",
                    ),
                }
                continue;
            }
            let alternatives = match value {
                Yaml::Mapping(map) => vec![(here.clone(), map)],
                Yaml::Sequence(items) => items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| match item {
                        Yaml::Mapping(map) => Some((format!("{here}[{i}]"), map)),
                        _ => {
                            at.add(
                                format!("{here}[{i}]"),
                                "keyword selections are not supported: name the field",
                            );
                            None
                        }
                    })
                    .collect(),
                _ => {
                    at.add(
                        &here,
                        "a selection is a map of fields or a list of such maps",
                    );
                    continue;
                }
            };
            let compiled = alternatives
                .into_iter()
                .map(|(p, map)| compile_all_of(map, topology, at, &p))
                .collect();
            names.push(key.to_owned());
            selections.push(compiled);
        }
        let Some((here, text)) = condition else {
            at.add(path, "has no condition");
            return None;
        };
        match condition::parse(&text, &names) {
            Ok(condition) => Some(Detection {
                selections,
                condition,
            }),
            Err(e) => {
                at.add(here, e.to_string());
                None
            }
        }
    }
}

fn compile_all_of(
    map: &serde_yaml_ng::Mapping,
    topology: &Topology,
    at: &mut Located<'_>,
    path: &str,
) -> Vec<Matcher> {
    let mut matchers = Vec::new();
    for (key, value) in map {
        let Some(key) = key.as_str() else {
            at.add(path, "field names must be strings");
            continue;
        };
        let here = format!("{path}.{key}");
        let mut parts = key.split('|');
        let name = parts.next().unwrap_or_default();
        let Some((field, kind)) = Field::by_name(name) else {
            at.add(
                here,
                format!("unknown field `{name}` (see the rule fields in ARCHITECTURE.md)"),
            );
            continue;
        };
        let mut op = Op::Equals;
        let mut all = false;
        let mut ok = true;
        for modifier in parts {
            match (modifier, Op::by_name(modifier)) {
                ("all", _) => all = true,
                (_, Some(m)) if op == Op::Equals => op = m,
                (_, Some(_)) => {
                    at.add(&here, "at most one value modifier (besides `all`)");
                    ok = false;
                }
                (_, None) => {
                    at.add(&here, format!("unknown modifier `{modifier}`"));
                    ok = false;
                }
            }
        }
        if let Some(reason) = op_unfit(op, kind) {
            at.add(&here, reason);
            ok = false;
        }
        let values: Vec<&Yaml> = match value {
            Yaml::Sequence(items) => items.iter().collect(),
            one => vec![one],
        };
        let patterns: Vec<Pattern> = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let place = if values.len() > 1 {
                    format!("{here}[{i}]")
                } else {
                    here.clone()
                };
                match pattern(op, kind, v, topology) {
                    Ok(p) => Some(p),
                    Err(reason) => {
                        at.add(place, reason);
                        None
                    }
                }
            })
            .collect();
        if ok && patterns.len() == values.len() && !patterns.is_empty() {
            matchers.push(Matcher {
                field,
                op,
                patterns,
                all,
            });
        } else if values.is_empty() {
            at.add(&here, "needs at least one value");
        }
    }
    matchers
}

/// Why `op` cannot apply to a field of `kind`, if it cannot.
fn op_unfit(op: Op, kind: Kind) -> Option<String> {
    let textual = matches!(kind, Kind::Text | Kind::Ecu | Kind::EventType);
    let fits = match op {
        Op::Equals | Op::Exists => true,
        Op::Contains | Op::StartsWith | Op::EndsWith | Op::Regex | Op::Cidr => textual,
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => matches!(kind, Kind::Number | Kind::Enum(_)),
    };
    (!fits).then(|| {
        format!("modifier {op:?} does not apply to a field of type {kind:?}").to_lowercase()
    })
}

fn pattern(op: Op, kind: Kind, value: &Yaml, topology: &Topology) -> Result<Pattern, String> {
    if op == Op::Exists {
        return value
            .as_bool()
            .map(Pattern::Bool)
            .ok_or_else(|| "`exists` takes true or false".into());
    }
    if value.is_null() {
        return if op == Op::Equals {
            Ok(Pattern::Absent)
        } else {
            Err("null only with plain equality".into())
        };
    }
    match op {
        Op::Regex => {
            let text = value.as_str().ok_or("a regular expression is a string")?;
            return regex::Regex::new(text)
                .map(Pattern::Regex)
                .map_err(|e| format!("invalid regular expression: {e}"));
        }
        Op::Cidr => {
            return cidr(
                value
                    .as_str()
                    .ok_or("a network is a string like 10.10.1.0/24")?,
            )
        }
        _ => {}
    }
    match kind {
        Kind::Text | Kind::Ecu | Kind::EventType => {
            let text = match value {
                Yaml::String(s) => s.clone(),
                Yaml::Number(n) => n.to_string(),
                _ => return Err("expects text".into()),
            };
            let glob = op == Op::Equals && text.contains(['*', '?']);
            if op == Op::Equals {
                known(kind, &text, glob, topology)?;
            }
            Ok(Pattern::Text {
                lower: text.to_ascii_lowercase(),
                glob,
            })
        }
        Kind::Number => number(value).map(Pattern::Number),
        Kind::Bool => value
            .as_bool()
            .map(Pattern::Bool)
            .ok_or_else(|| "expects true or false".into()),
        Kind::Enum(names) => {
            let text = value
                .as_str()
                .ok_or_else(|| format!("expects one of {}", names.join(", ")))?;
            names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(text))
                .map(Pattern::Ordinal)
                .ok_or_else(|| format!("`{text}` is not one of {}", names.join(", ")))
        }
    }
}

/// Checks an ECU name or event type against the topology or the catalog.
fn known(kind: Kind, text: &str, glob: bool, topology: &Topology) -> Result<(), String> {
    let lower = text.to_ascii_lowercase();
    let any = |mut names: Box<dyn Iterator<Item = &str> + '_>| {
        names.any(|n| {
            if glob {
                glob_match(&lower, n)
            } else {
                n.eq_ignore_ascii_case(text)
            }
        })
    };
    match kind {
        Kind::Ecu if !any(Box::new(topology.ecus.iter().map(|e| e.name.as_str()))) => {
            Err(format!("`{text}` is not an ECU of the topology"))
        }
        Kind::EventType if !any(Box::new(catalog::ALL.iter().map(|t| t.name))) => Err(format!(
            "`{text}` is not an event type of the catalog (schemas/EVENTS.md)"
        )),
        _ => Ok(()),
    }
}

fn number(value: &Yaml) -> Result<f64, String> {
    match value {
        Yaml::Number(n) => n.as_f64().ok_or_else(|| "not a number".into()),
        Yaml::String(s) => match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16)
                .map(|n| n as f64)
                .map_err(|_| format!("`{s}` is not a number")),
            None => s.parse().map_err(|_| format!("`{s}` is not a number")),
        },
        _ => Err("expects a number".into()),
    }
}

fn cidr(text: &str) -> Result<Pattern, String> {
    let bad = || format!("`{text}` is not a network like 10.10.1.0/24");
    let (ip, bits) = text.split_once('/').ok_or_else(bad)?;
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    let bits: u8 = bits.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return Err(bad());
    }
    Ok(Pattern::Cidr(ip, bits))
}

impl Matcher {
    fn matches(&self, event: &wire::SecurityEvent<'_>, vehicle: &VehicleSnapshot) -> bool {
        let value = self.field.read(event, vehicle);
        let one = |p: &Pattern| matches_one(self.op, p, value);
        if self.all {
            self.patterns.iter().all(one)
        } else {
            self.patterns.iter().any(one)
        }
    }
}

fn matches_one(op: Op, pattern: &Pattern, value: Value<'_>) -> bool {
    match (pattern, value) {
        (Pattern::Bool(want), v) if op == Op::Exists => (v != Value::Absent) == *want,
        (Pattern::Absent, v) => v == Value::Absent,
        (Pattern::Text { lower, glob }, Value::Text(s)) => match op {
            Op::Equals if *glob => glob_match(lower, s),
            Op::Equals => s.eq_ignore_ascii_case(lower),
            Op::Contains => find_ignore_case(s, lower).is_some(),
            Op::StartsWith => {
                s.len() >= lower.len()
                    && s.as_bytes()[..lower.len()].eq_ignore_ascii_case(lower.as_bytes())
            }
            Op::EndsWith => {
                s.len() >= lower.len()
                    && s.as_bytes()[s.len() - lower.len()..].eq_ignore_ascii_case(lower.as_bytes())
            }
            _ => false,
        },
        (Pattern::Regex(re), Value::Text(s)) => re.is_match(s),
        (Pattern::Cidr(net, bits), Value::Text(s)) => {
            s.parse().is_ok_and(|ip| in_network(ip, *net, *bits))
        }
        (Pattern::Number(want), Value::Number(n)) => compare(op, n.partial_cmp(want)),
        (Pattern::Ordinal(want), Value::Ordinal(n)) => compare(op, Some(n.cmp(want))),
        (Pattern::Bool(want), Value::Bool(b)) => b == *want,
        _ => false,
    }
}

fn compare(op: Op, ordering: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::*;
    let Some(o) = ordering else { return false };
    match op {
        Op::Equals => o == Equal,
        Op::Gt => o == Greater,
        Op::Gte => o != Less,
        Op::Lt => o == Less,
        Op::Lte => o != Greater,
        _ => false,
    }
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

fn find_ignore_case(haystack: &str, lower_needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), lower_needle.as_bytes());
    if n.is_empty() {
        return Some(0);
    }
    h.windows(n.len()).position(|w| w.eq_ignore_ascii_case(n))
}

/// Sigma wildcards: `*` any run, `?` one character; ASCII case ignored. `pattern` is lowercase.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti].to_ascii_lowercase()) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_sigma_defines_them() {
        let cases = [
            ("host.*", "host.file_tampered", true),
            ("host.*", "net.flood", false),
            ("*.unauthorized_*", "someip.unauthorized_client", true),
            ("ivi?", "ivi1", true),
            ("ivi?", "ivi", false),
            ("*", "", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("net.flood", "NET.FLOOD", true),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(glob_match(pattern, text), want, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let Ok(Pattern::Cidr(net, bits)) = cidr("10.10.1.0/24") else {
            panic!("a valid network");
        };
        assert!(in_network("10.10.1.3".parse().unwrap(), net, bits));
        assert!(!in_network("10.10.2.3".parse().unwrap(), net, bits));
        assert!(!in_network("::1".parse().unwrap(), net, bits));
        let Ok(Pattern::Cidr(all, zero)) = cidr("0.0.0.0/0") else {
            panic!("a valid network");
        };
        assert!(in_network("203.0.113.66".parse().unwrap(), all, zero));
        assert!(cidr("10.10.1.0/33").is_err());
        assert!(cidr("10.10.1.0").is_err());
    }
}
