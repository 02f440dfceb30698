//! Two replicas of the operator: only the holder of the Lease writes; when it dies, the other
//! takes over.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;

use crate::harness::Env;
use crate::{READY_TIMEOUT, ready_now, tenant_yaml};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_both_write_and_the_standby_takes_over() {
    let env = Env::start().await;
    // The chart's namespace: its Role grants leases there only.
    let lease_ns = mutualis_tests::chart::NAMESPACE;
    // Idempotent: the harness already made it for the backup credentials.
    env.apply_ok(&format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {lease_ns}\n"
    ))
    .await;
    let election = ["--lease-namespace", lease_ns, "--lease-duration", "3"];
    let alpha = env.operator("alpha", &election);
    let beta = env.operator("beta", &election);
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), lease_ns);
    let holder = env
        .eventually(Duration::from_secs(20), "a leader", || async {
            leases
                .get_opt("mutualis-leader")
                .await
                .ok()??
                .spec?
                .holder_identity
        })
        .await;
    let (leader, standby) = if holder == "alpha" {
        (alpha, beta)
    } else {
        (beta, alpha)
    };

    env.apply_ok(&tenant_yaml("camarsac", "250gb", &[], ""))
        .await;
    env.wait_tenant("camarsac", READY_TIMEOUT, "Ready", ready_now)
        .await;
    let leader_writes = leader
        .metric_sum("mutualis_api_writes_total")
        .await
        .unwrap();
    assert!(leader_writes > 0.0, "the leader wrote nothing");
    assert_eq!(
        standby
            .metric_sum("mutualis_api_writes_total")
            .await
            .unwrap_or(0.0),
        0.0,
        "the standby wrote"
    );
    // A standby is alive and ready (it serves by waiting).
    assert_eq!(standby.http_get("/readyz").await.map(|r| r.0), Some(200));

    // The leader crashes; the standby takes the lease and reconciles a change.
    let old = holder.clone();
    leader.kill().await;
    let new_holder = env
        .eventually(Duration::from_secs(20), "a new leader", || async {
            let h = leases
                .get_opt("mutualis-leader")
                .await
                .ok()??
                .spec?
                .holder_identity?;
            (h != old).then_some(h)
        })
        .await;
    assert_ne!(new_holder, old);
    env.apply_ok(&tenant_yaml("camarsac", "500gb", &[], ""))
        .await;
    env.wait_tenant("camarsac", READY_TIMEOUT, "Ready at 500gb", |t| {
        ready_now(t) && t.status.as_ref().and_then(|s| s.tier.as_deref()) == Some("500gb")
    })
    .await;
    assert!(
        standby
            .metric_sum("mutualis_api_writes_total")
            .await
            .unwrap()
            > 0.0
    );

    // A graceful stop gives the lease back at once.
    let status = standby.terminate().await;
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    let lease = leases.get("mutualis-leader").await.unwrap();
    assert_eq!(lease.spec.and_then(|s| s.holder_identity), None);
    crate::harness::assert_rbac_covers(&env);
}
