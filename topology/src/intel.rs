//! Threat intelligence: the STIX 2.1 indicators the topology references, and matching against them.
//!
//! Only the part of STIX patterning that reduces to "this domain or this address" is understood:
//! `=` comparisons on `domain-name:value`, `ipv4-addr:value` and `ipv6-addr:value`, joined by `OR`
//! inside or between observation expressions. Anything else is reported as a problem rather than
//! skipped, because an indicator silently dropped is a detection silently lost.

use std::net::IpAddr;

use serde::Deserialize;

use crate::model::Topology;

/// What one indicator pattern designates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ioc {
    Domain(String),
    Address(IpAddr),
}

#[derive(Deserialize)]
struct Bundle {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    objects: Vec<StixObject>,
}

/// The few properties of a STIX object we read; the many others are ignored on purpose.
#[derive(Deserialize)]
struct StixObject {
    #[serde(rename = "type")]
    kind: String,
    pattern_type: Option<String>,
    pattern: Option<String>,
    #[serde(default)]
    revoked: bool,
}

/// The indicators of a STIX bundle that are understood, and why the others are not (each reason
/// prefixed with the object's location in the bundle). Both are returned so that validation can
/// go on with the understood ones.
pub(crate) fn parse_bundle(json: &str) -> (Vec<Ioc>, Vec<String>) {
    let bundle = match serde_json::from_str::<Bundle>(json) {
        Ok(bundle) if bundle.kind == "bundle" => bundle,
        Ok(bundle) => {
            let error = format!(
                "not a STIX 2.1 bundle: type is \"{}\", expected \"bundle\"",
                bundle.kind
            );
            return (Vec::new(), vec![error]);
        }
        Err(error) => return (Vec::new(), vec![format!("not a STIX 2.1 bundle: {error}")]),
    };
    let mut iocs = Vec::new();
    let mut errors = Vec::new();
    for (index, object) in bundle.objects.iter().enumerate() {
        // A revoked indicator is one its producer withdrew as wrong: matching it would only
        // produce false positives.
        if object.kind != "indicator" || object.revoked {
            continue;
        }
        match (object.pattern_type.as_deref(), object.pattern.as_deref()) {
            (Some("stix"), Some(pattern)) => match parse_pattern(pattern) {
                Ok(found) => iocs.extend(found),
                Err(reason) => errors.push(format!(
                    "objects[{index}].pattern: unsupported pattern `{pattern}`: {reason}"
                )),
            },
            (Some(other), _) if other != "stix" => errors.push(format!(
                "objects[{index}].pattern_type: \"{other}\" is not supported, only \"stix\""
            )),
            _ => errors.push(format!(
                "objects[{index}]: indicator without pattern_type and pattern"
            )),
        }
    }
    (iocs, errors)
}

/// pattern := observation ("OR" observation)*
/// observation := "[" comparison ("OR" comparison)* "]"
/// comparison := object-path "=" string
fn parse_pattern(pattern: &str) -> Result<Vec<Ioc>, String> {
    let mut cursor = Cursor { rest: pattern };
    let mut iocs = Vec::new();
    loop {
        cursor.expect('[')?;
        loop {
            iocs.push(cursor.comparison()?);
            if !cursor.keyword("OR") {
                break;
            }
        }
        cursor.expect(']')?;
        if cursor.at_end() {
            return Ok(iocs);
        }
        if !cursor.keyword("OR") {
            return Err(format!(
                "only OR is understood between observations, found `{}`",
                cursor.word()
            ));
        }
    }
}

struct Cursor<'a> {
    rest: &'a str,
}

impl Cursor<'_> {
    fn skip_space(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn at_end(&mut self) -> bool {
        self.skip_space();
        self.rest.is_empty()
    }

    /// The next whitespace-delimited token, for error messages.
    fn word(&mut self) -> &str {
        self.skip_space();
        self.rest
            .split_whitespace()
            .next()
            .unwrap_or("end of pattern")
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        self.skip_space();
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                Ok(())
            }
            None => Err(format!("expected `{c}`, found `{}`", self.word())),
        }
    }

    /// Consumes `keyword` if it comes next as a whole word.
    fn keyword(&mut self, keyword: &str) -> bool {
        self.skip_space();
        match self.rest.strip_prefix(keyword) {
            Some(rest) if rest.starts_with(|c: char| c.is_whitespace() || c == '[') => {
                self.rest = rest;
                true
            }
            _ => false,
        }
    }

    fn comparison(&mut self) -> Result<Ioc, String> {
        self.skip_space();
        let end = self
            .rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == ']')
            .unwrap_or(self.rest.len());
        let (path, rest) = self.rest.split_at(end);
        self.rest = rest;
        let parse: fn(&str) -> Option<Ioc> = match path {
            "domain-name:value" => |value| domain(value).map(Ioc::Domain),
            "ipv4-addr:value" => |value| {
                host_address(value, 32)
                    .filter(IpAddr::is_ipv4)
                    .map(Ioc::Address)
            },
            "ipv6-addr:value" => |value| {
                host_address(value, 128)
                    .filter(IpAddr::is_ipv6)
                    .map(Ioc::Address)
            },
            _ => return Err(format!("object path `{path}` is not understood")),
        };
        self.skip_space();
        match self.rest.strip_prefix('=') {
            Some(rest) => self.rest = rest,
            None => {
                return Err(format!(
                    "operator `{}` is not understood (only `=`)",
                    self.word()
                ))
            }
        }
        let value = self.string()?;
        parse(&value).ok_or_else(|| format!("`{value}` is not a valid {path}"))
    }

    /// A single-quoted STIX string literal, with `\'` and `\\` escapes.
    fn string(&mut self) -> Result<String, String> {
        self.expect('\'')?;
        let mut value = String::new();
        let mut chars = self.rest.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '\'' => {
                    self.rest = &self.rest[at + 1..];
                    return Ok(value);
                }
                '\\' => match chars.next() {
                    Some((_, escaped @ ('\'' | '\\'))) => value.push(escaped),
                    _ => return Err("invalid escape in string".to_owned()),
                },
                _ => value.push(c),
            }
        }
        Err("unterminated string".to_owned())
    }
}

