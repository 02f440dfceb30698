//! `mutualis version`: what was built, from which commit, against which Kubernetes client.

use std::io::Write;

/// The operator's version (the crate's).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// `git rev-parse --short HEAD` at build time, `unknown` when built outside git.
pub const GIT_COMMIT: &str = env!("MUTUALIS_GIT_COMMIT");
/// The kube-rs and k8s-openapi versions compiled in (from Cargo.lock).
pub const KUBE_VERSION: &str = env!("MUTUALIS_KUBE_VERSION");
pub const K8S_OPENAPI_VERSION: &str = env!("MUTUALIS_K8S_OPENAPI_VERSION");
/// The oldest Kubernetes release the operator supports: CEL validation rules with
/// `fieldPath` and `oldSelf` in the CRDs are generally available from 1.30.
pub const MIN_KUBERNETES: &str = "1.30";

/// Writes the version report, one `key: value` a line (easy to read and to grep).
pub fn write(out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "mutualis {VERSION}")?;
    writeln!(out, "git commit: {GIT_COMMIT}")?;
    writeln!(out, "kube: {KUBE_VERSION}")?;
    writeln!(out, "k8s-openapi: {K8S_OPENAPI_VERSION}")?;
    writeln!(out, "supported Kubernetes: {MIN_KUBERNETES}+")?;
    out.flush()
}
