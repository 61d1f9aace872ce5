//! Stage 2: rule documents to a [`RuleSet`], checking the set as a whole (names unique,
//! references resolve, fields and values fit) and reporting every problem with its file and
//! path at once.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde_yaml_ng::Value as Yaml;
use vsiem_schemas::wire::Severity;
use vsiem_topology::Topology;

use crate::detection::Detection;
use crate::field::{Field, SEVERITIES};
use crate::raw::{RawCorrelation, RawRule};
use crate::{Correlation, CorrelationKind, Meta, Problems, Rule, RuleSet, Threshold};

/// One parsed document, located for problem reports.
pub(crate) struct Document {
    /// `file` or `file#N` for the N-th document of a multi-document file.
    pub place: String,
    pub raw: RawRule,
    pub fingerprint: u64,
}

/// Stage 1 over one file: every YAML document in it, or the problems that kept one from parsing.
pub(crate) fn documents(file: &str, text: &str, problems: &mut Problems) -> Vec<Document> {
    // The documents up to the first that does not parse: after a syntax error the YAML stream
    // yields that error again and again, so nothing after it can be read (and collecting the
    // stream whole would never end).
    let mut values = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        match Yaml::deserialize(doc) {
            Ok(value) => values.push(Ok(value)),
            Err(e) => {
                values.push(Err(e));
                break;
            }
        }
    }
    let many = values.len() > 1;
    let mut out = Vec::new();
    for (index, value) in values.into_iter().enumerate() {
        let place = if many {
            format!("{file}#{}", index + 1)
        } else {
            file.to_owned()
        };
        let value = match value {
            Ok(Yaml::Null) => continue,
            Ok(value) => value,
            Err(e) => {
                problems.at(&place).add("", e.to_string());
                continue;
            }
        };
        let mut hasher = DefaultHasher::new();
        format!("{value:?}").hash(&mut hasher);
        match serde_yaml_ng::from_value::<RawRule>(value) {
            Ok(raw) => out.push(Document {
                place,
                raw,
                fingerprint: hasher.finish(),
            }),
            Err(e) => problems.at(&place).add("", e.to_string()),
        }
    }
    out
}

use serde::Deserialize as _;

pub(crate) fn compile(
    documents: Vec<Document>,
    topology: &Topology,
    problems: &mut Problems,
) -> RuleSet {
    let mut places: HashMap<String, String> = HashMap::new();
    for doc in &documents {
        if let Some(first) = places.insert(doc.raw.name.clone(), doc.place.clone()) {
            problems.at(&doc.place).add(
                "name",
                format!("`{}` is also the name of a rule in {first}", doc.raw.name),
            );
        }
    }
    let (bases, correlations): (Vec<_>, Vec<_>) = documents
        .into_iter()
        .partition(|d| d.raw.correlation.is_none());
    let mut rules = Vec::new();
    for doc in bases {
        let mut at = problems.at(&doc.place);
        let meta = meta(&doc, &mut at);
        let Some(detection) = doc.raw.detection.as_ref() else {
            at.add("", "a rule needs `detection` (or `correlation`)");
            continue;
        };
        if let Some(detection) = Detection::compile(detection, topology, &mut at) {
            rules.push(Rule {
                meta,
                detection,
                standalone: true,
            });
        }
    }
    let by_name: HashMap<&str, usize> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (&*r.meta.name, i))
        .collect();
    let mut compiled = Vec::new();
    let mut suppressed = Vec::new();
    for doc in &correlations {
        let mut at = problems.at(&doc.place);
        let meta = meta(doc, &mut at);
        if doc.raw.detection.is_some() {
            at.add(
                "detection",
                "a correlation rule has no detection of its own",
            );
        }
        let raw = doc
            .raw
            .correlation
            .as_ref()
            .expect("partitioned on correlation");
        if let Some(c) = correlation(meta, raw, &by_name, &mut at) {
            if !raw.generate {
                suppressed.extend(c.rules.iter().copied());
            }
            compiled.push(c);
        }
    }
    for i in suppressed {
        rules[i].standalone = false;
    }
    RuleSet {
        rules,
        correlations: compiled,
    }
}

fn meta(doc: &Document, at: &mut Located<'_>) -> Arc<Meta> {
    let raw = &doc.raw;
    let level = match SEVERITIES.iter().position(|s| *s == raw.level) {
        Some(i) => Severity(u8::try_from(i).unwrap_or(0)),
        None => {
            at.add(
                "level",
                format!("`{}` is not one of {}", raw.level, SEVERITIES.join(", ")),
            );
            Severity::Info
        }
    };
    if raw.name.is_empty()
        || !raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        at.add("name", "letters, digits, `-` and `_` only, not empty");
    }
    for (i, tag) in raw.tags.iter().enumerate() {
        if !tag.contains('.') || tag.contains(char::is_whitespace) {
            at.add(
                format!("tags[{i}]"),
                "a tag is `namespace.value` without spaces (e.g. `unece.r155.annex5.4.3.1`)",
            );
        }
    }
    if let Some(product) = raw.logsource.as_ref().and_then(|l| l.product.as_deref()) {
        if product != "vsiem" {
            at.add(
                "logsource.product",
                "vsiem rules read vsiem's own events: `vsiem` or absent",
            );
        }
    }
    Arc::new(Meta {
        name: raw.name.clone(),
        title: raw.title.clone(),
        level,
        tags: raw.tags.clone(),
        place: doc.place.clone(),
        fingerprint: doc.fingerprint,
        correlation: raw.correlation.is_some(),
    })
}

