//! Data lost under the operator is not silently replaced: a deleted generated Secret or volume
//! claim turns Ready false (`CredentialsLost`, `VolumeLost`) with a Warning, stays absent, and
//! comes back (new and empty) only after the Tenant annotation acknowledges the loss, which
//! the operator then removes.

use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use kube::Api;
use kube::api::ListParams;

use crate::harness::{Env, condition};
use crate::{READY_TIMEOUT, namespace_of, ready_now, tenant_yaml};

fn ready_reason(t: &mutualis::api::Tenant, reason: &str) -> bool {
    condition(t, "Ready").is_some_and(|c| c.status == "False" && c.reason == reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_credentials_and_volumes_wait_for_an_acknowledgement() {
    let env = Env::start().await;
    let _op = env.operator("losses", &["--leader-election=false"]);
    env.apply_ok(&tenant_yaml("fargues", "250gb", &[], ""))
        .await;
    env.wait_tenant("fargues", READY_TIMEOUT, "Ready", ready_now)
        .await;
    let ns = namespace_of(&env, "fargues").await;
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &ns);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(env.client.clone(), &ns);
    let ours = ListParams::default().labels("app.kubernetes.io/managed-by=mutualis");
    // A generated one, not the certificate issuer's TLS Secret.
    let secret = secrets
        .list(&ours)
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|s| s.type_.as_deref() != Some("kubernetes.io/tls"))
        .unwrap();
    let secret_name = secret.metadata.name.clone().unwrap();
    let claim_name = claims.list(&ListParams::default()).await.unwrap().items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    // Both are on record once seen.
    let t = env
        .wait_tenant("fargues", READY_TIMEOUT, "data on record", |t| {
            let p = &t.status.as_ref().unwrap().provisioned;
            p.contains(&format!("Secret/{secret_name}"))
                && p.contains(&format!("PersistentVolumeClaim/{claim_name}"))
        })
        .await;
    assert!(ready_now(&t));

    env.kubectl_ok(&["-n", &ns, "delete", "secret", &secret_name])
        .await;
    let t = env
        .wait_tenant("fargues", Duration::from_secs(30), "CredentialsLost", |t| {
            ready_reason(t, "CredentialsLost")
        })
        .await;
    let message = &condition(&t, "Ready").unwrap().message;
    assert!(
        message.contains(&format!("Secret/{secret_name}"))
            && message.contains("mutualis.io/acknowledge-lost"),
        "{message}"
    );
    env.kubectl_ok(&["-n", &ns, "delete", "pvc", &claim_name])
        .await;
    env.wait_tenant("fargues", Duration::from_secs(30), "VolumeLost", |t| {
        ready_reason(t, "VolumeLost")
    })
    .await;
    // Nothing comes back by itself, and a person was told.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        secrets.get_opt(&secret_name).await.unwrap().is_none(),
        "Secret re-created"
    );
    assert!(
        claims.get_opt(&claim_name).await.unwrap().is_none(),
        "claim re-created"
    );
    let events = env
        .kubectl_ok(&["get", "events", "-n", "default", "-o", "json"])
        .await;
    assert!(
        events.contains("CredentialsLost")
            && events.contains("VolumeLost")
            && events.contains("Warning"),
        "{events}"
    );

    // The acknowledgement: both re-created (a new Secret), Ready again, the annotation gone.
    env.kubectl_ok(&[
        "annotate",
        "tenant",
        "fargues",
        "mutualis.io/acknowledge-lost=all",
    ])
    .await;
    let t = env
        .wait_tenant(
            "fargues",
            READY_TIMEOUT,
            "Ready after the acknowledgement",
            ready_now,
        )
        .await;
    let again = secrets.get(&secret_name).await.expect("the Secret is back");
    assert_ne!(again.metadata.uid, secret.metadata.uid);
    claims.get(&claim_name).await.expect("the claim is back");
    assert!(
        !t.metadata
            .annotations
            .unwrap_or_default()
            .contains_key("mutualis.io/acknowledge-lost"),
        "honoured once, then removed"
    );
    let events = env
        .kubectl_ok(&["get", "events", "-n", "default", "-o", "json"])
        .await;
    assert!(events.contains("LostAcknowledged"), "{events}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_namespace_does_not_come_back_with_new_credentials() {
    let env = Env::start().await;
    let _op = env.operator("namespace-lost", &["--leader-election=false"]);
    env.apply_ok(&tenant_yaml("pompignac", "250gb", &[], ""))
        .await;
    env.wait_tenant("pompignac", READY_TIMEOUT, "Ready", ready_now)
        .await;
    let ns = namespace_of(&env, "pompignac").await;
    // Every Secret on record, the DKIM key generated in the background included (the TLS
    // Secrets are the certificate issuer's, not the operator's).
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &ns);
    let ours = ListParams::default().labels("app.kubernetes.io/managed-by=mutualis");
    let names: Vec<String> = secrets
        .list(&ours)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|s| s.type_.as_deref() != Some("kubernetes.io/tls"))
        .filter_map(|s| s.metadata.name)
        .collect();
    assert!(!names.is_empty());
    env.wait_tenant("pompignac", READY_TIMEOUT, "every Secret on record", |t| {
        let p = &t.status.as_ref().unwrap().provisioned;
        names.iter().all(|n| p.contains(&format!("Secret/{n}")))
    })
    .await;
    env.kubectl_ok(&["delete", "namespace", &ns, "--timeout=60s"])
        .await;
    let t = env
        .wait_tenant("pompignac", Duration::from_secs(30), "VolumeLost", |t| {
            ready_reason(t, "VolumeLost")
        })
        .await;
    let message = &condition(&t, "Ready").unwrap().message;
    assert!(
        message.contains("Secret/") && message.contains("PersistentVolumeClaim/"),
        "{message}"
    );
    // The rest of the tenant is back (the namespace, its policies, its workloads); no
    // credentials and no empty volume.
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(env.client.clone(), &ns);
    env.eventually(
        Duration::from_secs(20),
        "the namespace re-created",
        || async {
            let namespaces: Api<k8s_openapi::api::core::v1::Namespace> =
                Api::all(env.client.clone());
            namespaces.get_opt(&ns).await.ok()?.map(|_| ())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The certificate issuer may issue the TLS Secret again: it holds nothing of the tenant's.
    let back: Vec<Option<String>> = secrets
        .list(&ours)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|s| s.type_.as_deref() != Some("kubernetes.io/tls"))
        .map(|s| s.metadata.name)
        .collect();
    assert!(back.is_empty(), "re-created: {back:?}");
    assert!(
        claims
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    env.kubectl_ok(&[
        "annotate",
        "tenant",
        "pompignac",
        "mutualis.io/acknowledge-lost=all",
    ])
    .await;
    env.wait_tenant(
        "pompignac",
        READY_TIMEOUT,
        "Ready after the acknowledgement",
        ready_now,
    )
    .await;
    assert!(!secrets.list(&ours).await.unwrap().items.is_empty());
}
