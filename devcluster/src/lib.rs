//! devcluster: an in-process server that speaks enough of the Kubernetes API for kubectl 1.32
//! and kube-rs 5 to work against it unchanged: discovery, OpenAPI v3 stubs, get/list/watch with
//! resource versions and bookmarks, create/update/patch/server-side apply with field managers,
//! the status subresource, deletion with finalizers and garbage collection, CRDs with schema
//! validation, server-side Tables, and a kwok-like simulation of workloads and volumes.
//!
//! State lives in memory and is gone when the server stops. See README.md.

mod addresses;
mod admission;
mod apply;
mod certificates;
mod clock;
mod convert;
mod crd;
mod delete;
mod discovery;
mod dups;
mod faults;
mod fieldset;
mod handlers;
mod immutable;
mod inject;
mod jsonpath;
mod k8up;
mod managed;
mod meta;
mod metavalidation;
mod mutate;
mod objectrules;
mod openapi;
mod patch;
mod proto;
mod recorder;
mod references;
mod request;
mod resources;
mod response;
mod scale;
mod schema;
mod selectors;
mod server;
mod simulate;
mod state;
mod status;
mod store;
mod table;
mod watch;
mod write;

pub use addresses::{Ipv4Pool, PoolError};
pub use faults::{Fault, FaultError, FaultPlan, FaultPlanError, FaultRule, When};
pub use recorder::RecordedRequest;
pub use simulate::FAIL_ANNOTATION;

use state::Shared;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("devcluster I/O error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// How to run the development cluster.
#[derive(Debug, Clone)]
pub struct Config {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// How long Deployments and StatefulSets take to report their replicas ready.
    pub ready_delay: Duration,
    /// Events kept for watches to resume from; older resource versions get 410 Expired.
    pub history: usize,
    /// Interval of BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
    /// Keep a log of resource requests (see [`DevCluster::requests`]).
    pub record_requests: bool,
    /// ResourceQuota admission (403 `exceeded quota` / `failed quota`) and quota status
    /// (`status.hard`, `status.used`). On by default, as on every real cluster.
    pub resource_quota: bool,
    /// LimitRange `default`/`defaultRequest` applied to the containers of pod templates for
    /// quota evaluation (stored workloads are not changed). On by default.
    pub limit_range_defaults: bool,
    /// Pod Security admission at the namespace labels: `warn` gives `Warning` headers for
    /// workloads and Pods, `enforce` refuses Pods, invalid labels are refused. On by default.
    pub pod_security: bool,
    /// Also refuse (403) a workload whose pod template violates the namespace's `enforce`
    /// level: its pods would be refused on a real cluster, and here there are no pods to show
    /// it. Off by default (upstream refuses only Pods).
    pub pod_security_strict: bool,
    /// Where LoadBalancer Services get their addresses, one each (default `198.51.100.0/24`).
    pub load_balancer_pool: Ipv4Pool,
    /// The address every Ingress reports, the ingress controller's (default `203.0.113.10`).
    pub ingress_address: Ipv4Addr,
    /// K8up installed: its CRDs at start, its jobs simulated (see `k8up`). On by default.
    pub k8up: bool,
    /// Faults injected into requests from the start (none by default); changed at run time by
    /// [`DevCluster::set_faults`] or `PUT /_devcluster/faults`. See README.md.
    pub faults: FaultPlan,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            port: 0,
            ready_delay: Duration::ZERO,
            history: 10_000,
            bookmark_interval: Duration::from_secs(30),
            record_requests: true,
            resource_quota: true,
            limit_range_defaults: true,
            pod_security: true,
            pod_security_strict: false,
            load_balancer_pool: Ipv4Pool::default(),
            ingress_address: Ipv4Addr::new(203, 0, 113, 10),
            k8up: true,
            faults: FaultPlan::default(),
        }
    }
}

/// A running development cluster. Dropping it stops the server.
pub struct DevCluster {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl DevCluster {
    /// Binds 127.0.0.1:`config.port` and serves in the background on the current Tokio runtime.
    pub async fn start(config: Config) -> Result<DevCluster> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Shared::new(config);
        let mut stop = shared.stop_tx.subscribe();
        let app = server::app(shared.clone());
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "devcluster server stopped with an error");
            }
        });
        tracing::info!(%addr, "devcluster listening");
        Ok(DevCluster {
            addr,
            shared,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig with one cluster, context and (credential-less) user, namespace `default`.
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig(&self.url())
    }

    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())?;
        Ok(())
    }

    /// Resource requests served so far, in RBAC terms (the latest 100 000 to 200 000).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn clear_requests(&self) {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Replaces the injected faults (an empty plan stops them).
    pub fn set_faults(&self, plan: FaultPlan) {
        self.shared.faults.set(plan);
    }

    /// Faults injected since the cluster started.
    pub fn faults_injected(&self) -> u64 {
        self.shared.faults.injected()
    }

    /// The current global resource version.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().store.rv()
    }

    /// Simulates an etcd compaction that every watcher fell behind: open watches end with an
    /// in-stream `410 Expired`, and resuming from any resource version up to now gets the same,
    /// so clients must re-list (tests of re-list logic).
    pub fn expire_watch_history(&self) {
        self.shared.lock().store.compact();
        self.shared.expire_tx.send_modify(|n| *n += 1);
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(mut self) {
        self.shared.stop_tx.send_replace(true);
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        // Stops accepting and ends open watches; the server task finishes on its own (drop
        // cannot wait for it; `shutdown()` does).
        self.shared.stop_tx.send_replace(true);
    }
}

fn kubeconfig(url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: devcluster
  cluster:
    server: {url}
contexts:
- name: devcluster
  context:
    cluster: devcluster
    user: devcluster
    namespace: default
current-context: devcluster
users:
- name: devcluster
  user: {{}}
preferences: {{}}
"
    )
}

/// Runs a development cluster until Ctrl-C, optionally writing a kubeconfig for it first.
pub async fn serve(config: Config, kubeconfig_path: Option<PathBuf>) -> Result<()> {
    let cluster = DevCluster::start(config).await?;
    if let Some(p) = &kubeconfig_path {
        cluster.write_kubeconfig(p)?;
        eprintln!(
            "devcluster: listening on {}; kubeconfig written to {}",
            cluster.url(),
            p.display()
        );
    } else {
        eprintln!("devcluster: listening on {}", cluster.url());
    }
    tokio::signal::ctrl_c().await?;
    eprintln!("devcluster: stopping (state was in memory and is gone)");
    cluster.shutdown().await;
    Ok(())
}
