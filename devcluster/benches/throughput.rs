//! Throughput of the development cluster, driven by kube-rs as the operator would:
//! creates and server-side applies per second from 16 concurrent clients, watch fan-out to 50
//! watchers, and resident memory per stored object. Run: `cargo bench -p devcluster`.

use devcluster::{Config, DevCluster};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CLIENTS: usize = 16;
const PER_CLIENT: usize = 400;

fn client(url: &str) -> Client {
    Client::try_from(kube::Config::new(url.parse().expect("url"))).expect("client")
}

/// Counts live heap bytes, so memory per object is measured exactly rather than through RSS
/// (which allocator reuse makes meaningless for deltas).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let cluster = DevCluster::start(Config {
        record_requests: false,
        history: 10_000,
        ..Config::default()
    })
    .await
    .expect("start");
    let url = cluster.url();

    // Creates from 16 concurrent clients.
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let api: Api<ConfigMap> = Api::namespaced(client(&url), "default");
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_CLIENT {
                let mut cm = ConfigMap::default();
                cm.metadata.name = Some(format!("c{c}-{i}"));
                cm.data = Some([("k".to_string(), "v".to_string())].into());
                api.create(&PostParams::default(), &cm)
                    .await
                    .expect("create");
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    let n = (CLIENTS * PER_CLIENT) as f64;
    println!(
        "creates: {:.0}/s ({} objects, {} clients)",
        n / start.elapsed().as_secs_f64(),
        n,
        CLIENTS
    );

    // The same creates into a namespace under a ResourceQuota and a LimitRange: every write is
    // admitted against the quota and the quota's status is recomputed after it.
    {
        let setup = client(&url);
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": "quota"}})).expect("namespace");
        Api::<Namespace>::all(setup.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("namespace");
        let quota: ResourceQuota = serde_json::from_value(json!({"metadata": {"name": "q"},
            "spec": {"hard": {"count/configmaps": "100000", "requests.cpu": "1000", "limits.memory": "1Ti", "count/deployments.apps": "1000"}}}))
        .expect("quota");
        Api::<ResourceQuota>::namespaced(setup.clone(), "quota")
            .create(&PostParams::default(), &quota)
            .await
            .expect("quota");
        let lr: LimitRange = serde_json::from_value(json!({"metadata": {"name": "d"},
            "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "512Mi"}, "defaultRequest": {"cpu": "50m"}}]}}))
        .expect("limit range");
        Api::<LimitRange>::namespaced(setup.clone(), "quota")
            .create(&PostParams::default(), &lr)
            .await
            .expect("limit range");
        let start = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let api: Api<ConfigMap> = Api::namespaced(client(&url), "quota");
            tasks.push(tokio::spawn(async move {
                for i in 0..PER_CLIENT {
                    let mut cm = ConfigMap::default();
                    cm.metadata.name = Some(format!("c{c}-{i}"));
                    api.create(&PostParams::default(), &cm)
                        .await
                        .expect("create");
                }
            }));
        }
        for t in tasks {
            t.await.expect("join");
        }
        println!(
            "creates under a quota: {:.0}/s ({} objects)",
            n / start.elapsed().as_secs_f64(),
            n
        );
        const DEPLOYMENTS: usize = 400;
        let api: Api<Deployment> = Api::namespaced(client(&url), "quota");
        let start = Instant::now();
        for i in 0..DEPLOYMENTS {
            let d: Deployment = serde_json::from_value(json!({"metadata": {"name": format!("d{i}")},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "d"}},
                         "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}))
            .expect("deployment");
            api.create(&PostParams::default(), &d)
                .await
                .expect("create");
        }
        println!(
            "deployment creates under a compute quota: {:.0}/s ({DEPLOYMENTS}, one client; each recounts the namespace's pods)",
            DEPLOYMENTS as f64 / start.elapsed().as_secs_f64()
        );
    }

    // Server-side applies that change something each time.
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let api: Api<ConfigMap> = Api::namespaced(client(&url), "default");
        tasks.push(tokio::spawn(async move {
            let pp = PatchParams::apply("bench").force();
            for i in 0..PER_CLIENT {
                let name = format!("c{c}-{i}");
                let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": "bench"}}, "data": {"k": "applied"}});
                api.patch(&name, &pp, &Patch::Apply(&body)).await.expect("apply");
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    println!(
        "server-side applies: {:.0}/s",
        n / start.elapsed().as_secs_f64()
    );

    // Watch fan-out: 50 watchers each see 500 new objects.
    const WATCHERS: usize = 50;
    const EVENTS: usize = 500;
    let fan_client = client(&url);
    let mut watchers = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(WATCHERS);
    for _ in 0..WATCHERS {
        let api: Api<ConfigMap> = Api::namespaced(fan_client.clone(), "kube-public");
        let ready = ready_tx.clone();
        watchers.push(tokio::spawn(async move {
            let mut s = Box::pin(watcher(api, watcher::Config::default()));
            let mut seen = 0;
            while let Some(ev) = s.next().await {
                match ev.expect("watch") {
                    watcher::Event::InitDone => ready.send(()).await.expect("ready"),
                    watcher::Event::Apply(_) => {
                        seen += 1;
                        if seen == EVENTS {
                            return;
                        }
                    }
                    _ => {}
                }
            }
        }));
    }
    for _ in 0..WATCHERS {
        ready_rx.recv().await.expect("watcher ready");
    }
    let start = Instant::now();
    let api: Api<ConfigMap> = Api::namespaced(client(&url), "kube-public");
    for i in 0..EVENTS {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(format!("w{i}"));
        api.create(&PostParams::default(), &cm)
            .await
            .expect("create");
    }
    for w in watchers {
        tokio::time::timeout(Duration::from_secs(120), w)
            .await
            .expect("fan-out finished")
            .expect("join");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "watch fan-out: {WATCHERS} watchers x {EVENTS} events in {secs:.2}s = {:.0} events delivered/s",
        (WATCHERS * EVENTS) as f64 / secs
    );

    // Memory per stored object, above its own JSON.
    drop((api, fan_client));
    // Wait for the first cluster to be gone: its memory being freed during the measurement
    // below would make the per-object figure too small.
    cluster.shutdown().await;
    let cluster = DevCluster::start(Config {
        record_requests: false,
        history: 1_000,
        ..Config::default()
    })
    .await
    .expect("start");
    let api: Api<ConfigMap> = Api::namespaced(client(&cluster.url()), "default");
    let payload = "x".repeat(600);
    // Warm the client's connection before measuring.
    let _ = api.list(&Default::default()).await.expect("list");
    let before = LIVE.load(Ordering::Relaxed);
    const OBJECTS: usize = 10_000;
    let mut json_bytes = 0usize;
    for i in 0..OBJECTS {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(format!("m{i}"));
        cm.metadata.labels = Some([("app".to_string(), "mem".to_string())].into());
        cm.data = Some([("payload".to_string(), payload.clone())].into());
        let stored = api
            .create(&PostParams::default(), &cm)
            .await
            .expect("create");
        json_bytes += serde_json::to_vec(&stored).expect("json").len();
    }
    let after = LIVE.load(Ordering::Relaxed);
    let per = (after.saturating_sub(before)) as f64 / OBJECTS as f64;
    let own = json_bytes as f64 / OBJECTS as f64;
    println!(
        "memory: {per:.0} B of live heap per stored object, of which {own:.0} B is its JSON: {:.0} B overhead",
        per - own
    );
}
