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
    let op = env.operator("solo", &["--leader-election=false"]);
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

    // A tenant not applied yet: everything it plans is new.
    let small = crate::tenant_yaml("pompignac", "500gb", &[], "");
    let (code, out, err) = diff(&env, &small).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("+ Tenant pompignac (new)"), "{out}");
    assert!(out.contains("contribution: none → 7688 EUR/year"), "{out}");
    for object in planned(&small) {
        assert!(
            out.contains(&format!("+ {object}\n")),
            "{object} not listed in:\n{out}"
        );
    }

    // An upgrade grows every volume of a smaller tenant.
    env.apply_ok(&small).await;
    env.wait_tenant("pompignac", READY_TIMEOUT, "Ready", ready_now)
        .await;
    let small_ns = namespace_of(&env, "pompignac").await;
    let (code, out, err) = diff(&env, &small.replace("tier: 500gb", "tier: 1tb")).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("contribution: 7688 → 10250 EUR/year"), "{out}");
    for (pvc, size) in volumes(&env, &small_ns).await {
        assert!(
            out.contains(&format!(
                "↑ PersistentVolumeClaim {small_ns}/{pvc}: grows {size} → "
            )),
            "{pvc} not growing in:\n{out}"
        );
    }
    assert!(
        out.contains("~ ResourceQuota"),
        "the quota follows the tier:\n{out}"
    );

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
            "BACKUP",
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
        &row[7..],
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

    // The metrics the syndicate bills and alerts from, as the running operator exports them.
    let t = "tenant=\"coteaux-bordelais\"";
    let metrics = env
        .eventually(READY_TIMEOUT, "the refusal in the metrics", || async {
            let (_, body) = op.http_get("/metrics").await?;
            body.contains(&format!(
                "mutualis_tenant_refused{{{t},reason=\"ShrinkRefused\"}} 1"
            ))
            .then_some(body)
        })
        .await;
    for line in [
        format!("mutualis_tenant_ready{{{t}}} 0"),
        format!("mutualis_tenant_annual_contribution_euros{{{t}}} 17938"),
        format!("mutualis_tenant_storage_bytes{{{t},service=\"nas\"}} "),
        "mutualis_refusals_total{reason=\"ShrinkRefused\"} 1".to_owned(),
        "mutualis_leader 1".to_owned(),
        "mutualis_build_info{version=".to_owned(),
        "process_resident_memory_bytes ".to_owned(),
        "process_cpu_seconds_total ".to_owned(),
        "process_open_fds ".to_owned(),
    ] {
        assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    }
    let refused: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("mutualis_reconciles_total{outcome=\"refused\"}"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(refused >= 1.0, "a refusal is its own outcome:\n{metrics}");
    // Logged once for this generation, however often it is reconciled.
    let refusals = op.log().matches("spec refused").count();
    assert_eq!(refusals, 1, "{}", op.log());

    // A deleted tenant leaves no series behind.
    env.kubectl_ok(&["delete", "tenant", "coteaux-bordelais", "--wait=true"])
        .await;
    env.eventually(READY_TIMEOUT, "the tenant's series gone", || async {
        let (_, body) = op.http_get("/metrics").await?;
        (!body.contains("coteaux-bordelais")).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_says_whether_it_leads_and_a_standby_says_so_once() {
    let env = Env::start().await;
    let lease_ns = mutualis_tests::chart::NAMESPACE;
    // Idempotent: the harness already made it for the backup credentials.
    env.apply_ok(&format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {lease_ns}\n"
    ))
    .await;
    let election = ["--lease-namespace", lease_ns, "--lease-duration", "3"];
    let alpha = env.operator("alpha", &election);
    let beta = env.operator("beta", &election);
    let leaders = env
        .eventually(READY_TIMEOUT, "one leader and one standby", || async {
            let a = alpha.metric_sum("mutualis_leader").await?;
            let b = beta.metric_sum("mutualis_leader").await?;
            (a + b == 1.0).then_some((a, b))
        })
        .await;
    let (leader, standby) = if leaders.0 == 1.0 {
        (&alpha, &beta)
    } else {
        (&beta, &alpha)
    };
    let holder = if leaders.0 == 1.0 { "alpha" } else { "beta" };
    // Several retry periods later, the standby has said it once.
    env.eventually(READY_TIMEOUT, "the standby's line", || async {
        standby
            .log()
            .contains("waiting for the lease held by")
            .then_some(())
    })
    .await;
    env.apply_ok(&crate::tenant_yaml("camarsac", "250gb", &[], ""))
        .await;
    env.wait_tenant("camarsac", READY_TIMEOUT, "Ready", ready_now)
        .await;
    let log = standby.log();
    assert_eq!(
        log.matches("waiting for the lease held by").count(),
        1,
        "{log}"
    );
    assert!(
        log.contains(&format!("waiting for the lease held by {holder}")),
        "{log}"
    );
    assert_eq!(standby.metric_sum("mutualis_leader").await, Some(0.0));
    assert_eq!(leader.metric_sum("mutualis_leader").await, Some(1.0));
}
