//! A workload whose pods reference a missing Secret key never becomes ready, as a kubelet would
//! leave its pods in CreateContainerConfigError; once the key exists it becomes ready.

mod common;

use std::time::Duration;

use common::{eventually, start};
use devcluster::Config;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: nas}
spec:
  selector: {matchLabels: {app: nas}}
  template:
    metadata: {labels: {app: nas}}
    spec:
      containers:
      - name: samba
        image: samba:1
        env:
        - name: SHARE_PASSWORD_1
          valueFrom: {secretKeyRef: {name: nas-users, key: tresses}}
        - name: OPTIONAL
          valueFrom: {secretKeyRef: {name: absent, key: x, optional: true}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_key_keeps_a_workload_unready_until_it_exists() {
    let env = start(Config {
        ready_delay: Duration::ZERO,
        ..Config::default()
    })
    .await;
    env.ok(&[
        "create",
        "secret",
        "generic",
        "nas-users",
        "--from-literal=coteaux=a",
    ])
    .await;
    env.apply(DEPLOYMENT).await;
    let available = async || {
        env.ok(&[
            "get",
            "deployment",
            "nas",
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Available')].status} {.status.conditions[?(@.type=='Available')].message}",
        ])
        .await
    };
    // Given time, it stays unavailable and says why in the kubelet's words.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = available().await;
    assert!(
        status.starts_with("False")
            && status.contains("couldn't find key tresses in Secret default/nas-users"),
        "{status}"
    );
    // The key the new member needs arrives: the workload starts.
    env.ok(&[
        "patch",
        "secret",
        "nas-users",
        "--type=merge",
        "-p",
        r#"{"stringData":{"tresses":"b"}}"#,
    ])
    .await;
    assert!(
        eventually(Duration::from_secs(10), async || available()
            .await
            .starts_with("True"))
        .await,
        "{}",
        available().await
    );
}
