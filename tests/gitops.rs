//! The GitOps examples (`examples/gitops/`), checked as far as this machine allows: every file
//! parses with the kinds and API versions Argo CD and Flux serve; the paths and references they
//! hold point at things that exist; the chart values they carry pass the chart's schema and
//! render; the Argo CD health check runs in a real Lua 5.1 (gopher-lua's dialect) against Tenants
//! in every state; the Flux health expressions and the Lua script name the condition reasons the
//! operator really uses. (No CEL interpreter here: the Flux expressions are checked as text.)

use mlua::{Lua, LuaSerdeExt, serde::SerializeOptions};
use mutualis_tests::chart::{RELEASE, chart_dir};
use mutualis_tests::manifests::{find, key, kind, of_kind, parse_documents};
use mutualis_tests::{require_tool, run, workspace_root};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn gitops_dir() -> PathBuf {
    workspace_root().join("examples").join("gitops")
}

/// Every YAML file under examples/gitops, with its objects.
fn all_files() -> Vec<(PathBuf, Vec<Value>)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(&gitops_dir(), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let objects = parse_documents(&std::fs::read_to_string(&p).unwrap());
            (p, objects)
        })
        .collect()
}

fn objects_of(file: &str) -> Vec<Value> {
    parse_documents(&std::fs::read_to_string(gitops_dir().join(file)).unwrap())
}

#[test]
fn every_file_parses_with_known_kinds_and_api_versions() {
    let mut seen = BTreeSet::new();
    for (path, objects) in all_files() {
        assert!(!objects.is_empty(), "{} holds no object", path.display());
        for object in &objects {
            let api_version = object["apiVersion"].as_str().unwrap_or("");
            let expected = match kind(object) {
                "Application" => "argoproj.io/v1alpha1",
                "ConfigMap" | "Namespace" => "v1",
                "GitRepository" | "HelmRepository" => "source.toolkit.fluxcd.io/v1",
                "HelmRelease" => "helm.toolkit.fluxcd.io/v2",
                "Kustomization" if api_version.starts_with("kustomize.config") => {
                    "kustomize.config.k8s.io/v1beta1"
                }
                "Kustomization" => "kustomize.toolkit.fluxcd.io/v1",
                other => panic!("{}: unexpected kind {other}", path.display()),
            };
            assert_eq!(
                api_version,
                expected,
                "{} in {}",
                key(object),
                path.display()
            );
            seen.insert(kind(object).to_owned());
        }
    }
    for wanted in [
        "Application",
        "ConfigMap",
        "GitRepository",
        "HelmRelease",
        "Kustomization",
    ] {
        assert!(
            seen.contains(wanted),
            "no {wanted} among the GitOps examples"
        );
    }
}

#[test]
fn core_objects_pass_kubernetes_validate_strict() {
    let Some(validate) = require_tool("kubernetes-validate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (_, objects) in all_files() {
        for object in objects.iter().filter(|o| o["apiVersion"] == "v1") {
            let path = dir
                .path()
                .join(format!("{}.json", key(object).replace('/', "-")));
            std::fs::write(&path, serde_json::to_vec(object).unwrap()).unwrap();
            files.push(path);
        }
    }
    assert!(
        files.len() >= 2,
        "the argocd-cm ConfigMap and the Namespace"
    );
    let output = run(Command::new(validate)
        .args(["--strict", "--kubernetes-version", "1.33"])
        .args(&files))
    .expect_success();
    assert_eq!(
        output.stdout.matches("passed for resource").count(),
        files.len(),
        "{}",
        output.printed()
    );
}

/// Renders the chart with a GitOps tool's values: the schema accepts them and the catalogue is
/// created.
fn renders_with(values: &Value) {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.json");
    std::fs::write(&file, serde_json::to_vec(values).unwrap()).unwrap();
    let output = run(Command::new(helm)
        .args(["template", RELEASE])
        .arg(chart_dir())
        .arg("-f")
        .arg(&file))
    .expect_success();
    let objects = parse_documents(&output.stdout);
    assert_eq!(of_kind(&objects, "ServiceCatalog").len(), 1);
    assert_eq!(of_kind(&objects, "Deployment").len(), 1);
}

