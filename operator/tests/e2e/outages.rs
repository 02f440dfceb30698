//! The operator against outages of its own: a deleted CRD, a lease it can no longer trust.

use std::time::Duration;

use kube::Api;
use kube::api::ListParams;

use crate::harness::Env;
use crate::{READY_TIMEOUT, ready_now, tenant_yaml};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_tenant_crd_makes_the_operator_unready_until_it_is_back() {
    let env = Env::start().await;
    let op = env.operator("crds", &["--leader-election=false"]);
    let status = |op: &crate::harness::Operator| {
        let op_http = op.http;
        async move {
            let probe = crate::harness::Operator::probe(op_http, "/readyz").await;
            probe.map(|(code, _)| code)
        }
    };
    env.eventually(Duration::from_secs(30), "/readyz 200", || async {
        (status(&op).await == Some(200)).then_some(())
    })
    .await;
    env.kubectl_ok(&["delete", "crd", "tenants.mutualis.io", "--timeout=30s"])
        .await;
    env.eventually(Duration::from_secs(60), "/readyz 503", || async {
        (status(&op).await == Some(503)).then_some(())
    })
    .await;
    let (_, metrics) = op.http_get("/metrics").await.unwrap();
    assert!(
        metrics.contains("mutualis_crd_present{crd=\"tenants.mutualis.io\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mutualis_crd_present{crd=\"servicecatalogs.mutualis.io\"} 1"),
        "{metrics}"
    );
    assert!(
        op.log().contains("CustomResourceDefinition is missing"),
        "{}",
        op.log()
    );
    let crds = crate::harness::root().join("crds");
    env.kubectl_ok(&["apply", "--server-side", "-f", crds.to_str().unwrap()])
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while status(&op).await != Some(200) {
        assert!(
            std::time::Instant::now() < deadline,
            "/readyz not 200 again after the CRD is back:\n{}",
            env.operator_logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // And it reconciles again.
    env.apply_ok(&tenant_yaml("retour", "250gb", &[], "")).await;
    env.wait_tenant("retour", READY_TIMEOUT, "Ready", ready_now)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fenced_writes_wait_for_a_renewed_lease() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::PostParams;
    use mutualis::reconcile::fence::fenced;
    use mutualis::reconcile::leader::LeaderGuard;

    let env = Env::start().await;
    let guard = LeaderGuard::new(Duration::from_millis(300));
    let client = fenced(env.client.clone(), guard.clone());
    let config_maps: Api<ConfigMap> = Api::namespaced(client, "default");
    let create = |name: &str| {
        let api = config_maps.clone();
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name}
        }))
        .unwrap();
        async move { api.create(&PostParams::default(), &cm).await }
    };
    let err = create("before").await.unwrap_err().to_string();
    assert!(err.contains("leader lease"), "{err}");
    assert!(
        config_maps.list(&ListParams::default()).await.is_ok(),
        "reads go out"
    );
    guard.renewed(std::time::Instant::now());
    create("renewed").await.expect("a write within the window");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(create("expired").await.is_err(), "a write past the window");
    guard.renewed(std::time::Instant::now());
    guard.revoke();
    assert!(
        create("revoked").await.is_err(),
        "a write after losing the lease"
    );
    let names: Vec<String> = config_maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert!(names.contains(&"renewed".to_owned()), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n != "renewed" && n != "kube-root-ca.crt"),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_writes_nothing_until_it_has_renewed_its_lease() {
    let env = Env::start().await;
    let op = env.operator("paused", &["--lease-duration", "3"]);
    env.apply_ok(&tenant_yaml("avant", "250gb", &[], "")).await;
    env.wait_tenant("avant", READY_TIMEOUT, "Ready", ready_now)
        .await;
    let pid = op.child.id().expect("the operator runs").to_string();
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {sig}");
    };
    // Work under way when the process is paused: a tenant with many objects, applied just
    // before the pause (its reconcile is debounced, then applies object after object).
    let example = crate::harness::root().join("examples/coteaux-bordelais.yaml");
    env.kubectl_ok(&["apply", "--server-side", "-f", example.to_str().unwrap()])
        .await;
    signal("-STOP");
    // Longer than the lease: when the process wakes up, its lease has run out.
    tokio::time::sleep(Duration::from_secs(5)).await;
    env.cluster.clear_requests();
    signal("-CONT");
    env.wait_tenant("coteaux-bordelais", READY_TIMEOUT, "Ready", ready_now)
        .await;
    let requests: Vec<_> = env
        .cluster
        .requests()
        .into_iter()
        .filter(|r| r.user_agent.starts_with("mutualis/"))
        .collect();
    let renewal = requests
        .iter()
        .position(|r| r.resource == "leases" && r.verb == "update")
        .expect("the lease was renewed");
    let early: Vec<String> = requests[..renewal]
        .iter()
        .filter(|r| !matches!(r.verb.as_str(), "get" | "list" | "watch"))
        .map(|r| format!("{} {} {}", r.verb, r.resource, r.name))
        .collect();
    assert!(
        early.is_empty(),
        "writes sent before the lease was renewed: {early:?}"
    );
    assert!(
        requests[renewal..]
            .iter()
            .any(|r| r.resource == "tenants" && r.subresource == "status"),
        "it writes again once renewed"
    );
}