/// A domain name normalised for comparison: lowercase, without the root's trailing dot.
pub(crate) fn domain(value: &str) -> Option<String> {
    let name = value
        .strip_suffix('.')
        .unwrap_or(value)
        .to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    valid.then_some(name)
}

/// Whether normalised `name` is one of `domains` or a subdomain of one: a C&C operator controls
/// every name under its domain.
pub(crate) fn matches_domain(domains: &[String], name: &str) -> bool {
    domains.iter().any(|domain| {
        name == domain
            || name
                .strip_suffix(domain.as_str())
                .is_some_and(|prefix| prefix.ends_with('.'))
    })
}

/// An address, also written as a single-host CIDR block (STIX allows CIDR in address values, but a
/// wider block is not one address and is refused).
fn host_address(value: &str, host_prefix: u8) -> Option<IpAddr> {
    let address = match value.split_once('/') {
        Some((address, prefix)) if prefix.parse() == Ok(host_prefix) => address,
        Some(_) => return None,
        None => value,
    };
    address.parse().ok()
}

impl Topology {
    /// Whether `name` is an indicator domain or a subdomain of one (case-insensitive).
    pub fn is_intel_domain(&self, name: &str) -> bool {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        matches_domain(&self.threat_intel.domains, &name)
    }

    pub fn is_intel_address(&self, ip: IpAddr) -> bool {
        self.threat_intel.addresses.contains(&ip.to_canonical())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain_ioc(name: &str) -> Ioc {
        Ioc::Domain(name.to_owned())
    }

    fn address_ioc(address: &str) -> Ioc {
        Ioc::Address(address.parse().unwrap())
    }

    #[test]
    fn patterns_understood() {
        let cases: &[(&str, Vec<Ioc>)] = &[
            (
                "[domain-name:value = 'c2.evil.example']",
                vec![domain_ioc("c2.evil.example")],
            ),
            (
                "[domain-name:value='C2.Evil.Example.']",
                vec![domain_ioc("c2.evil.example")],
            ),
            (
                "[ipv4-addr:value = '203.0.113.66']",
                vec![address_ioc("203.0.113.66")],
            ),
            (
                "[ipv4-addr:value = '203.0.113.66/32']",
                vec![address_ioc("203.0.113.66")],
            ),
            (
                "[ipv6-addr:value = '2001:db8::66']",
                vec![address_ioc("2001:db8::66")],
            ),
            (
                "[domain-name:value = 'a.example' OR ipv4-addr:value = '192.0.2.1']",
                vec![domain_ioc("a.example"), address_ioc("192.0.2.1")],
            ),
            (
                "[domain-name:value = 'a.example'] OR [domain-name:value = 'b.example']",
                vec![domain_ioc("a.example"), domain_ioc("b.example")],
            ),
        ];
        for (pattern, expected) in cases {
            assert_eq!(parse_pattern(pattern).as_ref(), Ok(expected), "{pattern}");
        }
    }

    #[test]
    fn patterns_refused() {
        let cases = [
            (
                "[url:value = 'http://x.example/']",
                "object path `url:value`",
            ),
            ("[domain-name:value LIKE '%.evil']", "operator `LIKE`"),
            (
                "[domain-name:value = 'a.example' AND ipv4-addr:value = '192.0.2.1']",
                "expected `]`",
            ),
            (
                "[domain-name:value = 'a.example'] WITHIN 5 SECONDS",
                "only OR is understood between observations, found `WITHIN`",
            ),
            (
                "[ipv4-addr:value = '203.0.113.0/24']",
                "not a valid ipv4-addr:value",
            ),
            (
                "[ipv4-addr:value = '2001:db8::1']",
                "not a valid ipv4-addr:value",
            ),
            (
                "[domain-name:value = 'bad..example']",
                "not a valid domain-name:value",
            ),
            ("[domain-name:value = 'open", "unterminated string"),
            ("domain-name:value = 'a.example'", "expected `[`"),
        ];
        for (pattern, reason) in cases {
            let error = parse_pattern(pattern).unwrap_err();
            assert!(error.contains(reason), "{pattern}: {error}");
        }
    }

    #[test]
    fn bundle_reports_every_bad_indicator_and_skips_the_rest() {
        let json = r#"{"type": "bundle", "id": "bundle--1", "objects": [
            {"type": "identity", "name": "someone"},
            {"type": "indicator", "pattern_type": "stix", "pattern": "[domain-name:value = 'a.example']"},
            {"type": "indicator", "pattern_type": "sigma", "pattern": "title: x"},
            {"type": "indicator", "pattern_type": "stix", "pattern": "[file:name = 'x']"},
            {"type": "indicator", "pattern_type": "stix", "pattern": "[url:value = 'x']", "revoked": true}
        ]}"#;
        let (iocs, errors) = parse_bundle(json);
        assert_eq!(iocs, [domain_ioc("a.example")]);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("objects[2].pattern_type: "),
            "{errors:?}"
        );
        assert!(errors[1].starts_with("objects[3].pattern: "), "{errors:?}");
        for not_a_bundle in [r#"{"type": "indicator"}"#, "not json"] {
            let (iocs, errors) = parse_bundle(not_a_bundle);
            assert!(iocs.is_empty());
            assert!(
                errors[0].starts_with("not a STIX 2.1 bundle: "),
                "{errors:?}"
            );
        }
    }
}
