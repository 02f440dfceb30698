//! End to end: the real `mutualis` binary reconciling against the development cluster, driven and
//! read with the real `kubectl`, as the syndicate's operations team would (issue: the operator).

mod backups;
mod day2;
mod drift;
mod faults;
mod harness;
mod lifecycle;
mod losses;
mod outages;
mod publishing;
mod reliability;
mod replicas;

use std::collections::BTreeMap;
use std::time::Duration;

use harness::{Env, condition, is_true};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, ResourceQuota};
use kube::Api;
use kube::api::ListParams;
use mutualis::api::Tenant;

pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A small tenant of the founding catalogue.
pub fn tenant_yaml(name: &str, tier: &str, members: &[(&str, &str)], extra_spec: &str) -> String {
    let mut yaml = format!(
        "apiVersion: mutualis.io/v1alpha1\nkind: Tenant\nmetadata:\n  name: {name}\nspec:\n  catalogRef: {catalog}\n  tier: {tier}\n  displayName: Commune de {name}\n  domain: {name}.example.fr\n",
        catalog = CATALOG,
    );
    if !members.is_empty() {
        yaml.push_str("  members:\n");
        for (display, domain) in members {
            yaml.push_str(&format!(
                "    - displayName: {display}\n      domain: {domain}\n"
            ));
        }
    }
    yaml.push_str(extra_spec);
    yaml
}

/// Name of the founding catalogue in `examples/catalog.yaml`.
pub const CATALOG: &str = "gironde-numerique";

/// Ready, and describing the tenant's current generation.
pub fn ready_now(t: &Tenant) -> bool {
    is_true(t, "Ready")
        && t.status.as_ref().and_then(|s| s.observed_generation) == t.metadata.generation
}

/// PVC name → requested size in the tenant's namespace.
pub async fn volumes(env: &Env, namespace: &str) -> BTreeMap<String, String> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(env.client.clone(), namespace);
    api.list(&ListParams::default())
        .await
        .expect("list PVCs")
        .items
        .into_iter()
        .map(|p| {
            let size = p
                .spec
                .and_then(|s| s.resources)
                .and_then(|r| r.requests)
                .and_then(|r| r.get("storage").cloned())
                .map(|q| q.0)
                .unwrap_or_default();
            (p.metadata.name.unwrap_or_default(), size)
        })
        .collect()
}

pub async fn quota_storage(env: &Env, namespace: &str) -> Option<String> {
    let api: Api<ResourceQuota> = Api::namespaced(env.client.clone(), namespace);
    let quotas = api.list(&ListParams::default()).await.ok()?;
    quotas.items.iter().find_map(|q| {
        q.spec
            .as_ref()?
            .hard
            .as_ref()?
            .get("requests.storage")
            .map(|q| q.0.clone())
    })
}

