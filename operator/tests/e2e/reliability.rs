//! One tenant cannot hurt another or the operator: a panicking reconcile, a claimed domain, a
//! namespace that is not its own; and an edit does not lose data.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Secret};
use kube::Api;
use kube::api::ListParams;

use crate::harness::{Env, condition};
use crate::{READY_TIMEOUT, ready_now, tenant_yaml};

/// `Valid` false with `reason`.
fn refused_with(t: &mutualis::api::Tenant, reason: &str) -> bool {
    condition(t, "Valid").is_some_and(|c| c.status == "False" && c.reason == reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_tenant_is_reported_and_the_others_go_on() {
    let env = Env::start().await;
    let op = env.operator_with_env(
        "panics",
        &["--leader-election=false"],
        &[("MUTUALIS_TEST_HOOKS", "1")],
    );
    let broken = tenant_yaml("broken", "250gb", &[], "").replace(
        "metadata:\n  name: broken\n",
        "metadata:\n  name: broken\n  annotations:\n    mutualis.io/test-panic: \"yes\"\n",
    );
    env.apply_ok(&broken).await;
    let t = env
        .wait_tenant("broken", READY_TIMEOUT, "ReconcileFailed", |t| {
            refused_with(t, "ReconcileFailed")
        })
        .await;
    let message = &condition(&t, "Valid").unwrap().message;
    assert!(message.contains("test hook"), "{message}");
    // The operator is still there and reconciles another tenant.
    env.apply_ok(&tenant_yaml("healthy", "250gb", &[], ""))
        .await;
    env.wait_tenant("healthy", READY_TIMEOUT, "Ready", ready_now)
        .await;
    assert!(
        op.metric_sum("mutualis_reconcile_panics_total")
            .await
            .unwrap()
            >= 1.0
    );
    let events = env
        .kubectl_ok(&["get", "events", "-n", "default", "-o", "json"])
        .await;
    assert!(
        events.contains("ReconcileFailed") && events.contains("Warning"),
        "{events}"
    );
    // Without the hooks the annotation means nothing.
    op.kill().await;
    let _op = env.operator("no-hooks", &["--leader-election=false"]);
    env.kubectl_ok(&["annotate", "tenant", "broken", "mutualis.io/poke=1"])
        .await;
    env.kubectl_ok(&[
        "patch",
        "tenant",
        "broken",
        "--type=merge",
        "-p",
        r#"{"spec":{"displayName":"Broken no more"}}"#,
    ])
    .await;
    env.wait_tenant("broken", Duration::from_secs(60), "Ready", ready_now)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_stays_with_the_tenant_that_claimed_it_first() {
    let env = Env::start().await;
    let _op = env.operator("claims", &["--leader-election=false"]);
    env.apply_ok(&tenant_yaml(
        "aine",
        "250gb",
        &[("Partagé", "partagé.example.fr")],
        "",
    ))
    .await;
    env.wait_tenant("aine", READY_TIMEOUT, "Ready", ready_now)
        .await;
    // The same domain in another spelling, as the younger tenant's member.
    env.apply_ok(&tenant_yaml(
        "cadet",
        "250gb",
        &[("Partagé", "XN--PARTAG-GVA.example.fr")],
        "",
    ))
    .await;
    let t = env
        .wait_tenant("cadet", READY_TIMEOUT, "DomainConflict", |t| {
            refused_with(t, "DomainConflict")
        })
        .await;
    let message = &condition(&t, "Valid").unwrap().message;
    assert!(
        message.contains("Tenant \"aine\"") && message.contains("spec.members[0].domain"),
        "{message}"
    );
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    assert!(
        namespaces
            .get_opt("mutualis-cadet")
            .await
            .unwrap()
            .is_none(),
        "nothing of the refused tenant is applied"
    );
    assert!(ready_now(&env.tenants().get("aine").await.unwrap()));
    // Once the first claimant is gone, the second proceeds.
    env.kubectl_ok(&["delete", "tenant", "aine", "--timeout=60s"])
        .await;
    env.wait_tenant("cadet", Duration::from_secs(90), "Ready", ready_now)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_cannot_take_over_a_namespace_it_does_not_own() {
    let env = Env::start().await;
    let _op = env.operator("namespaces", &["--leader-election=false"]);
    env.apply_ok(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: mutualis-system\n  labels:\n    app.kubernetes.io/name: mutualis\n",
    )
    .await;
    env.apply_ok(&tenant_yaml(
        "system",
        "250gb",
        &[],
        "  deletionPolicy: Delete\n",
    ))
    .await;
    let t = env
        .wait_tenant("system", READY_TIMEOUT, "NamespaceConflict", |t| {
            refused_with(t, "NamespaceConflict")
        })
        .await;
    let message = &condition(&t, "Valid").unwrap().message;
    assert!(message.contains("\"mutualis-system\""), "{message}");
    let untouched = |ns: Namespace| {
        let labels = ns.metadata.labels.unwrap_or_default();
        assert_eq!(
            labels.len(),
            2,
            "labels of mutualis-system changed: {labels:?}"
        );
        assert_eq!(labels["app.kubernetes.io/name"], "mutualis");
    };
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    untouched(namespaces.get("mutualis-system").await.unwrap());
    let config_maps: Api<ConfigMap> = Api::namespaced(env.client.clone(), "mutualis-system");
    assert!(
        config_maps
            .list(&ListParams::default().labels("app.kubernetes.io/managed-by=mutualis"))
            .await
            .unwrap()
            .items
            .is_empty(),
        "nothing was written into the namespace"
    );
    // Deleting the tenant under `Delete` leaves the namespace alone.
    env.kubectl_ok(&["delete", "tenant", "system", "--timeout=60s"])
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ns = namespaces.get("mutualis-system").await.unwrap();
    assert!(
        ns.metadata.deletion_timestamp.is_none(),
        "namespace deleted"
    );
    untouched(ns);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_a_service_off_keeps_its_data_even_under_delete() {
    let env = Env::start().await;
    let _op = env.operator("data", &["--leader-election=false"]);
    let policy = "  deletionPolicy: Delete\n";
    env.apply_ok(&tenant_yaml("pompignac", "250gb", &[], policy))
        .await;
    env.wait_tenant("pompignac", READY_TIMEOUT, "Ready", ready_now)
        .await;
    let namespace = "mutualis-pompignac";
    let mail = ListParams::default().labels("mutualis.io/service=mail");
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(env.client.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), namespace);
    let names = |items: Vec<kube::core::ObjectMeta>| -> Vec<String> {
        let mut v: Vec<String> = items.into_iter().filter_map(|m| m.name).collect();
        v.sort();
        v
    };
    let pvcs_before = names(
        pvcs.list(&mail)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|p| p.metadata)
            .collect(),
    );
    let secrets_before = names(
        secrets
            .list(&mail)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|s| s.metadata)
            .collect(),
    );
    assert!(!pvcs_before.is_empty() && !secrets_before.is_empty());

    let off = format!("{policy}  services:\n    mail: false\n");
    env.apply_ok(&tenant_yaml("pompignac", "250gb", &[], &off))
        .await;
    env.wait_tenant("pompignac", READY_TIMEOUT, "mail disabled", |t| {
        ready_now(t) && condition(t, "MailReady").is_some_and(|c| c.reason == "Disabled")
    })
    .await;
    let deployments: Api<Deployment> = Api::namespaced(env.client.clone(), namespace);
    env.eventually(
        Duration::from_secs(20),
        "the mail workload gone",
        || async {
            deployments
                .list(&mail)
                .await
                .ok()?
                .items
                .is_empty()
                .then_some(())
        },
    )
    .await;
    let pvcs_after = names(
        pvcs.list(&mail)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|p| p.metadata)
            .collect(),
    );
    let secrets_after = names(
        secrets
            .list(&mail)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|s| s.metadata)
            .collect(),
    );
    assert_eq!(
        pvcs_after, pvcs_before,
        "mail volumes deleted by a switch-off"
    );
    assert_eq!(
        secrets_after, secrets_before,
        "mail credentials deleted by a switch-off"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dkim_key_whose_write_fails_is_stored_by_a_later_attempt() {
    let env = Env::start().await;
    // Every Secret the operator creates fails for a while: the DKIM key is generated in the
    // meantime, and its first writes (by the key storer, then by reconciles) fail.
    env.cluster.set_faults(
        "agents=mutualis/,verbs=create,resources=secrets,fraction=1,error=500"
            .parse()
            .unwrap(),
    );
    let _op = env.operator("dkim-write-fails", &["--leader-election=false"]);
    env.apply_ok(&tenant_yaml("camarsac", "250gb", &[], ""))
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(env.cluster.faults_injected() > 0, "the writes failed");
    env.cluster.set_faults(Default::default());
    // The key taken for a failed write was given back: it is stored, not waited for forever.
    env.wait_tenant("camarsac", READY_TIMEOUT, "Ready", ready_now)
        .await;
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), "mutualis-camarsac");
    let dkim = secrets.get("mail-dkim").await.unwrap();
    assert!(
        dkim.data
            .unwrap()
            .contains_key(mutualis::plan::secrets::DKIM_PRIVATE_KEY),
        "the key is in its Secret"
    );
}
