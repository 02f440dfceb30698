//! One tenant cannot hurt another or the operator: a panicking reconcile, a claimed domain, a
//! namespace that is not its own; and an edit does not lose data.

use std::time::Duration;

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