#[test]
fn argo_cd_applications_install_the_chart_and_sync_tenants() {
    let objects = objects_of("argocd/mutualis.yaml");
    let operator = find(&objects, "Application", "mutualis-operator");
    let source = &operator["spec"]["source"];
    let chart_path = source["path"].as_str().unwrap();
    assert_eq!(
        workspace_root().join(chart_path),
        chart_dir(),
        "the Application installs this chart"
    );
    assert_eq!(source["helm"]["releaseName"], RELEASE);
    assert_eq!(
        operator["spec"]["destination"]["namespace"],
        "mutualis-system"
    );
    let options = &operator["spec"]["syncPolicy"]["syncOptions"];
    assert!(
        options
            .as_array()
            .unwrap()
            .contains(&json!("CreateNamespace=true"))
    );
    assert!(
        options
            .as_array()
            .unwrap()
            .contains(&json!("ServerSideApply=true"))
    );
    // Deleting the Application must not cascade to the CRDs (and so to every Tenant).
    assert!(
        operator["metadata"]["finalizers"].is_null(),
        "no resources-finalizer on the operator's Application"
    );
    renders_with(&source["helm"]["valuesObject"]);

    // Argo CD does not honour Helm's keep policy: what the chart keeps, Argo CD must not prune.
    let rendered = mutualis_tests::chart::render(
        &match mutualis_tests::require_tool("helm") {
            Some(helm) => helm,
            None => return,
        },
        &[
            "--set",
            "catalog.create=true",
            "--set-json",
            r#"catalog.spec.dns={"nameServers":["ns1.example.org."],"hostmaster":"h@example.org","webTarget":{"addresses":["192.0.2.1"]}}"#,
        ],
    );
    for object in rendered
        .iter()
        .filter(|o| ["CustomResourceDefinition", "ServiceCatalog"].contains(&kind(o)))
    {
        assert_eq!(
            object["metadata"]["annotations"]["argocd.argoproj.io/sync-options"], "Prune=false",
            "{}",
            object["metadata"]["name"]
        );
    }
    // So do the example catalogue and tenants, which the tenants Application syncs from git.
    for file in std::fs::read_dir(workspace_root().join("examples")).unwrap() {
        let path = file.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        for object in parse_documents(&std::fs::read_to_string(&path).unwrap()) {
            assert_eq!(
                object["metadata"]["annotations"]["argocd.argoproj.io/sync-options"],
                "Prune=false",
                "{}",
                path.display()
            );
        }
    }

    let tenants = find(&objects, "Application", "mutualis-tenants");
    assert_eq!(tenants["spec"]["source"]["directory"]["recurse"], true);
    assert_eq!(tenants["spec"]["syncPolicy"]["automated"]["selfHeal"], true);
    let wave = |app: &Value| {
        app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
            .as_str()
            .unwrap()
            .parse::<i32>()
            .unwrap()
    };
    assert!(
        wave(tenants) > wave(operator),
        "tenants sync after the operator and its CRDs"
    );
}

