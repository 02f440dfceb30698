//! The pipeline from the outside: the real `mutualis` binary on the examples, compared with
//! golden files, checked by `kubernetes-validate` against the Kubernetes 1.33 schemas, and
//! the CRDs in `crds/` compared with the Rust types. `UPDATE_GOLDEN=1` rewrites golden files
//! and `crds/` instead of failing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const EXAMPLES: [&str; 3] = ["coteaux-bordelais", "saint-emilion", "minimal"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn mutualis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mutualis"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = mutualis(args);
    assert!(
        out.status.success(),
        "mutualis {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1")
}

/// Compares `actual` with the file, or rewrites it under `UPDATE_GOLDEN=1`.
fn golden(path: &Path, actual: &str) {
    if updating() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run UPDATE_GOLDEN=1 cargo test -p mutualis --test render",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .map_or(0, |i| i + 1);
        panic!(
            "{} differs from the output (first difference at line {line}); review and run UPDATE_GOLDEN=1 cargo test -p mutualis --test render",
            path.display()
        );
    }
}

fn render_example(name: &str) -> String {
    ok(&[
        "render",
        "-f",
        "examples/catalog.yaml",
        "-f",
        &format!("examples/{name}.yaml"),
    ])
}

fn golden_dir() -> PathBuf {
    root().join("operator/tests/golden")
}

#[test]
fn render_of_each_example_matches_its_golden_file() {
    for name in EXAMPLES {
        golden(
            &golden_dir().join(format!("render-{name}.yaml")),
            &render_example(name),
        );
    }
}

#[test]
fn plan_of_the_examples_matches_its_golden_file() {
    golden(
        &golden_dir().join("plan-examples.txt"),
        &ok(&["plan", "-f", "examples/"]),
    );
}

#[test]
fn render_is_byte_identical_across_runs_and_input_forms() {
    let first = ok(&["render", "-f", "examples/"]);
    assert_eq!(first, ok(&["render", "-f", "examples/"]));
    // stdin and explicit files give the same objects as the directory.
    let mut stdin_input = std::fs::read_to_string(root().join("examples/catalog.yaml")).unwrap();
    for name in ["coteaux-bordelais", "minimal", "saint-emilion"] {
        stdin_input.push_str("---\n");
        stdin_input.push_str(
            &std::fs::read_to_string(root().join(format!("examples/{name}.yaml"))).unwrap(),
        );
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_mutualis"))
        .args(["render", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin_input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), first);
}

#[test]
fn render_json_is_a_list_of_the_same_objects() {
    let yaml = ok(&["render", "-f", "examples/"]);
    let list: Value =
        serde_json::from_str(&ok(&["render", "-f", "examples/", "-o", "json"])).unwrap();
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&yaml).unwrap();
    assert_eq!(items.len(), docs.len());
    assert_eq!(items, &docs, "YAML and JSON carry the same objects");
    for item in items {
        let labels = &item["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/managed-by"], "mutualis");
        assert!(
            labels["mutualis.io/tenant"].is_string() && labels["mutualis.io/service"].is_string()
        );
        assert!(item["metadata"].get("ownerReferences").is_none());
        assert!(item.get("status").is_none(), "a plan holds no status");
        assert_ne!(
            item["kind"], "Secret",
            "secret values never leave the cluster"
        );
    }
}

