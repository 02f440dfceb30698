//! The CRDs follow the release, as cert-manager's do: `helm upgrade` upgrades them (they are
//! templates, not a crds/ directory Helm installs once), and uninstalling keeps them unless
//! `crds.keep=false` (deleting a CRD deletes every Tenant, then every tenant's services).

use mutualis_tests::chart::{NAMESPACE, RELEASE, chart_dir};
use mutualis_tests::cluster::Cluster;
use mutualis_tests::{require_tool, run};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn helm(helm: &Path, cluster: &Cluster, args: &[&str]) {
    run(Command::new(helm)
        .args(args)
        .args(["--namespace", NAMESPACE, "--kubeconfig"])
        .arg(cluster.kubeconfig()))
    .expect_success();
}

/// The Tenant CRD as served, or None once it is gone.
fn tenant_crd(cluster: &Cluster) -> Option<Value> {
    let out = cluster
        .kubectl(&[
            "get",
            "crd",
            "tenants.mutualis.io",
            "--ignore-not-found",
            "-o",
            "json",
        ])
        .expect("kubectl")
        .expect_success();
    (!out.stdout.trim().is_empty()).then(|| serde_json::from_str(&out.stdout).unwrap())
}

fn columns(crd: &Value) -> Vec<String> {
    crd["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A copy of the chart whose Tenant CRD is an "older release": its Members column was named
/// Communes.
fn older_chart(dir: &Path) -> PathBuf {
    let copy = dir.join("mutualis");
    run(Command::new("cp").arg("-r").arg(chart_dir()).arg(&copy)).expect_success();
    let crd = copy.join("files/crds/tenants.mutualis.io.yaml");
    let text = std::fs::read_to_string(&crd).unwrap();
    assert!(text.contains("name: Members"));
    std::fs::write(&crd, text.replace("name: Members", "name: Communes")).unwrap();
    copy
}

#[test]
fn helm_upgrade_upgrades_the_crds_and_uninstall_keeps_them() {
    let Some(helm_bin) = require_tool("helm") else {
        return;
    };
    if require_tool("kubectl").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let old = older_chart(dir.path());
    let cluster = Cluster::start();
    let old = old.display().to_string();
    let chart = chart_dir().display().to_string();
    helm(
        &helm_bin,
        &cluster,
        &["install", RELEASE, &old, "--create-namespace"],
    );
    let crd = tenant_crd(&cluster).expect("installed with the release");
    assert!(
        columns(&crd).contains(&"Communes".to_owned()),
        "{:?}",
        columns(&crd)
    );
    assert_eq!(
        crd["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );

    helm(&helm_bin, &cluster, &["upgrade", RELEASE, &chart]);
    let crd = tenant_crd(&cluster).expect("still there");
    let cols = columns(&crd);
    assert!(
        cols.contains(&"Members".to_owned()) && !cols.contains(&"Communes".to_owned()),
        "the upgrade changed the CRD: {cols:?}"
    );

    helm(&helm_bin, &cluster, &["uninstall", RELEASE]);
    assert!(
        tenant_crd(&cluster).is_some(),
        "crds.keep (the default) keeps the CRD"
    );
    // Installed again under the same name, the release adopts the CRDs it kept.
    helm(&helm_bin, &cluster, &["install", RELEASE, &chart]);
    assert!(tenant_crd(&cluster).is_some());
}

#[test]
fn without_keep_uninstall_removes_the_crds_and_crds_can_be_left_out() {
    let Some(helm_bin) = require_tool("helm") else {
        return;
    };
    if require_tool("kubectl").is_none() {
        return;
    }
    let chart = chart_dir().display().to_string();
    let cluster = Cluster::start();
    helm(
        &helm_bin,
        &cluster,
        &[
            "install",
            RELEASE,
            &chart,
            "--create-namespace",
            "--set",
            "crds.keep=false",
        ],
    );
    let crd = tenant_crd(&cluster).expect("installed");
    assert!(crd["metadata"]["annotations"]["helm.sh/resource-policy"].is_null());
    helm(&helm_bin, &cluster, &["uninstall", RELEASE]);
    assert!(
        tenant_crd(&cluster).is_none(),
        "crds.keep=false: uninstall deletes the CRD"
    );

    // crds.enabled=false: the CRDs are someone else's (applied from crds/ by hand or by GitOps).
    let objects = mutualis_tests::chart::render(&helm_bin, &["--set", "crds.enabled=false"]);
    assert!(mutualis_tests::manifests::of_kind(&objects, "CustomResourceDefinition").is_empty());
}