#[test]
fn flux_installs_the_chart_then_tenants_with_health_checks() {
    let objects = objects_of("flux/mutualis.yaml");
    let operator_ks = find(&objects, "Kustomization", "mutualis-operator");
    let tenants_ks = find(&objects, "Kustomization", "mutualis-tenants");
    // Every sourceRef names a GitRepository defined here.
    for ks in [operator_ks, tenants_ks] {
        let source = &ks["spec"]["sourceRef"];
        assert_eq!(source["kind"], "GitRepository");
        find(&objects, "GitRepository", source["name"].as_str().unwrap());
    }
    assert_eq!(
        operator_ks["spec"]["wait"], true,
        "tenants wait for a ready operator"
    );
    assert_eq!(
        tenants_ks["spec"]["dependsOn"],
        json!([{"name": "mutualis-operator"}])
    );

    // The operator Kustomization's path is a kustomize directory of this repository.
    let path = operator_ks["spec"]["path"]
        .as_str()
        .unwrap()
        .trim_start_matches("./");
    let dir = workspace_root().join(path);
    let kustomization =
        parse_documents(&std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap());
    let resources = kustomization[0]["resources"].as_array().unwrap();
    let mut listed = Vec::new();
    for resource in resources {
        let file = dir.join(resource.as_str().unwrap());
        listed.extend(parse_documents(&std::fs::read_to_string(&file).unwrap()));
    }
    let release = find(&listed, "HelmRelease", RELEASE);
    let namespace = find(&listed, "Namespace", "mutualis-system");
    assert_eq!(
        release["metadata"]["namespace"],
        namespace["metadata"]["name"]
    );
    let chart = &release["spec"]["chart"]["spec"];
    assert_eq!(
        workspace_root().join(chart["chart"].as_str().unwrap().trim_start_matches("./")),
        chart_dir()
    );
    assert_eq!(chart["sourceRef"]["kind"], "GitRepository");
    let repo = find(
        &objects,
        "GitRepository",
        chart["sourceRef"]["name"].as_str().unwrap(),
    );
    assert_eq!(
        chart["sourceRef"]["namespace"],
        repo["metadata"]["namespace"]
    );
    // CRDs follow the chart as templates: no crds/ directory for Flux's crds policy to skip.
    assert!(!chart_dir().join("crds").exists());
    assert!(release["spec"]["install"]["crds"].is_null());
    renders_with(&release["spec"]["values"]);

    // Health: every applied object (`wait`), whatever the number of tenants; no per-tenant list.
    assert_eq!(tenants_ks["spec"]["wait"], true);
    assert!(
        tenants_ks["spec"]["healthChecks"].is_null(),
        "wait: true covers every Tenant; a healthChecks list grows a line per tenant"
    );
    let exprs = &tenants_ks["spec"]["healthCheckExprs"][0];
    assert_eq!(exprs["apiVersion"], "mutualis.io/v1alpha1");
    assert_eq!(exprs["kind"], "Tenant");
    let current = exprs["current"].as_str().unwrap();
    assert!(
        current.contains("c.type == 'Ready' && c.status == 'True'"),
        "{current}"
    );
    assert!(current.contains("observedGeneration"), "{current}");
    let failed = exprs["failed"].as_str().unwrap();
    // A failure of the previous generation is not one of the current spec (as in the Lua).
    assert!(
        failed.starts_with("status.?observedGeneration.orValue(0) == metadata.generation &&"),
        "{failed}"
    );
    assert!(
        failed.contains("c.type == 'Valid' && c.status == 'False'"),
        "{failed}"
    );
    for reason in refusal_reasons() {
        assert!(
            failed.contains(&format!("'{reason}'")),
            "failed expression lacks {reason}: {failed}"
        );
    }
}

/// The Ready=False reasons that need a person, as the operator defines them.
fn refusal_reasons() -> Vec<&'static str> {
    let reasons = [
        "InvalidSpec",
        "CatalogNotFound",
        "TierNotFound",
        "ShrinkRefused",
        "ApplyFailed",
    ];
    let source =
        std::fs::read_to_string(workspace_root().join("operator/src/api/conditions.rs")).unwrap();
    for reason in reasons {
        assert!(
            source.contains(&format!("= \"{reason}\";")),
            "the operator no longer defines reason {reason}"
        );
    }
    reasons.to_vec()
}

// --- The Argo CD health check, run in Lua 5.1 the way Argo CD runs it: `obj` global, the
// --- script's return value is the health.

fn health_script() -> String {
    let objects = objects_of("argocd/argocd-cm-tenant-health.yaml");
    let cm = find(&objects, "ConfigMap", "argocd-cm");
    assert_eq!(cm["metadata"]["namespace"], "argocd");
    cm["data"]["resource.customizations.health.mutualis.io_Tenant"]
        .as_str()
        .expect("argocd-cm holds the Tenant health check under Argo CD's key")
        .to_owned()
}

