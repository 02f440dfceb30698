//! Values: the schema refuses mistakes with clear messages, overrides reach the objects, the
//! Kubernetes version floor holds, and NOTES tell the user how to look at tenants.

use super::args;
use mutualis_tests::chart::{NAMESPACE, RELEASE, chart_dir, render};
use mutualis_tests::manifests::{find, of_kind, parse_documents};
use mutualis_tests::rbac::{grants_for_service_account, uncovered};
use mutualis_tests::{require_tool, run, workspace_root};
use serde_json::json;
use std::process::Command;

#[test]
fn a_single_replica_runs_without_leader_election_or_pdb() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let objects = render(
        &helm,
        &[
            "--set",
            "replicaCount=1",
            "--set",
            "operator.leaderElection=false",
        ],
    );
    assert!(args(&objects).contains(&"--leader-election=false".to_owned()));
    assert!(
        of_kind(&objects, "PodDisruptionBudget").is_empty(),
        "minAvailable 1 of 1 would block drains"
    );

    // Two replicas without an election would fight: refused with the reason.
    let output = run(Command::new(&helm)
        .args(["template", RELEASE])
        .arg(chart_dir())
        .args(["--set", "operator.leaderElection=false"]))
    .expect_failure();
    assert!(
        output
            .stderr
            .contains("replicaCount > 1 needs operator.leaderElection=true"),
        "{}",
        output.printed()
    );
}

#[test]
fn bad_values_are_refused_by_the_schema_with_clear_messages() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let bad = workspace_root().join("tests/fixtures/bad-values.yaml");
    for subcommand in [&["template", RELEASE][..], &["lint", "--strict"][..]] {
        let output = run(Command::new(&helm)
            .args(subcommand)
            .arg(chart_dir())
            .arg("-f")
            .arg(&bad))
        .expect_failure();
        let printed = output.printed();
        for message in [
            "at '': additional properties 'replicas' not allowed",
            "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'",
            "at '/image/digest': '0123abcd' does not match pattern '^(sha256:[a-f0-9]{64})?$'",
            "at '/operator/logFormat': value must be one of 'json', 'text'",
            "at '/operator/concurrency': got string, want integer",
            "at '/podAntiAffinity': value must be one of 'soft', 'hard', 'none'",
            "at '/metrics/serviceMonitor/interval': '30 seconds' does not match pattern",
            "at '/catalog/spec/backup/s3/endpoint': 's3.example.org' does not match pattern",
            "at '/catalog/spec/backup/schedule/hour': maximum: got 25, want 23",
        ] {
            assert!(
                printed.contains(message),
                "{subcommand:?}: missing {message:?} in\n{printed}"
            );
        }
    }
    // The catalogue's cluster-specific DNS settings cannot be forgotten.
    let output = run(Command::new(&helm)
        .args(["template", RELEASE])
        .arg(chart_dir())
        .args(["--set", "catalog.create=true"]))
    .expect_failure();
    assert!(
        output
            .stderr
            .contains("catalog.spec.dns is required when catalog.create is true"),
        "{}",
        output.printed()
    );
}

#[test]
fn notes_tell_how_to_look_at_tenants() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let output = run(Command::new(&helm)
        .args(["install", RELEASE])
        .arg(chart_dir())
        .args(["--namespace", NAMESPACE, "--dry-run=client"]))
    .expect_success();
    let notes = output
        .stdout
        .split("NOTES:")
        .nth(1)
        .unwrap_or_else(|| panic!("no NOTES:\n{}", output.stdout));
    for line in [
        "kubectl get tenants",
        "kubectl describe tenant <name>",
        "kubectl wait --for=condition=Ready tenant/<name>",
        &format!("kubectl -n {NAMESPACE} logs deployment/{RELEASE}"),
        "leaves the CRDs, the tenants and their data in place",
    ] {
        assert!(notes.contains(line), "NOTES lack {line:?}:\n{notes}");
    }
}

#[test]
fn names_follow_overrides_and_an_existing_service_account_is_bound() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let objects = render(
        &helm,
        &[
            "--set",
            "fullnameOverride=ops-operator",
            "--set",
            "serviceAccount.create=false",
            "--set",
            "serviceAccount.name=existing-account",
        ],
    );
    assert!(of_kind(&objects, "ServiceAccount").is_empty());
    let deployment = find(&objects, "Deployment", "ops-operator");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        "existing-account"
    );
    find(&objects, "Role", "ops-operator-leader-election");
    // The RBAC binds the existing account, in the release namespace.
    let grants = grants_for_service_account(&objects, NAMESPACE, "existing-account");
    assert_eq!(grants.len(), 2);
    assert!(uncovered(&grants, &super::rbac::operator_requests()).is_empty());

    // An existing account must be named.
    let output = run(Command::new(&helm)
        .args(["template", RELEASE])
        .arg(chart_dir())
        .args(["--set", "serviceAccount.create=false"]))
    .expect_failure();
    assert!(
        output
            .stderr
            .contains("serviceAccount.name is required when serviceAccount.create is false"),
        "{}",
        output.printed()
    );

    // A release named otherwise gets the chart name appended, once.
    let output = run(Command::new(&helm)
        .args(["template", "ops"])
        .arg(chart_dir()))
    .expect_success();
    let objects = parse_documents(&output.stdout);
    find(&objects, "Deployment", "ops-mutualis");
    assert_eq!(
        find(&objects, "Deployment", "ops-mutualis")["spec"]["selector"]["matchLabels"],
        json!({"app.kubernetes.io/name": "mutualis", "app.kubernetes.io/instance": "ops"})
    );
}

#[test]
fn kubernetes_older_than_1_30_is_refused() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let template = |version: &str| {
        run(Command::new(&helm)
            .args(["template", RELEASE])
            .arg(chart_dir())
            .args(["--kube-version", version]))
    };
    template("1.30.0").expect_success();
    template("1.33.0").expect_success();
    let output = template("1.29.9").expect_failure();
    assert!(
        output
            .stderr
            .contains("chart requires kubeVersion: >=1.30.0-0"),
        "{}",
        output.printed()
    );
}
