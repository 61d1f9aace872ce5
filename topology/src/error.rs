//! Why a topology was refused: unreadable, not well-formed, or not a coherent vehicle.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Stage 1: TOML syntax, a wrong type, a missing or an unknown field. The message is toml's,
    /// with line, column and the offending excerpt.
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    /// Stage 2: everything wrong with the vehicle at once, in file order.
    #[error("{}", display_lines(.0))]
    Invalid(Vec<Problem>),
}

fn display_lines(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// One validation problem, located by its path in the file, e.g. `ecus[3].interfaces[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}