fn correlation(
    meta: Arc<Meta>,
    raw: &RawCorrelation,
    by_name: &HashMap<&str, usize>,
    at: &mut Located<'_>,
) -> Option<Correlation> {
    let mut ok = true;
    let mut rules = Vec::new();
    for (i, name) in raw.rules.iter().enumerate() {
        match by_name.get(name.as_str()) {
            Some(&r) => rules.push(r),
            None => {
                at.add(
                    format!("correlation.rules[{i}]"),
                    format!("`{name}` is not a detection rule of the set"),
                );
                ok = false;
            }
        }
    }
    if raw.rules.is_empty() {
        at.add("correlation.rules", "names at least one rule");
        ok = false;
    }
    let mut group_by = Vec::new();
    for (i, name) in raw.group_by.iter().enumerate() {
        match Field::by_name(name) {
            Some((f, _)) => group_by.push(f),
            None => {
                at.add(
                    format!("correlation.group-by[{i}]"),
                    format!("unknown field `{name}`"),
                );
                ok = false;
            }
        }
    }
    let timespan_ns = match duration_ns(&raw.timespan) {
        Some(ns) if ns > 0 => ns,
        _ => {
            at.add(
                "correlation.timespan",
                format!(
                    "`{}` is not a duration like 500ms, 30s, 5m, 1h or 1d",
                    raw.timespan
                ),
            );
            ok = false;
            0
        }
    };
    let condition = raw.condition.clone().unwrap_or_default();
    let mut threshold = Threshold::default();
    let mut value_field = None;
    for (key, value) in &condition {
        let key = key.as_str().unwrap_or_default();
        let here = format!("correlation.condition.{key}");
        if key == "field" {
            match value.as_str().and_then(Field::by_name) {
                Some((f, _)) => value_field = Some(f),
                None => {
                    at.add(here, "names a field of the events");
                    ok = false;
                }
            }
            continue;
        }
        let Some(n) = value.as_u64() else {
            at.add(here, "takes a whole number");
            ok = false;
            continue;
        };
        let slot = match key {
            "gt" => &mut threshold.gt,
            "gte" => &mut threshold.gte,
            "lt" => &mut threshold.lt,
            "lte" => &mut threshold.lte,
            "eq" => &mut threshold.eq,
            _ => {
                at.add(here, "is not gt, gte, lt, lte, eq or field");
                ok = false;
                continue;
            }
        };
        *slot = Some(n);
    }
    let kind = match raw.kind.as_str() {
        "event_count" => CorrelationKind::EventCount,
        "value_count" => match value_field {
            Some(f) => CorrelationKind::ValueCount(f),
            None => {
                at.add(
                    "correlation.condition",
                    "value_count names the counted `field`",
                );
                ok = false;
                CorrelationKind::EventCount
            }
        },
        "temporal" => CorrelationKind::Temporal,
        "temporal_ordered" => CorrelationKind::TemporalOrdered,
        other => {
            at.add(
                "correlation.type",
                format!("`{other}` is not event_count, value_count, temporal or temporal_ordered"),
            );
            ok = false;
            CorrelationKind::EventCount
        }
    };
    let counted = matches!(
        kind,
        CorrelationKind::EventCount | CorrelationKind::ValueCount(_)
    );
    if counted && threshold == Threshold::default() {
        at.add(
            "correlation.condition",
            "event_count and value_count need a condition such as {gte: 10}",
        );
        ok = false;
    }
    if value_field.is_some() && !matches!(kind, CorrelationKind::ValueCount(_)) {
        at.add(
            "correlation.condition.field",
            "only value_count counts a field",
        );
        ok = false;
    }
    if matches!(
        kind,
        CorrelationKind::Temporal | CorrelationKind::TemporalOrdered
    ) && rules.len() < 2
        && ok
    {
        at.add(
            "correlation.rules",
            "a temporal correlation relates at least two rules",
        );
        ok = false;
    }
    ok.then_some(Correlation {
        meta,
        kind,
        rules,
        group_by,
        timespan_ns,
        threshold,
    })
}

/// "500ms", "30s", "5m", "1h", "1d" in nanoseconds.
pub(crate) fn duration_ns(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let unit_ns: u64 = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => return None,
    };
    n.checked_mul(unit_ns)
}

/// Problems of one document.
pub struct Located<'a> {
    problems: &'a mut Problems,
    place: String,
}

impl Located<'_> {
    pub fn add(&mut self, path: impl AsRef<str>, message: impl Into<String>) {
        let path = path.as_ref();
        self.problems
            .push(self.place.clone(), path.to_owned(), message.into());
    }
}

impl Problems {
    pub(crate) fn at(&mut self, place: &str) -> Located<'_> {
        Located {
            problems: self,
            place: place.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_sigma_writes_them() {
        let cases = [
            ("500ms", Some(500_000_000)),
            ("60s", Some(60_000_000_000)),
            ("5m", Some(300_000_000_000)),
            ("1h", Some(3_600_000_000_000)),
            ("2d", Some(172_800_000_000_000)),
            ("60", None),
            ("s", None),
            ("1w", None),
            ("-1s", None),
        ];
        for (text, want) in cases {
            assert_eq!(duration_ns(text), want, "{text}");
        }
    }
}