#[test]
fn plan_json_reports_the_founding_contribution_and_allocations_within_tiers() {
    let plans: Value =
        serde_json::from_str(&ok(&["plan", "-f", "examples/", "-o", "json"])).unwrap();
    let plans = plans.as_array().unwrap();
    assert_eq!(plans.len(), 3);
    let by_name = |n: &str| plans.iter().find(|p| p["name"] == n).unwrap();
    let coteaux = by_name("coteaux-bordelais");
    assert_eq!(coteaux["annualContribution"], 17938);
    assert_eq!(coteaux["tier"], "1tb");
    assert_eq!(coteaux["memberCount"], 8);
    assert_eq!(by_name("saint-emilion")["annualContribution"], 5638);
    assert_eq!(by_name("minimal")["annualContribution"], 7688);
    for p in plans {
        let storage = p["storage"].as_object().unwrap();
        assert_eq!(
            storage.keys().collect::<Vec<_>>(),
            ["collaboration", "mail", "nas", "website"]
        );
        let volumes: u64 = p["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["bytes"].as_u64().unwrap())
            .sum();
        assert_eq!(volumes, p["storageTotalBytes"].as_u64().unwrap());
        assert!(
            volumes <= p["tierBytes"].as_u64().unwrap(),
            "{}: {volumes} over the tier",
            p["name"]
        );
        let objects = p["objects"].as_object().unwrap();
        assert_eq!(objects["Namespace"], 1);
        assert_eq!(objects["PersistentVolumeClaim"], 5);
        assert!(
            p["zones"]
                .as_array()
                .unwrap()
                .iter()
                .all(|z| z["serial"] == 1)
        );
    }
    let yaml: Vec<Value> =
        serde_saphyr::from_multiple(&ok(&["plan", "-f", "examples/", "-o", "yaml"])).unwrap();
    assert_eq!(
        &yaml, plans,
        "plan -o yaml carries the same summaries as -o json"
    );
    let sallebœuf = coteaux["zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["unicode"] == "sallebœuf.fr")
        .unwrap();
    assert_eq!(sallebœuf["name"], "xn--sallebuf-ptb.fr");
}

#[test]
fn crds_directory_matches_the_rust_types() {
    let dir = root().join("crds");
    let files = mutualis::api::crd_files();
    for (name, yaml) in &files {
        golden(&dir.join(name), yaml);
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut expected: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    expected.sort();
    assert_eq!(on_disk, expected, "crds/ holds exactly the generated CRDs");
    // `mutualis crd` prints the same documents.
    let printed: Vec<Value> = serde_saphyr::from_multiple(&ok(&["crd"])).unwrap();
    let stored: Vec<Value> = files
        .iter()
        .map(|(_, y)| serde_saphyr::from_str(y).unwrap())
        .collect();
    assert_eq!(printed, stored);
    let tenant = &stored[1];
    assert_eq!(tenant["spec"]["names"]["shortNames"][0], "tn");
    let columns: Vec<&str> = tenant["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "Tier",
            "Members",
            "Contribution",
            "Ready",
            "Backup",
            "Age",
            "Reason",
            "Namespace",
            "Domain",
            "Provisioned"
        ]
    );
    // The columns after Age are for `-o wide` only.
    let wide: Vec<i64> = tenant["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["priority"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(wide, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
}

/// `kubernetes-validate` from the project's tools: `$MUTUALIS_TOOLS_BIN`, else `.tools/bin`.
/// Missing is a failure under CI, a loud skip on a workstation without `scripts/install-tools`.
fn kubernetes_validate() -> Option<PathBuf> {
    let bin = std::env::var_os("MUTUALIS_TOOLS_BIN")
        .map_or_else(|| root().join(".tools/bin"), PathBuf::from);
    let tool = bin.join("kubernetes-validate");
    if tool.is_file() {
        return Some(tool);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{} missing: run scripts/install-tools", tool.display());
    }
    eprintln!(
        "SKIPPED: {} missing; run scripts/install-tools",
        tool.display()
    );
    None
}

#[test]
fn every_rendered_object_passes_strict_kubernetes_1_33_validation() {
    let Some(tool) = kubernetes_validate() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // One file per example, one process for all: the tool's start-up dominates. The objects
    // of other projects' CRDs (cert-manager) have their own test, against those CRDs.
    let mut files = Vec::new();
    for name in EXAMPLES {
        let path = dir.path().join(format!("{name}.yaml"));
        let (built_in, _) = split_extension_objects(&render_example(name));
        std::fs::write(&path, built_in).unwrap();
        files.push(path);
    }
    // A tenant with every service off but DNS, and one without TLS, exercise other branches.
    let catalog = std::fs::read_to_string(root().join("examples/catalog.yaml"))
        .unwrap()
        .replace("  tls:\n    clusterIssuer: letsencrypt\n", "");
    let variant = dir.path().join("variant-input.yaml");
    std::fs::write(
        &variant,
        format!(
            "{catalog}---\n{}",
            std::fs::read_to_string(root().join("examples/minimal.yaml"))
                .unwrap()
                .replace("  domain: exemple.fr\n", "  domain: exemple.fr\n  services: {mail: false, website: false, collaboration: false, nas: false}\n")
        ),
    )
    .unwrap();
    let rendered = ok(&["render", "-f", variant.to_str().unwrap()]);
    let path = dir.path().join("variant.yaml");
    std::fs::write(&path, split_extension_objects(&rendered).0).unwrap();
    files.push(path);

    let out = Command::new(&tool)
        .args(["--strict", "--kubernetes-version", "1.33", "--quiet"])
        .args(&files)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && !report.contains("ERROR") && !report.contains("WARN"),
        "kubernetes-validate:\n{report}"
    );
}

/// API groups whose schemas `kubernetes-validate` does not have: their CRDs are kept in
/// `third_party/` and validated against by the development cluster.
const EXTENSION_GROUPS: [&str; 2] = ["cert-manager.io/", "k8up.io/"];

/// The documents of a rendered stream: (Kubernetes' own kinds, the extension kinds).
fn split_extension_objects(rendered: &str) -> (String, String) {
    let (mut built_in, mut extension) = (String::new(), String::new());
    for doc in rendered.split("\n---\n") {
        let doc = doc.trim_start_matches("---\n");
        let is_extension = doc.lines().any(|l| {
            l.strip_prefix("apiVersion: ")
                .is_some_and(|v| EXTENSION_GROUPS.iter().any(|g| v.starts_with(g)))
        });
        let out = if is_extension {
            &mut extension
        } else {
            &mut built_in
        };
        out.push_str("---\n");
        out.push_str(doc);
        if !doc.ends_with('\n') {
            out.push('\n');
        }
    }
    (built_in, extension)
}

/// The objects of other projects' CRDs (the mail server's cert-manager `Certificate`) pass a
/// server-side dry run with strict field validation against those CRDs, as copied in
/// `third_party/`, on the development cluster.
#[test]
fn every_rendered_extension_object_passes_strict_validation_against_its_crd() {
    let cluster = mutualis_tests::cluster::Cluster::start();
    let Some(out) = cluster.kubectl(&[
        "apply",
        "--server-side",
        "-f",
        root().join("third_party/cert-manager").to_str().unwrap(),
    ]) else {
        return;
    };
    out.expect_success();
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for name in EXAMPLES {
        let (_, extension) = split_extension_objects(&render_example(name));
        checked += extension.matches("\nkind: Certificate\n").count();
        let namespace = format!("mutualis-{name}");
        cluster
            .kubectl(&["create", "namespace", &namespace])
            .unwrap()
            .expect_success();
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, &extension).unwrap();
        cluster
            .kubectl(&[
                "create",
                "--dry-run=server",
                "--validate=strict",
                "-f",
                path.to_str().unwrap(),
            ])
            .unwrap()
            .expect_success();
    }
    // Each example has mail, hence a Certificate: the test is not vacuous.
    assert_eq!(checked, EXAMPLES.len());
    // A field cert-manager does not know is refused: the validation is real.
    let wrong = std::fs::read_to_string(dir.path().join("minimal.yaml"))
        .unwrap()
        .replace(
            "  secretName: mail-tls\n",
            "  secretName: mail-tls\n  secretNmae: typo\n",
        );
    let path = dir.path().join("wrong.yaml");
    std::fs::write(&path, wrong).unwrap();
    cluster
        .kubectl(&[
            "create",
            "--dry-run=server",
            "--validate=strict",
            "-f",
            path.to_str().unwrap(),
        ])
        .unwrap()
        .expect_failure();
}

fn k8up_documents(yaml: &str) -> Vec<String> {
    split_documents(yaml)
        .filter(|d| d.contains("\napiVersion: k8up.io/") || d.starts_with("apiVersion: k8up.io/"))
        .map(str::to_owned)
        .collect()
}

fn split_documents(yaml: &str) -> impl Iterator<Item = &str> {
    yaml.split("\n---\n")
        .map(|d| d.strip_prefix("---\n").unwrap_or(d))
        .filter(|d| !d.trim().is_empty())
}

/// Every rendered K8up object (the tenants' Schedules) is accepted by a server holding K8up's
/// own CRDs (`third_party/k8up/`) with strict field validation: the development cluster's
/// OpenAPI schema validation, through the real `kubectl`. A misspelt field is refused there,
/// which shows the check is not vacuous.
#[cfg(feature = "dev")]
#[test]
fn rendered_k8up_objects_pass_strict_validation_against_k8ups_crds() {
    let Some(kubectl) = mutualis_tests::require_tool("kubectl") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cluster = rt
        .block_on(devcluster::DevCluster::start(devcluster::Config::default()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    cluster.write_kubeconfig(&kubeconfig).unwrap();
    let kubectl = |args: &[&str], stdin: &str| {
        let mut child = Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let apply = [
        "apply",
        "--server-side",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        "-",
    ];
    let mut checked = 0;
    for name in EXAMPLES {
        for doc in k8up_documents(&render_example(name)) {
            let object: Value = serde_saphyr::from_str(&doc).unwrap();
            let ns = object["metadata"]["namespace"].as_str().unwrap();
            kubectl(&["create", "namespace", ns], "");
            let out = kubectl(&apply, &doc);
            assert!(
                out.status.success(),
                "{name}: K8up refuses the rendered {}: {}\n{doc}",
                object["kind"],
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
            let misspelt = doc.replace("keepDaily:", "keepDayly:");
            assert_ne!(misspelt, doc, "the Schedule has a retention");
            let out = kubectl(&apply, &misspelt);
            assert!(
                !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("keepDayly"),
                "a misspelt field passes: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    assert_eq!(checked, EXAMPLES.len(), "one Schedule per example tenant");
    rt.block_on(cluster.shutdown());
}

#[test]
fn the_readme_commands_and_tenant_example_work() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let commands: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("cargo run --release -- "))
        // `dev` starts a cluster and the operator: the end-to-end tests run it.
        .filter(|c| !c.starts_with("dev"))
        .collect();
    assert!(commands.len() >= 2, "the README shows plan and render");
    for command in commands {
        let args: Vec<&str> = command.split_whitespace().collect();
        assert!(
            !ok(&args).is_empty(),
            "README command {command:?} printed nothing"
        );
    }
    assert!(
        readme.contains("\nscripts/test\n"),
        "the README's test command"
    );
    // The Tenant shown in the README is a valid one.
    let start = readme.find("```yaml\n").unwrap() + "```yaml\n".len();
    let yaml = &readme[start..start + readme[start..].find("```").unwrap()];
    let tenant: mutualis::api::Tenant = serde_saphyr::from_str(yaml).unwrap();
    let catalog: mutualis::api::ServiceCatalog = serde_saphyr::from_str(
        &std::fs::read_to_string(root().join("examples/catalog.yaml")).unwrap(),
    )
    .unwrap();
    let plan = mutualis::plan::plan(&tenant, &catalog, &Default::default()).unwrap();
    assert_eq!(plan.annual_contribution, 17938);
    assert!(plan.zones.iter().any(|z| z.origin == "xn--sallebuf-ptb.fr"));
}

/// The chart's ClusterRole grants on the children's API groups exactly what the operator's
/// table of child kinds needs: every kind with its verbs, no kind the plan does not have.
#[test]
fn the_chart_cluster_role_is_what_the_child_kinds_table_needs() {
    use std::collections::{BTreeMap, BTreeSet};
    let Some(helm) = mutualis_tests::require_tool("helm") else {
        return;
    };
    let objects = mutualis_tests::chart::render(&helm, &[]);
    let role = mutualis_tests::manifests::find(&objects, "ClusterRole", "mutualis");
    let groups: BTreeSet<&str> = mutualis::plan::kinds::CHILD_KINDS
        .iter()
        .map(|k| k.group)
        .collect();
    let mut granted: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for rule in role["rules"].as_array().unwrap() {
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        };
        for group in strings(&rule["apiGroups"]) {
            if !groups.contains(group.as_str()) {
                continue;
            }
            for resource in strings(&rule["resources"]) {
                granted
                    .entry((group.clone(), resource))
                    .or_default()
                    .extend(strings(&rule["verbs"]));
            }
        }
    }
    let observed = mutualis::plan::kinds::OBSERVED_KINDS.iter().map(|(g, p)| {
        (
            ((*g).to_owned(), (*p).to_owned()),
            mutualis::plan::kinds::OBSERVED_VERBS
                .iter()
                .map(|v| (*v).to_owned())
                .collect(),
        )
    });
    let needed: BTreeMap<(String, String), BTreeSet<String>> = mutualis::plan::kinds::CHILD_KINDS
        .iter()
        .map(|k| {
            (
                (k.group.to_owned(), k.plural.to_owned()),
                k.verbs().iter().map(|v| (*v).to_owned()).collect(),
            )
        })
        .chain(observed)
        .collect();
    assert_eq!(
        granted, needed,
        "chart ClusterRole vs plan::kinds::CHILD_KINDS"
    );
}
