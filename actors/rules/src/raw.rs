//! Stage 1: the shape of a rule document as written (Sigma's rule and correlation-rule formats
//! with vsiem's fields). Unknown keys are refused, so a typo never silently disables a rule.

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

// Sigma's descriptive keys (id, status, description, author, dates, references, false
// positives, logsource service/category) are accepted so that rules written for other Sigma
// tools load, and checked for shape only: the engine does not use them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "descriptive Sigma keys, read for their shape only"
)]
pub struct RawRule {
    pub title: String,
    /// What correlations and response policies call the rule; unique in the set.
    pub name: String,
    pub id: Option<String>,
    pub status: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub date: Option<Value>,
    pub modified: Option<Value>,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default)]
    pub falsepositives: Vec<String>,
    pub level: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub logsource: Option<RawLogsource>,
    pub detection: Option<Mapping>,
    pub correlation: Option<RawCorrelation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "descriptive Sigma keys, read for their shape only"
)]
pub struct RawLogsource {
    pub product: Option<String>,
    pub service: Option<String>,
    pub category: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCorrelation {
    #[serde(rename = "type")]
    pub kind: String,
    pub rules: Vec<String>,
    #[serde(rename = "group-by", default)]
    pub group_by: Vec<String>,
    pub timespan: String,
    /// `{gte: 10}` and the like; value_count names its `field` here too.
    pub condition: Option<Mapping>,
    /// Whether the referenced rules still raise incidents of their own (Sigma's default: no).
    #[serde(default)]
    pub generate: bool,
}
