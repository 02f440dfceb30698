//! Day-2 operations against a live (development) cluster: `mutualis diff` says what applying a
//! changed manifest would do before it is applied, and `kubectl get tenants -o wide` shows why a
//! tenant is not Ready and which tier is in force after a refused downgrade.

use std::process::Stdio;

use mutualis::api::{ServiceCatalog, Tenant};
use tokio::process::Command;

use crate::harness::{Env, condition, root};
use crate::{READY_TIMEOUT, namespace_of, ready_now, volumes};

/// Runs `mutualis diff -f FILE --context CTX` with `yaml` as FILE: (exit code, stdout, stderr).
async fn diff(env: &Env, yaml: &str) -> (i32, String, String) {
    let file = env.dir.path().join("tenant.yaml");
    std::fs::write(&file, yaml).unwrap();
    let kubeconfig = std::fs::read_to_string(&env.kubeconfig).unwrap();
    let context = kubeconfig
        .lines()
        .find_map(|l| l.strip_prefix("current-context:"))
        .map(|c| c.trim().trim_matches('"').to_owned())
        .expect("the kubeconfig names its context");
    let out = Command::new(env!("CARGO_BIN_EXE_mutualis"))
        .arg("diff")
        .arg("-f")
        .arg(&file)
        .args(["--context", &context])
        .env("KUBECONFIG", &env.kubeconfig)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The objects `yaml`'s tenant plans, as `Kind namespace/name`, offline.
fn planned(yaml: &str) -> Vec<String> {
    let catalog: ServiceCatalog = serde_saphyr::from_str(
        &std::fs::read_to_string(root().join("examples/catalog.yaml")).unwrap(),
    )
    .unwrap();
    let tenant: Tenant = serde_saphyr::from_str(yaml).unwrap();
    let plan = mutualis::plan::plan(&tenant, &catalog, &Default::default()).unwrap();
    plan.objects
        .iter()
        .map(|o| format!("{} {}/{}", o.kind(), o.namespace().unwrap_or(""), o.name()))
        .map(|s| s.replace(" /", " "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_names_shrinks_new_objects_and_nothing_when_nothing_changes() {
    let env = Env::start().await;
    let _op = env.operator("solo", &["--leader-election=false"]);
    let yaml = std::fs::read_to_string(root().join("examples/coteaux-bordelais.yaml")).unwrap();
    env.apply_ok(&yaml).await;
    env.wait_tenant("coteaux-bordelais", READY_TIMEOUT, "Ready", ready_now)
        .await;
    let namespace = namespace_of(&env, "coteaux-bordelais").await;

    // As applied: nothing would change.
    let (code, out, err) = diff(&env, &yaml).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Tenant coteaux-bordelais:\n"), "{out}");
    assert!(
        out.contains("contribution: 17938 EUR/year (unchanged)"),
        "{out}"
    );
    assert!(out.contains("no changes"), "{out}");

    // 1 TB → 500 GB would shrink every volume: refused, each volume named.
    let smaller = yaml.replace("tier: 1tb", "tier: 500gb");
    let (code, out, err) = diff(&env, &smaller).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("refused"), "{out}");
    assert!(
        out.contains("contribution: 17938 → 15375 EUR/year"),
        "{out}"
    );
    let live = volumes(&env, &namespace).await;
    assert!(!live.is_empty());
    for (pvc, size) in &live {
        assert!(
            out.contains(&format!(
                "shrink PersistentVolumeClaim {namespace}/{pvc} from {size} to "
            )),
            "{pvc} not named in:\n{out}"
        );
    }

    // A ninth member: every new object listed, exit 2.
    let more = yaml.replace(
        "  members:\n",
        "  members:\n  - displayName: Créon\n    domain: creon.fr\n",
    );
    assert_ne!(more, yaml);
    let (code, out, err) = diff(&env, &more).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains("~ Tenant coteaux-bordelais: spec.members"),
        "{out}"
    );
    let before = planned(&yaml);
    let new: Vec<String> = planned(&more)
        .into_iter()
        .filter(|o| !before.contains(o))
        .collect();
    assert!(!new.is_empty(), "a member brings objects of its own");
    for object in &new {
        assert!(
            out.contains(&format!("+ {object}\n")),
            "{object} not listed in:\n{out}"
        );
    }
    // Nothing was written by the dry runs.
    let (code, out, _) = diff(&env, &yaml).await;
    assert_eq!(code, 0, "{out}");

    // -o wide: a refused downgrade shows the tier asked for and the tier in force.
    env.apply_ok(&yaml.replace("tier: 1tb", "tier: 250gb"))
        .await;
    env.wait_tenant(
        "coteaux-bordelais",
        READY_TIMEOUT,
        "the shrink refused",
        |t| condition(t, "Valid").is_some_and(|c| c.reason == "ShrinkRefused"),
    )
    .await;
    let wide = env.kubectl_ok(&["get", "tenants", "-o", "wide"]).await;
    let mut lines = wide.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "TIER",
            "MEMBERS",
            "CONTRIBUTION",
            "READY",
            "AGE",
            "REASON",
            "NAMESPACE",
            "DOMAIN",
            "PROVISIONED"
        ],
        "{wide}"
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row[0], "coteaux-bordelais");
    assert_eq!(row[1], "250gb", "the tier asked for: {wide}");
    assert_eq!(row[4], "False");
    assert_eq!(
        &row[6..],
        [
            "ShrinkRefused",
            namespace.as_str(),
            "coteaux-bordelais.fr",
            "1tb"
        ],
        "{wide}"
    );
    // The narrow table stays as it was.
    let narrow = env.kubectl_ok(&["get", "tenants"]).await;
    assert!(!narrow.contains("PROVISIONED"), "{narrow}");
}
