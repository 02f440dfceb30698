//! Fault injection as a client meets it: an error before the write (nothing stored), after it
//! (stored, yet the client is told it failed), a delay, the reasons kube-rs classifies, and the
//! admin endpoint driven by kubectl.

mod common;

use common::start;
use devcluster::{Config, FaultPlan};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;
use std::time::{Duration, Instant};

/// A kube-rs client that does not retry 429 and 504 itself (its default does, up to 15 times
/// with a growing backoff), so each injected fault is seen as the client's first answer.
async fn client(env: &common::Env) -> Client {
    let mut config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::from_yaml(&env.cluster.kubeconfig_yaml()).unwrap(),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    config.default_retry = false;
    Client::try_from(config).unwrap()
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

fn api_error(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason),
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn before_stores_nothing_after_stores_and_fails() {
    let plan: FaultPlan = "verbs=create,resources=configmaps,error=500,when=before"
        .parse()
        .unwrap();
    let env = start(Config {
        faults: plan,
        ..Config::default()
    })
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(client(&env).await, "default");
    let (code, reason) = api_error(
        cms.create(&PostParams::default(), &cm("a"))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (500, "InternalError"));
    assert!(
        cms.get_opt("a").await.unwrap().is_none(),
        "refused before: not stored"
    );

    env.cluster.set_faults(
        "verbs=create,resources=configmaps,error=409,when=after"
            .parse()
            .unwrap(),
    );
    let (code, reason) = api_error(
        cms.create(&PostParams::default(), &cm("b"))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    let stored = cms
        .get("b")
        .await
        .expect("failed after: stored all the same");
    assert_eq!(stored.data.unwrap()["k"], "v");
    // Other verbs and resources pass.
    assert!(cms.get("b").await.is_ok());
    assert_eq!(env.cluster.faults_injected(), 2);

    env.cluster
        .set_faults("resources=configmaps,error=429".parse().unwrap());
    let (code, reason) = api_error(cms.get("b").await.unwrap_err());
    assert_eq!((code, reason.as_str()), (429, "TooManyRequests"));
    env.cluster
        .set_faults("verbs=get,error=timeout,delay=300ms".parse().unwrap());
    let started = Instant::now();
    let (code, reason) = api_error(cms.get("b").await.unwrap_err());
    assert_eq!((code, reason.as_str()), (504, "Timeout"));
    assert!(started.elapsed() >= Duration::from_millis(300));
    env.cluster.set_faults(FaultPlan::default());
    assert!(cms.get("b").await.is_ok());
}

#[tokio::test]
async fn a_delay_alone_slows_the_answer_and_lets_the_request_through() {
    let env = start(Config::default()).await;
    env.cluster
        .set_faults("verbs=create,fraction=1,delay=400ms".parse().unwrap());
    let cms: Api<ConfigMap> = Api::namespaced(client(&env).await, "default");
    let started = Instant::now();
    cms.create(&PostParams::default(), &cm("slow"))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn the_admin_endpoint_sets_shows_and_clears_the_faults() {
    let env = start(Config::default()).await;
    let rules = env.dir.path().join("rules");
    std::fs::write(
        &rules,
        "seed=3; verbs=create,resources=configmaps,fraction=1,error=500",
    )
    .unwrap();
    env.ok(&[
        "replace",
        "--raw",
        "/_devcluster/faults",
        "-f",
        rules.to_str().unwrap(),
    ])
    .await;
    let refused = env
        .kubectl(&["create", "configmap", "x", "--from-literal=k=v"], None)
        .await;
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("devcluster fault injection"),
        "{}",
        refused.stderr
    );
    let shown: serde_json::Value =
        serde_json::from_str(&env.ok(&["get", "--raw", "/_devcluster/faults"]).await).unwrap();
    assert_eq!(shown["injected"], 1);
    assert!(
        shown["rules"]
            .as_str()
            .unwrap()
            .contains("resources=configmaps")
    );
    // A rule that does not parse is refused with its item and what is allowed.
    std::fs::write(&rules, "verbs=create,error=418").unwrap();
    let bad = env
        .kubectl(
            &[
                "replace",
                "--raw",
                "/_devcluster/faults",
                "-f",
                rules.to_str().unwrap(),
            ],
            None,
        )
        .await;
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("409, 429, 500, timeout"),
        "{}",
        bad.stderr
    );
    env.ok(&["delete", "--raw", "/_devcluster/faults"]).await;
    env.ok(&["create", "configmap", "x", "--from-literal=k=v"])
        .await;
}
