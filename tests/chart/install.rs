//! Installing for real: the `helm` commands of the install guide run, in order, against a
//! development cluster.

use super::guide::{code_blocks, install_guide, shell_lines};
use mutualis_tests::chart::{NAMESPACE, RELEASE, render};
use mutualis_tests::cluster::Cluster;
use mutualis_tests::{Output, require_tool, run, workspace_root};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Runs one of the guide's helm lines against the cluster, from a directory holding the chart
/// and the guide's values file.
fn run_guide_line(helm: &Path, cluster: &Cluster, dir: &Path, line: &str) -> Output {
    assert!(
        !line.contains(['"', '\'', '$', '\\']),
        "keep the guide's helm lines plain: {line}"
    );
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("helm"));
    run(Command::new(helm)
        .current_dir(dir)
        .args(words)
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig()))
    .expect_success()
}

fn get_json(cluster: &Cluster, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let output = cluster.kubectl(&all).expect("kubectl").expect_success();
    serde_json::from_str(&output.stdout).unwrap()
}

/// Which of `resources` (`resource/name`) exist (kubectl get --ignore-not-found -o name).
fn existing(cluster: &Cluster, namespace: Option<&str>, resources: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for resource in resources {
        let mut args = vec!["get", resource, "--ignore-not-found", "-o", "name"];
        if let Some(ns) = namespace {
            args.extend(["-n", ns]);
        }
        let output = cluster.kubectl(&args).expect("kubectl").expect_success();
        // kubectl names objects `resource.group/name`: keep `resource/name`.
        found.extend(output.stdout.lines().map(|line| {
            let (resource, name) = line.split_once('/').unwrap_or((line, ""));
            format!("{}/{name}", resource.split('.').next().unwrap())
        }));
    }
    found
}

const NAMESPACED: [&str; 7] = [
    "deployment/mutualis",
    "serviceaccount/mutualis",
    "service/mutualis-metrics",
    "poddisruptionbudget/mutualis",
    "role/mutualis-leader-election",
    "rolebinding/mutualis-leader-election",
    "secret/sh.helm.release.v1.mutualis.v1",
];
const CLUSTER_WIDE: [&str; 3] = [
    "clusterrole/mutualis",
    "clusterrole/mutualis-view",
    "clusterrolebinding/mutualis",
];

