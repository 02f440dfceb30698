//! Scale benchmark of the operator against the development cluster (not a criterion bench: one
//! long scenario, printing its figures). The real `mutualis` binary runs as a child process so
//! that its memory is measured alone.
//!
//!   cargo bench -p mutualis --bench scale -- [TENANTS]
//!
//! Figures: time until every tenant is Ready; API writes and reconciles per tenant; writes
//! during a forced full resync of idle tenants; the operator's peak RSS.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use devcluster::{Config, DevCluster};
use futures::StreamExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, ResourceExt};
use mutualis::api::{ServiceCatalog, Tenant, crds};

const WRITE_VERBS: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

fn tenant(i: usize) -> Tenant {
    let tiers = ["250gb", "500gb", "1tb"];
    let members: Vec<serde_json::Value> = (0..i % 3)
        .map(|m| {
            serde_json::json!({
                "displayName": format!("Commune {m} de t{i}"),
                "domain": format!("commune{m}.t{i}.example.fr"),
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "apiVersion": "mutualis.io/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": format!("t{i:04}")},
        "spec": {
            "catalogRef": "gironde-numerique",
            "tier": tiers[i % 3],
            "displayName": format!("Communauté {i}"),
            "domain": format!("t{i}.example.fr"),
            "members": members,
        }
    }))
    .expect("a valid tenant")
}

/// Every service but mail ready: mail also waits for its RSA key, generated in the background.
/// (`BackupReady` is not a service's, nor part of `Ready`.)
fn ready_but_mail(t: &Tenant) -> bool {
    t.status.as_ref().is_some_and(|s| {
        s.observed_generation == t.metadata.generation
            && s.conditions
                .iter()
                .filter(|c| {
                    c.type_.ends_with("Ready")
                        && !["Ready", "MailReady", "BackupReady"].contains(&c.type_.as_str())
                })
                .all(|c| c.status == "True")
            && s.conditions
                .iter()
                .filter(|c| c.type_.ends_with("Ready"))
                .count()
                > 2
    })
}

