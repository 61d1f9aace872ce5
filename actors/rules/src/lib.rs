//! vsiem's rule language and correlation engine, free of actors and transport.
//!
//! Rules are YAML documents in the spirit of Sigma: detection rules select events by their
//! fields (including the vehicle state at the event's time) with a condition, and correlation
//! rules relate the matches of detection rules over time (`event_count`, `value_count`,
//! `temporal`, `temporal_ordered`, with `group-by` and `timespan`), as the Sigma correlation
//! rules specification defines them. A rule set is read in two stages like a topology: the
//! shape of each document (unknown keys refused), then the whole set against the catalog and
//! the topology, with every problem reported at once with its file and path.
//!
//! The [`engine::Engine`] runs a set over verified event views and says which incidents to raise
//! and which events to fold into open ones.

mod compile;
mod condition;
mod detection;
pub mod engine;
pub mod field;
mod raw;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use vsiem_schemas::wire::Severity;
use vsiem_topology::Topology;

pub use detection::Detection;
pub use engine::Engine;

/// The rule set shipped with the reference vehicle (`topology/rules/`): file name and text.
pub const REFERENCE_RULES: &[(&str, &str)] = &[
    (
        "intrusion.yml",
        include_str!("../../../topology/rules/intrusion.yml"),
    ),
    (
        "lateral-movement.yml",
        include_str!("../../../topology/rules/lateral-movement.yml"),
    ),
    (
        "reconnaissance.yml",
        include_str!("../../../topology/rules/reconnaissance.yml"),
    ),
    (
        "health.yml",
        include_str!("../../../topology/rules/health.yml"),
    ),
    (
        "vehicle-state.yml",
        include_str!("../../../topology/rules/vehicle-state.yml"),
    ),
    (
        "correlations.yml",
        include_str!("../../../topology/rules/correlations.yml"),
    ),
];

/// What every rule, detection or correlation, is called and how it rates what it finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub name: String,
    pub title: String,
    pub level: Severity,
    /// Auto-ISAC Automotive Threat Matrix and UN R155 Annex 5 references, among others.
    pub tags: Vec<String>,
    /// Where the rule is written: `file` or `file#N`.
    pub place: String,
    /// Changes whenever the rule's text changes (a reload keeps the state of unchanged rules).
    pub fingerprint: u64,
    /// A correlation rule (what several events mean together), not a detection.
    pub correlation: bool,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub meta: Arc<Meta>,
    pub detection: Detection,
    /// Raises incidents of its own: no correlation uses it with `generate: false`.
    pub standalone: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrelationKind {
    EventCount,
    ValueCount(field::Field),
    Temporal,
    TemporalOrdered,
}

/// A count condition; every bound given must hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Threshold {
    pub gt: Option<u64>,
    pub gte: Option<u64>,
    pub lt: Option<u64>,
    pub lte: Option<u64>,
    pub eq: Option<u64>,
}

impl Threshold {
    pub fn holds(&self, n: u64) -> bool {
        self.gt.is_none_or(|b| n > b)
            && self.gte.is_none_or(|b| n >= b)
            && self.lt.is_none_or(|b| n < b)
            && self.lte.is_none_or(|b| n <= b)
            && self.eq.is_none_or(|b| n == b)
    }
}

#[derive(Debug, Clone)]
pub struct Correlation {
    pub meta: Arc<Meta>,
    pub kind: CorrelationKind,
    /// Indices into [`RuleSet::rules`].
    pub rules: Vec<usize>,
    pub group_by: Vec<field::Field>,
    pub timespan_ns: u64,
    pub threshold: Threshold,
}

/// A validated rule set.
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub correlations: Vec<Correlation>,
}

/// One problem of a rule set: where (file, path in the document) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    pub place: String,
    pub path: String,
    pub message: String,
}

impl fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.place, self.message)
        } else {
            write!(f, "{}: {}: {}", self.place, self.path, self.message)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read rules in {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{} problems in the rule set", .0.len())]
    Invalid(Vec<RuleProblem>),
}

#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<RuleProblem>);

impl Problems {
    pub(crate) fn push(&mut self, place: String, path: String, message: String) {
        self.0.push(RuleProblem {
            place,
            path,
            message,
        });
    }
}

impl RuleSet {
    /// Validates rule files given as (file name, text), in the order given.
    pub fn parse<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
        topology: &Topology,
    ) -> Result<RuleSet, RulesError> {
        let mut problems = Problems::default();
        let documents = files
            .into_iter()
            .flat_map(|(file, text)| compile::documents(file, text, &mut problems))
            .collect();
        let set = compile::compile(documents, topology, &mut problems);
        set.check_policies(topology, &mut problems);
        if problems.0.is_empty() {
            Ok(set)
        } else {
            Err(RulesError::Invalid(problems.0))
        }
    }

    /// Reads and validates every `*.yml` and `*.yaml` file of a directory, by file name order.
    pub fn load_dir(dir: &Path, topology: &Topology) -> Result<RuleSet, RulesError> {
        let read_err = |source| RulesError::Read {
            path: dir.display().to_string(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(read_err)? {
            let path = entry.map_err(read_err)?.path();
            let yaml = path.extension().is_some_and(|e| e == "yml" || e == "yaml");
            if yaml && path.is_file() {
                let text = std::fs::read_to_string(&path).map_err(|source| RulesError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                let name = path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                files.push((name, text));
            }
        }
        files.sort();
        RuleSet::parse(
            files.iter().map(|(n, t)| (n.as_str(), t.as_str())),
            topology,
        )
    }

    /// The shipped rule set over `topology` (validated by a unit test on the reference vehicle).
    pub fn reference(topology: &Topology) -> Result<RuleSet, RulesError> {
        RuleSet::parse(REFERENCE_RULES.iter().copied(), topology)
    }

    /// The topology's response policies must name rules of this set.
    fn check_policies(&self, topology: &Topology, problems: &mut Problems) {
        let names: Vec<&str> = self.names().collect();
        for (i, policy) in topology.response.policies.iter().enumerate() {
            for (j, rule) in policy.rules.iter().enumerate() {
                if !names.contains(&rule.as_str()) {
                    problems.push(
                        "topology".into(),
                        format!("response.policies[{i}].rules[{j}]"),
                        format!("`{rule}` is not a rule of the set"),
                    );
                }
            }
        }
    }

    /// Every rule and correlation name, for response policies to refer to.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rules
            .iter()
            .map(|r| r.meta.name.as_str())
            .chain(self.correlations.iter().map(|c| c.meta.name.as_str()))
    }
}

#[cfg(test)]
mod tests;