fn args_of(deployment: &Value) -> Vec<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_guide_installs_upgrades_and_uninstalls_on_the_development_cluster() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    if require_tool("kubectl").is_none() {
        return;
    }
    let guide = install_guide();
    let lines = shell_lines(&guide, "helm");
    let verbs: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        verbs,
        ["install", "upgrade", "uninstall"],
        "the guide's helm lines: {lines:?}"
    );
    for line in &lines {
        assert!(
            line.contains(&format!(" {RELEASE} "))
                && line.contains(&format!("--namespace {NAMESPACE}")),
            "{line}"
        );
    }

    // The working directory of a new user: the repository's chart and the guide's values file.
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(workspace_root().join("charts"), dir.path().join("charts")).unwrap();
    let (_, values) = code_blocks(&guide)
        .into_iter()
        .find(|(info, body)| info == "yaml" && body.starts_with("# my-values.yaml"))
        .expect("the guide shows my-values.yaml");
    std::fs::write(dir.path().join("my-values.yaml"), values).unwrap();

    let cluster = Cluster::start();

    // helm install: every object of the chart, the CRDs and the catalogue.
    run_guide_line(&helm, &cluster, dir.path(), &lines[0]);
    let status: Value = serde_json::from_str(
        &run(Command::new(&helm)
            .args([
                "status",
                RELEASE,
                "--namespace",
                NAMESPACE,
                "-o",
                "json",
                "--kubeconfig",
            ])
            .arg(cluster.kubeconfig()))
        .expect_success()
        .stdout,
    )
    .unwrap();
    assert_eq!(status["info"]["status"], "deployed");
    assert_eq!(status["version"], 1);
    assert_eq!(existing(&cluster, Some(NAMESPACE), &NAMESPACED), NAMESPACED);
    assert_eq!(existing(&cluster, None, &CLUSTER_WIDE), CLUSTER_WIDE);
    let crds = [
        "customresourcedefinition/tenants.mutualis.io",
        "customresourcedefinition/servicecatalogs.mutualis.io",
    ];
    assert_eq!(existing(&cluster, None, &crds), crds);
    let catalog = get_json(&cluster, &["get", "servicecatalog", "gironde-numerique"]);
    assert_eq!(
        catalog["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    assert_eq!(catalog["spec"]["tiers"][2]["storage"], "1Ti");
    let deployment = get_json(&cluster, &["get", "deployment", RELEASE, "-n", NAMESPACE]);
    assert!(args_of(&deployment).contains(&"--log-level=info".to_owned()));

    // A tenant applied while the operator is installed.
    let file = workspace_root()
        .join("examples/coteaux-bordelais.yaml")
        .display()
        .to_string();
    cluster
        .kubectl(&["apply", "--server-side", "-f", &file])
        .expect("kubectl")
        .expect_success();
    let tenant_uid =
        get_json(&cluster, &["get", "tenant", "coteaux-bordelais"])["metadata"]["uid"].clone();

    // helm upgrade: the changed value reaches the Deployment; the release moves to revision 2.
    run_guide_line(&helm, &cluster, dir.path(), &lines[1]);
    let upgraded = get_json(&cluster, &["get", "deployment", RELEASE, "-n", NAMESPACE]);
    let args = args_of(&upgraded);
    assert!(args.contains(&"--log-level=debug".to_owned()), "{args:?}");
    assert!(!args.contains(&"--log-level=info".to_owned()), "{args:?}");
    assert!(
        upgraded["metadata"]["generation"].as_i64() > deployment["metadata"]["generation"].as_i64()
    );
    assert_eq!(
        existing(
            &cluster,
            Some(NAMESPACE),
            &["secret/sh.helm.release.v1.mutualis.v2"]
        )
        .len(),
        1
    );

    // helm uninstall: the chart's objects go; the CRDs, the catalogue and the tenant stay.
    run_guide_line(&helm, &cluster, dir.path(), &lines[2]);
    let mut chart_objects: Vec<&str> = NAMESPACED.to_vec();
    chart_objects.push("secret/sh.helm.release.v1.mutualis.v2");
    assert_eq!(
        existing(&cluster, Some(NAMESPACE), &chart_objects),
        Vec::<String>::new()
    );
    assert_eq!(
        existing(&cluster, None, &CLUSTER_WIDE),
        Vec::<String>::new()
    );
    assert_eq!(
        existing(&cluster, None, &crds),
        crds,
        "the CRDs are kept (crds.keep)"
    );
    assert_eq!(
        existing(&cluster, None, &["servicecatalog/gironde-numerique"]).len(),
        1,
        "the catalogue is kept"
    );
    let tenant = get_json(&cluster, &["get", "tenant", "coteaux-bordelais"]);
    assert_eq!(
        tenant["metadata"]["uid"], tenant_uid,
        "the same Tenant, untouched"
    );
    assert!(tenant["metadata"]["deletionTimestamp"].is_null());
    let releases = run(Command::new(&helm)
        .args([
            "list",
            // Every state (helm 4 has no --all): nothing of the release may remain.
            "--deployed",
            "--failed",
            "--pending",
            "--superseded",
            "--uninstalling",
            "--uninstalled",
            "--namespace",
            NAMESPACE,
            "-q",
            "--kubeconfig",
        ])
        .arg(cluster.kubeconfig()))
    .expect_success();
    assert_eq!(releases.stdout.trim(), "");
}

/// Applies the rendered chart with kubectl (server-side) and returns what kubectl printed.
fn apply(cluster: &Cluster, dir: &Path, name: &str, objects: &[Value]) -> Output {
    let file = dir.join(name);
    // One YAML stream (a `List` would need /openapi/v2 to validate).
    let documents: Vec<String> = objects
        .iter()
        .map(|o| serde_saphyr::to_string(o).unwrap())
        .collect();
    std::fs::write(&file, documents.join("---\n")).unwrap();
    let file = file.display().to_string();
    cluster
        .kubectl(&[
            "apply",
            "--server-side",
            "--field-manager=helm",
            "-f",
            &file,
        ])
        .expect("kubectl")
}

#[test]
fn the_api_server_accepts_every_object_of_the_chart_and_its_catalogue() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    if require_tool("kubectl").is_none() {
        return;
    }
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let crds = mutualis_tests::chart::chart_dir()
        .join("files/crds")
        .display()
        .to_string();
    cluster
        .kubectl(&["apply", "--server-side", "-f", &crds])
        .expect("kubectl")
        .expect_success();
    cluster
        .kubectl(&[
            "wait",
            "--for=condition=Established",
            "crd/tenants.mutualis.io",
            "crd/servicecatalogs.mutualis.io",
        ])
        .expect("kubectl")
        .expect_success();

    // The production values, without the ServiceMonitor (no Prometheus Operator CRDs here) and
    // the PodDisruptionBudget (policy/v1 is not served by the development cluster yet).
    let values = mutualis_tests::chart::production_values()
        .display()
        .to_string();
    let objects: Vec<Value> = render(
        &helm,
        &[
            "-f",
            &values,
            "--set",
            "metrics.serviceMonitor.enabled=false",
        ],
    )
    .into_iter()
    .filter(|o| o["kind"] != "PodDisruptionBudget")
    .collect();
    let namespace = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}});
    apply(&cluster, dir.path(), "namespace.yaml", &[namespace]).expect_success();
    apply(&cluster, dir.path(), "chart.yaml", &objects).expect_success();
    for object in &objects {
        let name = object["metadata"]["name"].as_str().unwrap();
        let resource = format!("{}/{name}", object["kind"].as_str().unwrap().to_lowercase());
        let namespace = object["metadata"]["namespace"].as_str();
        assert_eq!(
            existing(&cluster, namespace, &[&resource]),
            std::slice::from_ref(&resource)
        );
    }
    let catalog = get_json(&cluster, &["get", "servicecatalog", "gironde-numerique"]);
    let rendered = objects
        .iter()
        .find(|o| o["kind"] == "ServiceCatalog")
        .unwrap();
    // Kept as rendered, with the CRD's defaults (TTL, SOA timers, CAA, DMARC) added.
    assert!(
        contains(&catalog["spec"], &rendered["spec"]),
        "stored {:#} lost some of {:#}",
        catalog["spec"],
        rendered["spec"]
    );
    assert_eq!(
        catalog["spec"]["dns"]["ttl"], 3600,
        "the CRD's defaults apply"
    );

    // The request log speaks RBAC: kubectl's server-side apply of the Deployment was a patch.
    let applied = mutualis_tests::rbac::Request::new("patch", "apps", "deployments")
        .ns(NAMESPACE)
        .named(RELEASE);
    assert!(
        cluster.requests_from("kubectl").contains(&applied),
        "{applied} not recorded"
    );

    // A catalogue the CRD's schema refuses is refused at install time, with the field at fault.
    let mut bad = rendered.clone();
    bad["metadata"]["name"] = "broken".into();
    bad["spec"]["tiers"][0]["storage"] = "250 gigabytes".into();
    let refused = apply(&cluster, dir.path(), "bad.yaml", &[bad]).expect_failure();
    assert!(
        refused.stderr.contains("spec.tiers[0].storage"),
        "{}",
        refused.printed()
    );
}

/// Whether `stored` holds everything of `given` (objects may have more fields).
fn contains(stored: &Value, given: &Value) -> bool {
    match (stored, given) {
        (Value::Object(s), Value::Object(g)) => g
            .iter()
            .all(|(k, v)| s.get(k).is_some_and(|sv| contains(sv, v))),
        (Value::Array(s), Value::Array(g)) => {
            s.len() == g.len() && s.iter().zip(g).all(|(sv, gv)| contains(sv, gv))
        }
        _ => stored == given,
    }
}
