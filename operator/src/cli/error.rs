//! Errors of the offline commands. Each says where (file, line, column, document), what
//! (field path, value) and what would be accepted; `main` prints it and exits non-zero.

use std::path::PathBuf;

use crate::plan::PlanError;

/// Where a document came from: a file (or `<stdin>`) and its position in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub source: String,
    /// 1-based index of the document in its source.
    pub document: usize,
    /// 1-based line of the document's first line in the source.
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{} (document {})",
            self.source, self.line, self.document
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "{source_name}: input is larger than the {limit}-byte limit (read {size} bytes or more); split it into several files"
    )]
    TooLarge {
        source_name: String,
        size: u64,
        limit: u64,
    },

    #[error(
        "{source_name}: not UTF-8 text (invalid byte at offset {offset}); expected YAML manifests"
    )]
    NotUtf8 { source_name: String, offset: usize },

    #[error(
        "{source_name}: no YAML documents; expected ServiceCatalog and Tenant manifests (apiVersion: mutualis.io/v1alpha1)"
    )]
    Empty { source_name: String },

    #[error(
        "no ServiceCatalog or Tenant (apiVersion mutualis.io/v1alpha1) in the input; {skipped}"
    )]
    NothingOfOurs { skipped: String },

    #[error("{path}: no .yaml or .yml file in this directory")]
    EmptyDirectory { path: PathBuf },

    #[error("{source_name}:{line}:{column}: {}{message}\n{snippet}", field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default())]
    Yaml {
        source_name: String,
        line: usize,
        column: usize,
        /// Field path at that line, when the document is block-style YAML.
        field: Option<String>,
        message: String,
        /// The offending line with a caret under the column.
        snippet: String,
    },

    #[error(
        "{origin}: unsupported {what}; expected apiVersion mutualis.io/v1alpha1 and kind ServiceCatalog or Tenant"
    )]
    UnknownKind { origin: Origin, what: String },

    #[error("{origin}: {kind} {name:?} is defined twice (first at {first})")]
    Duplicate {
        origin: Origin,
        kind: &'static str,
        name: String,
        first: Origin,
    },

    #[error("{origin}: {kind} has no metadata.name")]
    MissingName { origin: Origin, kind: &'static str },

    #[error("{source_name}:{line}: Tenant {tenant:?}: {error}")]
    Plan {
        source_name: String,
        line: usize,
        tenant: String,
        error: Box<PlanError>,
    },

    #[error("{source_name}:{line}: {error}")]
    Catalog {
        source_name: String,
        line: usize,
        error: Box<PlanError>,
    },

    #[error("{source_name}:{line}: {field}: unknown field; allowed here: {allowed}")]
    UnknownField {
        source_name: String,
        line: usize,
        field: String,
        allowed: String,
    },

    /// Refused by the CRD's schema or CEL rules, as the API server would refuse it: the first
    /// cause in the API's words (`spec.tier: Invalid value: ...`).
    #[error("{source_name}:{line}: {kind} {name:?} is invalid: {cause}{more}")]
    Invalid {
        source_name: String,
        line: usize,
        kind: &'static str,
        name: String,
        cause: String,
        /// ` (and 2 more errors)`, or empty.
        more: String,
    },

    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}
