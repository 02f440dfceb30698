//! Twenty tenants converge while the development cluster fails a tenth of the operator's
//! requests (409, 429, 500, before and after the write; watches too; a few timeouts): every object the plan holds exists and
//! nothing else, and no generated Secret is ever replaced or has a value changed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::runtime::watcher;
use mutualis::api::{ServiceCatalog, Tenant};

use crate::harness::{Env, root};
use crate::{ready_now, tenant_yaml};

const TENANTS: usize = 20;
/// The failure condition only: convergence is measured and printed, not asserted in seconds.
const CONVERGENCE_TIMEOUT: Duration = Duration::from_secs(300);
/// A tenth of every request of the operator (reads, writes, status), not the test's own.
/// Watches too (a failed watch is re-listed), and a few writes that time out after the fact.
const FAULTS: &str = "seed=10; agents=mutualis/,verbs=create|update|patch,fraction=0.01,error=timeout,when=after,delay=1s; agents=mutualis/,fraction=0.1,error=409|429|500,when=before|after";

/// What a Secret held when first seen; a change of uid or of a value is a regeneration.
type SecretsSeen = Arc<Mutex<BTreeMap<(String, String), (String, BTreeMap<String, Vec<u8>>)>>>;

/// Watches every managed Secret and records any replacement or changed value.
fn watch_secrets(env: &Env) -> (SecretsSeen, Arc<Mutex<Vec<String>>>) {
    let seen: SecretsSeen = Arc::default();
    let broken: Arc<Mutex<Vec<String>>> = Arc::default();
    let api: Api<Secret> = Api::all(env.client.clone());
    let config = watcher::Config::default().labels("app.kubernetes.io/managed-by=mutualis");
    let (s, b) = (seen.clone(), broken.clone());
    tokio::spawn(async move {
        let mut stream = watcher(api, config).boxed();
        while let Some(event) = stream.next().await {
            let Ok(watcher::Event::Apply(secret) | watcher::Event::InitApply(secret)) = event
            else {
                continue;
            };
            let key = (
                secret.metadata.namespace.clone().unwrap_or_default(),
                secret.metadata.name.clone().unwrap_or_default(),
            );
            let uid = secret.metadata.uid.clone().unwrap_or_default();
            let data: BTreeMap<String, Vec<u8>> = secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            let mut seen = s.lock().unwrap();
            match seen.get_mut(&key) {
                None => {
                    seen.insert(key, (uid, data));
                }
                Some((first_uid, values)) => {
                    if *first_uid != uid {
                        b.lock().unwrap().push(format!("{key:?} was re-created"));
                    }
                    for (k, v) in data {
                        match values.get(&k) {
                            Some(old) if *old != v => {
                                b.lock().unwrap().push(format!("{key:?} key {k} changed"))
                            }
                            Some(_) => {}
                            None => {
                                values.insert(k, v);
                            }
                        }
                    }
                }
            }
        }
    });
    (seen, broken)
}

/// `Kind namespace/name` of every object the plans of `names` hold, Secrets included.
fn planned(names: &[String]) -> BTreeSet<String> {
    let catalog: ServiceCatalog = serde_saphyr::from_str(
        &std::fs::read_to_string(root().join("examples/catalog.yaml")).unwrap(),
    )
    .unwrap();
    let mut out = BTreeSet::new();
    for name in names {
        let tenant: Tenant = serde_saphyr::from_str(&tenant_yaml(name, "250gb", &[], "")).unwrap();
        let plan = mutualis::plan::plan(&tenant, &catalog, &Default::default()).unwrap();
        for o in &plan.objects {
            out.insert(format!(
                "{} {}/{}",
                o.kind(),
                o.namespace().unwrap_or(""),
                o.name()
            ));
        }
        for s in &plan.secrets {
            out.insert(format!("Secret {}/{}", s.namespace, s.name));
        }
        // The mail certificate's Secret, which cert-manager issues with the tenant's labels.
        if let Some(secret) = plan.mail_certificate_secret() {
            out.insert(format!("Secret {}/{secret}", plan.namespace));
        }
    }
    out
}

/// `Kind namespace/name` of every object in the cluster labelled as one of `names`' children.
async fn present(env: &Env, names: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for k in mutualis::plan::kinds::CHILD_KINDS {
        let gvk = GroupVersionKind::gvk(k.group, k.version, k.kind);
        let ar = ApiResource::from_gvk_with_plural(&gvk, k.plural);
        let api: Api<DynamicObject> = Api::all_with(env.client.clone(), &ar);
        for name in names {
            let lp = ListParams::default().labels(&format!("mutualis.io/tenant={name}"));
            for o in api.list(&lp).await.unwrap().items {
                out.insert(format!(
                    "{} {}/{}",
                    k.kind,
                    o.metadata.namespace.as_deref().unwrap_or(""),
                    o.metadata.name.unwrap_or_default()
                ));
            }
        }
    }
    out
}

/// Applies `names`, then waits until every one is Ready for its generation; the time taken.
async fn converge(env: &Env, names: &[String]) -> Duration {
    let started = Instant::now();
    for name in names {
        env.apply_ok(&tenant_yaml(name, "250gb", &[], "")).await;
    }
    let deadline = started + CONVERGENCE_TIMEOUT;
    loop {
        let tenants = env.tenants().list(&ListParams::default()).await.unwrap();
        let waiting: Vec<&str> = names
            .iter()
            .filter(|n| {
                !tenants
                    .items
                    .iter()
                    .any(|t| t.metadata.name.as_deref() == Some(n.as_str()) && ready_now(t))
            })
            .map(String::as_str)
            .collect();
        if waiting.is_empty() {
            return started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "not Ready after {CONVERGENCE_TIMEOUT:?}: {waiting:?}\n{}",
            env.operator_logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_tenants_converge_at_ten_percent_injected_faults() {
    let env = Env::start().await;
    let (seen, broken) = watch_secrets(&env);
    let _op = env.operator("faults", &["--leader-election=false"]);
    let calm: Vec<String> = (0..TENANTS).map(|i| format!("calme-{i:02}")).collect();
    let storm: Vec<String> = (0..TENANTS).map(|i| format!("orage-{i:02}")).collect();

    // The same work without faults first: the figure to compare with.
    let fault_free = converge(&env, &calm).await;

    env.cluster.set_faults(FAULTS.parse().unwrap());
    let with_faults = converge(&env, &storm).await;
    let injected = env.cluster.faults_injected();
    eprintln!(
        "{TENANTS} tenants converged in {:.1} s without faults, {:.1} s with {injected} injected ({FAULTS})",
        fault_free.as_secs_f64(),
        with_faults.as_secs_f64()
    );
    assert!(injected > 0, "the faults were injected");

    // What exists is what the plans hold, no more, no less, for both groups.
    let all: Vec<String> = calm.iter().chain(&storm).cloned().collect();
    let (want, have) = (planned(&all), present(&env, &all).await);
    let missing: Vec<&String> = want.difference(&have).collect();
    let extra: Vec<&String> = have.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing: {missing:?}\nextra: {extra:?}"
    );

    // Give the watch a moment past the last write, then: no Secret replaced or changed.
    env.cluster.set_faults(Default::default());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let secrets = want.iter().filter(|k| k.starts_with("Secret ")).count();
    assert_eq!(seen.lock().unwrap().len(), secrets, "every Secret was seen");
    let broken = broken.lock().unwrap().clone();
    assert!(broken.is_empty(), "Secrets regenerated: {broken:?}");
}
