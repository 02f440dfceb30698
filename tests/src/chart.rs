//! The Helm chart as the tests see it: rendered by the real `helm`, read back as objects.

use crate::manifests::parse_documents;
use crate::rbac::{Grant, grants_for_service_account};
use crate::tools::{require_tool, run, workspace_root};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Release name and namespace the rendering helpers use.
pub const RELEASE: &str = "mutualis";
pub const NAMESPACE: &str = "mutualis-system";

/// `charts/mutualis`.
pub fn chart_dir() -> PathBuf {
    workspace_root().join("charts").join("mutualis")
}

/// The representative production values the chart is linted, rendered and installed with.
pub fn production_values() -> PathBuf {
    chart_dir().join("ci").join("production-values.yaml")
}

/// `helm template` of the chart with extra arguments (`-f`, `--set`), as parsed objects.
pub fn render(helm: &Path, extra: &[&str]) -> Vec<Value> {
    let output = run(Command::new(helm)
        .args(["template", RELEASE])
        .arg(chart_dir())
        .args(["--namespace", NAMESPACE])
        .args(extra))
    .expect_success();
    parse_documents(&output.stdout)
}

/// What the operator's ServiceAccount may do, per the chart rendered with default values: feed
/// it with the requests the development cluster recorded to [`crate::rbac::uncovered`].
/// `None` when helm is missing outside CI.
pub fn operator_grants() -> Option<Vec<Grant>> {
    let helm = require_tool("helm")?;
    let objects = render(&helm, &[]);
    let account = crate::manifests::find(&objects, "Deployment", RELEASE)["spec"]["template"]["spec"]
        ["serviceAccountName"]
        .as_str()
        .expect("the Deployment names its ServiceAccount")
        .to_owned();
    Some(grants_for_service_account(&objects, NAMESPACE, &account))
}
