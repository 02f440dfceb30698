//! Scale benchmark of the operator against the development cluster (not a criterion bench: one
//! long scenario, printing its figures). The real `mutualis` binary runs as a child process so
//! that its memory is measured alone.
//!
//!   cargo bench -p mutualis --bench scale -- [TENANTS]
//!
//! Figures: time until every tenant is Ready (and until every service but mail, which also
//! waits for its RSA key); API writes and reconciles per tenant; the reconciles and writes of
//! a forced full resync of idle tenants (a restarted operator); the operator's CPU and RSS.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use devcluster::{Config, DevCluster};
use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::WatchStreamExt;
use kube::{Client, ResourceExt};
use mutualis::api::{ServiceCatalog, Tenant, crds};

/// The development cluster runs in this process: it gets the operator's allocator, so that the
/// test double does not take from the two cores more than it must.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// The store's resource version: it moves with every change an API write makes.
async fn store_version(client: &Client) -> u64 {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let list = namespaces
        .list_metadata(&kube::api::ListParams::default().limit(1))
        .await
        .expect("namespaces listed");
    list.metadata
        .resource_version
        .and_then(|v| v.parse().ok())
        .expect("a numeric resourceVersion")
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
    let started = Instant::now();
    // The operator with its production defaults (resync every 600 s, debounce 500 ms): the
    // reconciles counted are the ones events cause, as on a real cluster.
    let spawn = |resync: Option<u64>| {
        // MUTUALIS_BENCH_WRAP runs the operator under a profiler, e.g. "heaptrack -o /tmp/ht".
        let wrap = std::env::var("MUTUALIS_BENCH_WRAP").unwrap_or_default();
        let mut argv: Vec<String> = wrap.split_whitespace().map(str::to_owned).collect();
        argv.push(env!("CARGO_BIN_EXE_mutualis").to_owned());
        tokio::process::Command::new(&argv[0])
            .args(&argv[1..])
            .args([
                "run",
                "--leader-election=false",
                "--http-addr",
                &format!("127.0.0.1:{http_port}"),
                "--concurrency",
                "16",
            ])
            .args(resync.map(|s| format!("--resync-seconds={s}")))
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("mutualis starts")
    };
    let mut child = spawn(None);
    let pid = child.id().unwrap();

    // Followed through a watch, not by listing every tenant again and again: the
    // measurement should not take the CPU it measures.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    let mut others_ready_after = None;
    let mut states: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    let mut events = std::pin::pin!(
        kube::runtime::watcher(tenants.clone(), kube::runtime::watcher::Config::default())
            .default_backoff()
    );
    let ready_after = loop {
        let event = tokio::time::timeout_at(deadline, events.next()).await;
        let done = states.values().filter(|(r, _)| *r).count();
        let Ok(Some(event)) = event else {
            panic!("only {done}/{n} Ready after 10 minutes");
        };
        match event {
            Ok(
                kube::runtime::watcher::Event::Apply(t)
                | kube::runtime::watcher::Event::InitApply(t),
            ) => {
                states.insert(t.name_any(), (ready(&t), ready_but_mail(&t)));
            }
            Ok(_) => {}
            Err(e) => eprintln!("tenant watch: {e} (retrying)"),
        }
        if others_ready_after.is_none()
            && states.len() == n
            && states.values().all(|(_, others)| *others)
        {
            others_ready_after = Some(started.elapsed());
        }
        if states.len() == n && states.values().all(|(r, _)| *r) {
            break started.elapsed();
        }
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

    let rss = peak_rss_kib(pid);
    let rss_now = memory_kib(pid, "VmRSS:");
    let operator_cpu = cpu_seconds(&pid.to_string());
    let cluster_cpu = cpu_seconds("self");

    // A forced full resync of idle tenants, twice. A restarted operator (a rolling upgrade)
    // lists everything and reconciles every tenant: it applies each object once, since it
    // cannot know what changed while it was down, and the server finds nothing to change. Then
    // its own periodic resync (made short here), which skips what its caches show unchanged.
    let _ = child.kill().await;
    let _ = child.wait().await;
    cluster.clear_requests();
    let rv_before = store_version(&client).await;
    let resync_seconds = 15;
    let restarted = Instant::now();
    let mut child = spawn(Some(resync_seconds));
    let resync_deadline = Instant::now() + Duration::from_secs(300);
    let restart_after = loop {
        let done = metric(http_port, "mutualis_reconciles_total").await;
        if done >= n as f64 {
            break restarted.elapsed();
        }
        assert!(
            Instant::now() < resync_deadline,
            "the restarted operator reconciled only {done}/{n} tenants in 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let restart_reconciles = metric(http_port, "mutualis_reconciles_total").await;
    let restart_requests = operator_writes(&cluster);
    let restart_changes = store_version(&client).await - rv_before;
    cluster.clear_requests();
    let rv_before = store_version(&client).await;
    tokio::time::sleep(Duration::from_secs(resync_seconds + 5)).await;
    let resync_reconciles =
        metric(http_port, "mutualis_reconciles_total").await - restart_reconciles;
    let idle_writes = operator_writes(&cluster);
    let idle_changes = store_version(&client).await - rv_before;
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
    println!(
        "restart (full resync)           every tenant reconciled after {:.1} s; reconciles {restart_reconciles:.0}; write requests {restart_requests}, of which changed something {restart_changes} (goal 0)",
        restart_after.as_secs_f64()
    );
    println!(
        "periodic resync, idle           reconciles {resync_reconciles:.0}, write requests {idle_writes}, changes {idle_changes} (goal 0)"
    );
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