fn ready(t: &Tenant) -> bool {
    t.status.as_ref().is_some_and(|s| {
        s.observed_generation == t.metadata.generation
            && s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// User + system CPU seconds of a process.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    memory_kib(pid, "VmHWM:")
}

fn memory_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn metric(port: u16, name: &str) -> f64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return f64::NAN;
    };
    let _ = s
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf).await;
    buf.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn operator_writes(cluster: &DevCluster) -> usize {
    cluster
        .requests()
        .iter()
        .filter(|r| WRITE_VERBS.contains(&r.verb.as_str()))
        .count()
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    // The operator is measured, not the test double: the development cluster's quota
    // admission recomputes a namespace's usage on every write (its own cost is in
    // `cargo bench -p devcluster`), so it is off here; the e2e tests run with it on.
    let cluster = DevCluster::start(Config {
        ready_delay: Duration::from_millis(200),
        resource_quota: false,
        // Up to three load balancers a tenant (mail, NAS, SFTP): more than the default /24 holds (RFC 2544's
        // benchmarking range, never routed).
        load_balancer_pool: "198.18.0.0/15".parse().expect("a CIDR"),
        ..Config::default()
    })
    .await
    .expect("devcluster");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    cluster.write_kubeconfig(&kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::from_yaml(&cluster.kubeconfig_yaml()).unwrap(),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let client = Client::try_from(config).unwrap();

    // Install the CRDs and the founding catalogue.
    let pp = PatchParams::apply("bench").force();
    let crd_api: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    for crd in crds() {
        crd_api
            .patch(&crd.name_any(), &pp, &Patch::Apply(&crd))
            .await
            .unwrap();
    }
    let catalog_yaml = include_str!("../../examples/catalog.yaml");
    let catalog: ServiceCatalog = serde_saphyr::from_str(catalog_yaml).unwrap();
    // What the cluster has before the chart: cert-manager (CRDs, issuers) and the shared
    // name servers' namespace, where the zones go.
    mutualis::cli::dev::install_prerequisites(&client, &[&catalog])
        .await
        .unwrap();
    Api::<ServiceCatalog>::all(client.clone())
        .patch(&catalog.name_any(), &pp, &Patch::Apply(&catalog))
        .await
        .unwrap();

    // The tenants, created at once (16 in flight).
    let tenants: Api<Tenant> = Api::all(client.clone());
    futures::stream::iter(0..n)
        .for_each_concurrent(16, |i| {
            let tenants = tenants.clone();
            async move {
                let t = tenant(i);
                tenants
                    .patch(
                        &t.name_any(),
                        &PatchParams::apply("bench"),
                        &Patch::Apply(&t),
                    )
                    .await
                    .expect("tenant applied");
            }
        })
        .await;
    let setup_writes = operator_writes(&cluster);
    cluster.clear_requests();

    let http_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let resync_seconds = 20u64;
    let started = Instant::now();
    // MUTUALIS_BENCH_WRAP runs the operator under a profiler, e.g. "heaptrack -o /tmp/ht".
    let wrap = std::env::var("MUTUALIS_BENCH_WRAP").unwrap_or_default();
    let mut argv: Vec<String> = wrap.split_whitespace().map(str::to_owned).collect();
    argv.push(env!("CARGO_BIN_EXE_mutualis").to_owned());
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .args([
            "run",
            "--leader-election=false",
            "--http-addr",
            &format!("127.0.0.1:{http_port}"),
            "--resync-seconds",
            &resync_seconds.to_string(),
            "--concurrency",
            "16",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("mutualis starts");
    let pid = child.id().unwrap();

    let deadline = Instant::now() + Duration::from_secs(600);
    let mut others_ready_after = None;
    let ready_after = loop {
        let list = tenants.list(&ListParams::default()).await.unwrap();
        let done = list.items.iter().filter(|t| ready(t)).count();
        if others_ready_after.is_none()
            && list.items.iter().filter(|t| ready_but_mail(t)).count() == n
        {
            others_ready_after = Some(started.elapsed());
        }
        if done == n {
            break started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "only {done}/{n} Ready after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Let the last events settle before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let writes = operator_writes(&cluster);
    let mut by_resource: BTreeMap<String, usize> = BTreeMap::new();
    for r in cluster.requests() {
        if WRITE_VERBS.contains(&r.verb.as_str()) {
            let sub = if r.subresource.is_empty() {
                String::new()
            } else {
                format!("/{}", r.subresource)
            };
            let key = format!("{} {}{sub}", r.verb, r.resource);
            *by_resource.entry(key).or_default() += 1;
        }
    }
    let reconciles = metric(http_port, "mutualis_reconciles_total").await;
    let objects: usize = {
        let catalog_ref = &catalog;
        (0..n)
            .map(|i| {
                mutualis::plan::plan(&tenant(i), catalog_ref, &Default::default())
                    .map(|p| p.objects.len() + p.secrets.len())
                    .unwrap_or(0)
            })
            .sum()
    };

    // Idle: wait through one full resync of every tenant, counting writes.
    cluster.clear_requests();
    let before = metric(http_port, "mutualis_reconciles_total").await;
    tokio::time::sleep(Duration::from_secs(resync_seconds + 10)).await;
    let resync_reconciles = metric(http_port, "mutualis_reconciles_total").await - before;
    let idle_writes = operator_writes(&cluster);
    let rss = peak_rss_kib(pid);
    let rss_now = memory_kib(pid, "VmRSS:");
    let operator_cpu = cpu_seconds(&pid.to_string());
    let cluster_cpu = cpu_seconds("self");
    let _ = child.kill().await;

    println!("tenants                         {n}");
    println!("setup writes (CRDs, catalogue, tenants) {setup_writes}");
    println!(
        "time to all Ready               {:.1} s (goal < 60 s)",
        ready_after.as_secs_f64()
    );
    println!(
        "time to every service but mail  {:.1} s (mail also waits for its RSA-2048 DKIM key, generated in the background at the lowest CPU priority)",
        others_ready_after.unwrap_or(ready_after).as_secs_f64()
    );
    println!(
        "API writes per tenant           {:.2} (planned objects + secrets per tenant {:.2}; goal objects + 2)",
        writes as f64 / n as f64,
        objects as f64 / n as f64
    );
    println!(
        "reconciles per tenant           {:.2} (goal <= 3)",
        reconciles / n as f64
    );
    println!("writes by kind                  {by_resource:?}");
    println!("idle resync: reconciles {resync_reconciles:.0}, writes {idle_writes} (goal 0)");
    println!(
        "CPU seconds: operator {:.1}, development cluster and bench {:.1}",
        operator_cpu.unwrap_or(f64::NAN),
        cluster_cpu.unwrap_or(f64::NAN)
    );
    match rss {
        Some(kib) => println!(
            "operator peak RSS               {:.1} MiB (goal < 128 MiB)",
            kib as f64 / 1024.0
        ),
        None => println!("operator peak RSS               unavailable (/proc not readable)"),
    }
    if let Some(kib) = rss_now {
        println!(
            "operator RSS when idle          {:.1} MiB",
            kib as f64 / 1024.0
        );
    }
}