pub async fn namespace_of(env: &Env, tenant: &str) -> String {
    env.wait_tenant(tenant, READY_TIMEOUT, "a namespace in status", |t| {
        t.status
            .as_ref()
            .and_then(|s| s.namespace.as_ref())
            .is_some()
    })
    .await
    .status
    .and_then(|s| s.namespace)
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coteaux_bordelais_becomes_ready_and_kubectl_shows_it() {
    let env = Env::start().await;
    let op = env.operator("solo", &["--leader-election=false"]);
    let example = harness::root().join("examples/coteaux-bordelais.yaml");
    env.kubectl_ok(&["apply", "--server-side", "-f", example.to_str().unwrap()])
        .await;
    let name = "coteaux-bordelais";
    env.kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "--timeout=60s",
        &format!("tenant/{name}"),
    ])
    .await;

    let table = env.kubectl_ok(&["get", "tenants"]).await;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "TIER",
            "MEMBERS",
            "CONTRIBUTION",
            "READY",
            "BACKUP",
            "AGE"
        ],
        "{table}"
    );
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no row for {name}: {table}"))
        .split_whitespace()
        .collect();
    assert_eq!(&row[..5], [name, "1tb", "8", "17938", "True"], "{table}");

    let t = env.tenants().get(name).await.unwrap();
    let status = t.status.clone().unwrap();
    assert_eq!(status.annual_contribution, Some(17938));
    assert_eq!(status.member_count, Some(8));
    for service in [
        "MailReady",
        "WebsiteReady",
        "DnsReady",
        "CollaborationReady",
        "NasReady",
    ] {
        let c = condition(&t, service).unwrap_or_else(|| panic!("no {service} condition"));
        assert_eq!(c.status, "True", "{service}: {c:?}");
        assert_eq!(c.observed_generation, t.metadata.generation);
    }
    let namespace = status.namespace.clone().unwrap();
    assert_eq!(
        quota_storage(&env, &namespace).await.as_deref(),
        Some("1Ti")
    );
    let vols = volumes(&env, &namespace).await;
    assert!(!vols.is_empty());
    let total: u64 = vols
        .values()
        .map(|q| mutualis::plan::quantity::parse_bytes(q).unwrap())
        .sum();
    assert!(
        total <= 1 << 40,
        "volumes {vols:?} add up to more than the 1 TB tier"
    );
    assert!(
        status
            .endpoints
            .as_ref()
            .is_some_and(|e| !e.websites.is_empty()),
        "endpoints: {:?}",
        status.endpoints
    );
    // The NAS and SFTP are reached from the town halls' networks: status gives their load
    // balancers' addresses (the development cluster's pool is 198.51.100.0/24).
    let endpoints = status.endpoints.clone().unwrap_or_default();
    for (what, address) in [("nas", &endpoints.nas), ("sftp", &endpoints.sftp)] {
        assert!(
            address
                .as_deref()
                .is_some_and(|a| a.contains("://198.51.100.")),
            "{what}: {endpoints:?}"
        );
    }

    // The mail server signs with an RSA-2048 key generated in the background: the Secret holds
    // it as PKCS#8 PEM with its key list, and every zone publishes its public half.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(env.client.clone(), &namespace);
    let dkim = secrets.get("mail-dkim").await.unwrap();
    let data = dkim.data.clone().unwrap();
    let pem = String::from_utf8(data["rsa.private"].0.clone()).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem:.40}");
    let public = String::from_utf8(data["rsa.public"].0.clone()).unwrap();
    assert!(
        public.len() > 300,
        "an RSA-2048 SubjectPublicKeyInfo: {public}"
    );
    assert_eq!(
        dkim.metadata.annotations.as_ref().unwrap()["mutualis.io/generated-keys"],
        "rsa.private,rsa.public"
    );
    // The zones are published for the shared name servers, owned by the Tenant.
    let zones: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(env.client.clone(), harness::ZONES_NAMESPACE);
    let zones = zones.get("zones-coteaux-bordelais").await.unwrap();
    let owner = &zones.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Tenant", "coteaux-bordelais")
    );
    assert_eq!(
        zones.metadata.labels.as_ref().unwrap()["mutualis.io/zone"],
        "true"
    );
    let status = env
        .kubectl_ok(&[
            "get",
            "tenant",
            "coteaux-bordelais",
            "-o",
            "jsonpath={.status.zones}",
        ])
        .await;
    let published: Vec<serde_json::Value> = serde_json::from_str(&status).unwrap();
    assert_eq!(
        published.len(),
        9,
        "the tenant's and its 8 communes' zones: {status}"
    );
    let sallebœuf = published
        .iter()
        .find(|z| z["unicode"] == "sallebœuf.fr")
        .unwrap();
    assert_eq!(sallebœuf["name"], "xn--sallebuf-ptb.fr", "A-label form");
    assert!(published.iter().all(|z| z["serial"].as_u64().unwrap() >= 1));
    let zones = zones.data.unwrap();
    let apex = zones["db.coteaux-bordelais.fr"].replace("\" \"", "");
    assert!(
        apex.contains("v=DKIM1; k=rsa; p=") && apex.contains(&public[..200]),
        "{apex}"
    );
    let mail: Api<Deployment> = Api::namespaced(env.client.clone(), &namespace);
    let mail = mail.get("mail").await.unwrap();
    assert_eq!(
        mail.spec.unwrap().replicas,
        Some(1),
        "the mail server started"
    );

    // Idle: nothing is written while nothing changes (no hot loop, no status rewrite).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rv = env.cluster.resource_version();
    let writes = op.metric_sum("mutualis_api_writes_total").await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        env.cluster.resource_version(),
        rv,
        "the cluster changed while idle"
    );
    assert_eq!(
        op.metric_sum("mutualis_api_writes_total").await.unwrap(),
        writes
    );

    // Drift on an owned field is corrected: scale a workload by hand.
    let deployments: Api<Deployment> = Api::namespaced(env.client.clone(), &namespace);
    // A rolling workload: the quota leaves room for one more of its pods (a rollout's surge).
    let first = deployments
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|d| {
            d.spec
                .as_ref()
                .and_then(|s| s.strategy.as_ref())
                .and_then(|s| s.type_.as_deref())
                != Some("Recreate")
        })
        .expect("a rolling Deployment");
    let deployment = first.metadata.name.clone().unwrap();
    let planned = first.spec.as_ref().and_then(|s| s.replicas);
    env.kubectl_ok(&[
        "-n",
        &namespace,
        "scale",
        "deployment",
        &deployment,
        // Within the quota, which refuses more replicas than the plan allows room for.
        "--replicas=2",
    ])
    .await;
    env.eventually(
        Duration::from_secs(20),
        "the drift to be corrected",
        || async {
            let d = deployments.get(&deployment).await.ok()?;
            (d.spec.as_ref()?.replicas == planned).then_some(())
        },
    )
    .await;

    // Describe shows the events of the provisioning.
    let describe = env.kubectl_ok(&["describe", "tenant", name]).await;
    assert!(describe.contains("Provisioned"), "{describe}");

    // The health endpoints answer.
    assert_eq!(op.http_get("/healthz").await.map(|r| r.0), Some(200));
    assert_eq!(op.http_get("/readyz").await.map(|r| r.0), Some(200));
    // The drift made the tenant briefly not ready; the gauge follows once it is Ready again.
    env.wait_tenant(name, READY_TIMEOUT, "Ready after the drift", ready_now)
        .await;
    let ready_gauge = r#"mutualis_tenants{condition="Ready",status="True"} 1"#;
    let metrics = env
        .eventually(Duration::from_secs(10), "the Ready gauge", || async {
            let (_, m) = op.http_get("/metrics").await?;
            m.contains(ready_gauge).then_some(m)
        })
        .await;
    assert!(metrics.contains("mutualis_reconciles_total"), "{metrics}");
    harness::assert_rbac_covers(&env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_workload_turns_its_service_and_ready_false_then_back() {
    let env = Env::start().await;
    let _op = env.operator("solo", &["--leader-election=false"]);
    env.apply_ok(&tenant_yaml("camarsac", "250gb", &[], ""))
        .await;
    env.wait_tenant("camarsac", READY_TIMEOUT, "Ready", ready_now)
        .await;
    let namespace = namespace_of(&env, "camarsac").await;
    let deployments: Api<Deployment> = Api::namespaced(env.client.clone(), &namespace);
    let mail = deployments
        .list(&ListParams::default().labels("mutualis.io/service=mail"))
        .await
        .unwrap()
        .items;
    let mail = mail
        .first()
        .expect("a mail Deployment")
        .metadata
        .name
        .clone()
        .unwrap();

    let fail = format!("{}=true", devcluster::FAIL_ANNOTATION);
    env.kubectl_ok(&["-n", &namespace, "annotate", "deployment", &mail, &fail])
        .await;
    let t = env
        .wait_tenant("camarsac", READY_TIMEOUT, "MailReady false", |t| {
            condition(t, "MailReady").is_some_and(|c| c.status == "False")
        })
        .await;
    let mail_cond = condition(&t, "MailReady").unwrap();
    assert_eq!(mail_cond.reason, "NotAvailable", "{mail_cond:?}");
    assert!(mail_cond.message.contains(&mail), "{mail_cond:?}");
    let ready = condition(&t, "Ready").unwrap();
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason, "ServicesNotReady");
    assert!(ready.message.contains("MailReady"), "{ready:?}");
    assert!(is_true(&t, "WebsiteReady"), "other services stay ready");

    let unfail = format!("{}-", devcluster::FAIL_ANNOTATION);
    env.kubectl_ok(&["-n", &namespace, "annotate", "deployment", &mail, &unfail])
        .await;
    env.wait_tenant("camarsac", READY_TIMEOUT, "Ready again", ready_now)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quick_start_ends_with_every_example_ready() {
    let readme = std::fs::read_to_string(harness::root().join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.starts_with("cargo run --release -- dev"))
        .expect("the README's main command is `mutualis dev`");
    let args: Vec<&str> = line
        .trim_start_matches("cargo run --release -- ")
        .split_whitespace()
        .collect();
    assert!(args.contains(&"--exit-when-ready"), "{line}");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    // A free port, so that the test does not depend on 6443 being free.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mutualis"))
        .args(&args)
        .args(["--port", "0", "--kubeconfig"])
        .arg(&kubeconfig)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{line} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, contribution) in [
        ("coteaux-bordelais", "17938"),
        ("saint-emilion", "5638"),
        ("minimal", "7688"),
    ] {
        let row: Vec<&str> = stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{stdout}"))
            .split_whitespace()
            .collect();
        assert_eq!(row[3], contribution, "{stdout}");
        assert_eq!(row[4], "True", "{stdout}");
    }
    assert!(stdout.contains("kubectl get tenants"), "{stdout}");
    // Progress on stderr, phase by phase, as it happens.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let phases: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("mutualis dev: "))
        .collect();
    let position = |wanted: &str| {
        phases
            .iter()
            .position(|p| p.starts_with(wanted))
            .unwrap_or_else(|| panic!("no phase {wanted:?} in:\n{stderr}"))
    };
    let order = [
        position("development cluster up at http://127.0.0.1:"),
        position("CRDs installed (servicecatalogs.mutualis.io, tenants.mutualis.io)"),
        position("catalogue gironde-numerique applied"),
        position("stand-ins for the cluster's prerequisites: CRD certificates.cert-manager.io"),
        position("3 tenant(s) applied: coteaux-bordelais, saint-emilion, minimal"),
        position("operator started; reconciling"),
    ];
    assert!(
        phases[order[3]].contains("placeholder backup credentials mutualis-system/backup-s3"),
        "{stderr}"
    );
    assert!(
        order.is_sorted(),
        "phases out of order: {order:?}\n{stderr}"
    );
    for name in ["coteaux-bordelais", "saint-emilion", "minimal"] {
        let ready = position(&format!("{name}: Ready"));
        assert!(ready > order[5], "{stderr}");
        // Counts of ready services, if the tenant was seen on its way, come before Ready.
        for (i, phase) in phases.iter().enumerate() {
            if let Some(count) = phase
                .strip_prefix(&format!("{name}: "))
                .and_then(|p| p.strip_suffix(" services ready"))
            {
                let (n, of) = count.split_once('/').expect("k/n");
                assert!(
                    n.parse::<u32>().unwrap() < of.parse::<u32>().unwrap(),
                    "{phase}"
                );
                assert_eq!(of, "5", "every service is on in the examples: {phase}");
                assert!(i < ready, "{stderr}");
            }
        }
    }
    assert!(
        kubeconfig.is_file(),
        "the kubeconfig for kubectl was written"
    );
}