/// On a cluster without cert-manager the operator still starts and serves (the Certificate
/// cache is empty, not stuck), and a tenant whose catalogue asks for a mail certificate says
/// what to install; once cert-manager's CRDs are there, the tenant turns Ready by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cert_manager_the_operator_runs_and_says_what_to_install() {
    let env = Env::start().await;
    env.kubectl_ok(&[
        "delete",
        "crd",
        "certificates.cert-manager.io",
        "--timeout=30s",
    ])
    .await;
    let op = env.operator("no-cert-manager", &["--leader-election=false"]);
    env.eventually(Duration::from_secs(30), "/readyz 200", || async {
        let probe = crate::harness::Operator::probe(op.http, "/readyz").await;
        (probe.map(|(code, _)| code) == Some(200)).then_some(())
    })
    .await;
    env.apply_ok(&crate::tenant_yaml("cenac", "250gb", &[], ""))
        .await;
    let t = env
        .wait_tenant(
            "cenac",
            READY_TIMEOUT,
            "a refusal naming cert-manager",
            |t| {
                crate::condition(t, "Ready")
                    .is_some_and(|c| c.message.contains("install cert-manager"))
            },
        )
        .await;
    let ready = crate::condition(&t, "Ready").unwrap();
    assert_eq!(ready.status, "False");
    assert!(ready.message.contains("Certificate"), "{ready:?}");
    let cert_manager = crate::harness::root().join("third_party/cert-manager");
    env.kubectl_ok(&[
        "apply",
        "--server-side",
        "-f",
        cert_manager.to_str().unwrap(),
    ])
    .await;
    env.wait_tenant("cenac", Duration::from_secs(120), "Ready", crate::ready_now)
        .await;
}

/// The shared name servers' namespace missing (chart installed without `dns.enabled`, or a
/// catalogue naming another one): the tenant says which namespace and what to do, not
/// "not found"; once it exists, the tenant turns Ready by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_zones_namespace_is_named_in_status_with_the_remedy() {
    let env = Env::start().await;
    env.kubectl_ok(&[
        "delete",
        "namespace",
        crate::harness::ZONES_NAMESPACE,
        "--timeout=30s",
    ])
    .await;
    let _op = env.operator("no-zones", &["--leader-election=false"]);
    env.apply_ok(&tenant_yaml("cursan", "250gb", &[], "")).await;
    let t = env
        .wait_tenant(
            "cursan",
            READY_TIMEOUT,
            "a refusal naming the namespace",
            |t| crate::condition(t, "Ready").is_some_and(|c| c.message.contains("does not exist")),
        )
        .await;
    let ready = crate::condition(&t, "Ready").unwrap();
    assert_eq!(ready.status, "False");
    assert!(
        ready
            .message
            .contains("namespace mutualis-dns does not exist")
            && ready.message.contains("spec.dns.zonesNamespace"),
        "{ready:?}"
    );
    env.kubectl_ok(&["create", "namespace", crate::harness::ZONES_NAMESPACE])
        .await;
    env.wait_tenant("cursan", Duration::from_secs(120), "Ready", ready_now)
        .await;
}
