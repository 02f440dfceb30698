//! An edit of an applied field is undone within seconds on every kind whose status others
//! write (quota usage, load-balancer addresses, ingress addresses) and on the namespace, not at
//! the next periodic resync (ten minutes by default).

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;

use crate::harness::Env;
use crate::{READY_TIMEOUT, namespace_of, quota_storage, ready_now, tenant_yaml};

/// Far below the resync period: only a prompt reaction passes.
const PROMPT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_of_quota_services_ingresses_and_namespace_are_undone_promptly() {
    let env = Env::start().await;
    let op = env.operator("drift", &["--leader-election=false"]);
    env.apply_ok(&tenant_yaml("tresses", "250gb", &[], ""))
        .await;
    env.wait_tenant("tresses", READY_TIMEOUT, "Ready", ready_now)
        .await;
    let ns = namespace_of(&env, "tresses").await;
    let planned_storage = quota_storage(&env, &ns).await.expect("a storage quota");
    let writes_before = op.metric_sum("mutualis_api_writes_total").await.unwrap();

    // The tenant raises its own quota.
    env.kubectl_ok(&[
        "-n",
        &ns,
        "patch",
        "resourcequota",
        "tenant-quota",
        "--type=merge",
        "-p",
        r#"{"spec":{"hard":{"requests.storage":"100Ti"}}}"#,
    ])
    .await;
    env.eventually(PROMPT, "the quota to be restored", || async {
        (quota_storage(&env, &ns).await.as_deref() == Some(planned_storage.as_str())).then_some(())
    })
    .await;

    // The NAS' load balancer made a cluster-internal Service, a port sent elsewhere (not the
    // port number itself: it is a key of the list, so a new number is another entry, someone
    // else's, which server-side apply leaves alone as on a real cluster).
    let services: Api<Service> = Api::namespaced(env.client.clone(), &ns);
    env.kubectl_ok(&[
        "-n",
        &ns,
        "patch",
        "service",
        "nas",
        "--type=merge",
        "-p",
        r#"{"spec":{"type":"ClusterIP","externalTrafficPolicy":null,"allocateLoadBalancerNodePorts":null,"loadBalancerSourceRanges":null}}"#,
    ])
    .await;
    env.kubectl_ok(&[
        "-n",
        &ns,
        "patch",
        "service",
        "website",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/ports/0/targetPort","value":9999}]"#,
    ])
    .await;
    env.eventually(PROMPT, "the Services to be restored", || async {
        let nas = services.get("nas").await.ok()?.spec?;
        let web = services.get("website").await.ok()?.spec?;
        (nas.type_.as_deref() == Some("LoadBalancer") && web.ports?.first()?.port == 8080)
            .then_some(())
    })
    .await;

    // An Ingress sent elsewhere.
    let ingresses: Api<Ingress> = Api::namespaced(env.client.clone(), &ns);
    let host = ingresses
        .get("website")
        .await
        .unwrap()
        .spec
        .unwrap()
        .rules
        .unwrap()[0]
        .host
        .clone();
    env.kubectl_ok(&[
        "-n",
        &ns,
        "patch",
        "ingress",
        "website",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/rules/0/host","value":"ailleurs.example.com"}]"#,
    ])
    .await;
    env.eventually(PROMPT, "the Ingress to be restored", || async {
        let rules = ingresses.get("website").await.ok()?.spec?.rules?;
        (rules[0].host == host).then_some(())
    })
    .await;

    // The namespace's Pod Security level lowered.
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    let level = |n: Namespace| {
        n.metadata
            .labels
            .unwrap_or_default()
            .get("pod-security.kubernetes.io/enforce")
            .cloned()
    };
    let planned_level = level(namespaces.get(&ns).await.unwrap());
    env.kubectl_ok(&[
        "label",
        "namespace",
        &ns,
        "pod-security.kubernetes.io/enforce=privileged",
        "--overwrite",
    ])
    .await;
    env.eventually(PROMPT, "the namespace's level to be restored", || async {
        let n = namespaces.get(&ns).await.ok()?;
        (level(n) == planned_level).then_some(())
    })
    .await;

    // Each edit cost one re-apply or a few, not a loop: quiet again, and no write while idle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let writes = op.metric_sum("mutualis_api_writes_total").await.unwrap();
    assert!(
        writes - writes_before < 40.0,
        "{} writes to undo five edits",
        writes - writes_before
    );
    let rv = env.cluster.resource_version();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        env.cluster.resource_version(),
        rv,
        "the cluster changed while idle"
    );
    assert_eq!(
        op.metric_sum("mutualis_api_writes_total").await.unwrap(),
        writes,
        "writes while idle"
    );
}