/// The mail server's certificate is a cert-manager `Certificate` for the catalogue's DNS-01
/// issuer. While it is not issued (here: the ClusterIssuer the catalogue names does not exist,
/// a typo or cert-manager not set up) the status says so — `MailReady=False`, reason
/// `CertificatePending`, naming the Secret and the issuer — and the other services are ready;
/// once the issuer exists, cert-manager (simulated) issues it and the tenant turns Ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_certificate_not_issued_shows_as_certificate_pending_then_ready() {
    let env = Env::start().await;
    env.kubectl_ok(&["delete", "clusterissuer", "letsencrypt-dns01"])
        .await;
    let _op = env.operator("solo", &["--leader-election=false"]);
    env.apply_ok(&tenant_yaml("cadaujac", "250gb", &[], ""))
        .await;
    let t = env
        .wait_tenant(
            "cadaujac",
            READY_TIMEOUT,
            "MailReady CertificatePending",
            |t| {
                condition(t, "MailReady").is_some_and(|c| c.reason == "CertificatePending")
                    && is_true(t, "WebsiteReady")
            },
        )
        .await;
    let mail = condition(&t, "MailReady").unwrap();
    assert_eq!(mail.status, "False");
    assert!(
        mail.message.contains("mail-tls") && mail.message.contains("letsencrypt-dns01"),
        "{mail:?}"
    );
    let ready = condition(&t, "Ready").unwrap();
    assert_eq!(ready.status, "False");
    assert!(ready.message.contains("MailReady"), "{ready:?}");
    let namespace = namespace_of(&env, "cadaujac").await;
    // The Certificate itself says why, as cert-manager would.
    let cert = env
        .kubectl_ok(&[
            "-n",
            &namespace,
            "get",
            "certificate",
            "mail-tls",
            "-o",
            "jsonpath={.spec.issuerRef.name} {.status.conditions[?(@.type=='Ready')].status}",
        ])
        .await;
    assert_eq!(cert, "letsencrypt-dns01 False");

    env.apply_ok(harness::CLUSTER_ISSUERS).await;
    env.wait_tenant("cadaujac", READY_TIMEOUT, "Ready", ready_now)
        .await;
    // The issued Secret carries the tenant's labels (the Certificate's secretTemplate).
    let labels = env
        .kubectl_ok(&[
            "-n",
            &namespace,
            "get",
            "secret",
            "mail-tls",
            "-o",
            "jsonpath={.type} {.metadata.labels.mutualis\\.io/tenant}",
        ])
        .await;
    assert_eq!(labels, "kubernetes.io/tls cadaujac");
    harness::assert_rbac_covers(&env);
}