fn health(tenant: &Value) -> (String, String) {
    let lua = Lua::new();
    // gopher-lua gives Argo CD's scripts plain tables for JSON arrays; JSON null is nil.
    let options = SerializeOptions::new()
        .set_array_metatable(false)
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false);
    lua.globals()
        .set("obj", lua.to_value_with(tenant, options).unwrap())
        .unwrap();
    let hs: mlua::Table = lua
        .load(health_script())
        .set_name("health.lua")
        .eval()
        .unwrap();
    let status: String = hs.get("status").unwrap();
    let message: String = hs.get("message").unwrap();
    assert!(
        [
            "Healthy",
            "Progressing",
            "Degraded",
            "Suspended",
            "Missing",
            "Unknown"
        ]
        .contains(&status.as_str()),
        "not an Argo CD health status: {status}"
    );
    (status, message)
}

fn tenant(generation: i64, status: Value) -> Value {
    let mut tenant = json!({
        "apiVersion": "mutualis.io/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": "coteaux-bordelais", "generation": generation},
        "spec": {"catalogRef": "default", "tier": "1tb"},
    });
    if !status.is_null() {
        tenant["status"] = status;
    }
    tenant
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-11-28T10:00:00Z", "observedGeneration": 2})
}

#[test]
fn argo_health_waits_for_a_status_of_the_current_generation() {
    let (status, message) = health(&tenant(1, Value::Null));
    assert_eq!(
        (status.as_str(), message.as_str()),
        ("Progressing", "Waiting for the operator to report status")
    );

    let stale = json!({"observedGeneration": 1, "conditions": [condition("Ready", "True", "Ready", "All services ready")]});
    let (status, message) = health(&tenant(2, stale));
    assert_eq!(
        status, "Progressing",
        "Ready of generation 1 says nothing about generation 2"
    );
    assert_eq!(message, "Waiting for the operator to observe generation 2");

    let (status, message) = health(&tenant(
        2,
        json!({"observedGeneration": 2, "conditions": []}),
    ));
    assert_eq!(
        (status.as_str(), message.as_str()),
        ("Progressing", "Waiting for the Ready condition")
    );
}

#[test]
fn argo_health_follows_the_ready_condition() {
    let ready = json!({"observedGeneration": 2, "conditions": [
        condition("Valid", "True", "ValidSpec", "The spec is valid"),
        condition("MailReady", "True", "Ready", "Mail server ready"),
        condition("Ready", "True", "Ready", "All 5 services ready"),
    ]});
    assert_eq!(
        health(&tenant(2, ready)),
        ("Healthy".into(), "All 5 services ready".into())
    );

    let provisioning = json!({"observedGeneration": 2, "conditions": [
        condition("Ready", "False", "ServicesNotReady", "Not ready: collaboration (NotAvailable), nas (VolumePending)"),
    ]});
    assert_eq!(
        health(&tenant(2, provisioning)),
        (
            "Progressing".into(),
            "Not ready: collaboration (NotAvailable), nas (VolumePending)".into()
        )
    );

    let unknown = json!({"observedGeneration": 2, "conditions": [condition("Ready", "Unknown", "Progressing", "Applying")]});
    assert_eq!(health(&tenant(2, unknown)).0, "Progressing");
}

#[test]
fn argo_health_is_degraded_when_a_person_must_act() {
    for reason in refusal_reasons() {
        let refused = json!({"observedGeneration": 2, "conditions": [
            condition("Ready", "False", reason, &format!("refused: {reason}")),
        ]});
        assert_eq!(
            health(&tenant(2, refused)),
            ("Degraded".into(), format!("refused: {reason}")),
            "{reason}"
        );
    }
    // An invalid spec is degraded whatever Ready says, with the validation's message.
    let invalid = json!({"observedGeneration": 2, "conditions": [
        condition("Ready", "False", "ServicesNotReady", "Not ready"),
        condition("Valid", "False", "InvalidSpec", "spec.members[2].domain: not a domain name"),
    ]});
    assert_eq!(
        health(&tenant(2, invalid)),
        (
            "Degraded".into(),
            "spec.members[2].domain: not a domain name".into()
        )
    );
}
