//! A development cluster for a test: started on its own Tokio runtime (so that synchronous
//! tests can run `helm` and `kubectl` against it while it serves), with a kubeconfig file those
//! tools and the operator binary can use.

use crate::rbac::Request;
use crate::tools::{Output, require_tool, run};
use devcluster::{Config, DevCluster, RecordedRequest};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running development cluster; stops when dropped.
pub struct Cluster {
    cluster: DevCluster,
    kubeconfig: PathBuf,
    // Field order: the cluster is dropped before the runtime that serves it.
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts a cluster with the default configuration and writes its kubeconfig.
    pub fn start() -> Cluster {
        Cluster::start_with(Config::default())
    }

    pub fn start_with(config: Config) -> Cluster {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a Tokio runtime for the development cluster");
        let cluster = runtime
            .block_on(DevCluster::start(config))
            .unwrap_or_else(|e| panic!("the development cluster does not start: {e}"));
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        cluster
            .write_kubeconfig(&kubeconfig)
            .unwrap_or_else(|e| panic!("cannot write the kubeconfig: {e}"));
        Cluster {
            cluster,
            kubeconfig,
            runtime,
            _dir: dir,
        }
    }

    /// Base URL of the API server (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        self.cluster.url()
    }

    /// A kubeconfig file pointing at this cluster.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The Tokio runtime serving the cluster, to run async clients against it.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// Every resource request served so far, in RBAC terms.
    pub fn requests(&self) -> Vec<Request> {
        self.cluster.requests().iter().map(Request::from).collect()
    }

    /// Requests whose User-Agent starts with `prefix` (`""` selects all): tell the operator's
    /// requests from those of kubectl and helm.
    pub fn requests_from(&self, prefix: &str) -> Vec<Request> {
        self.cluster
            .requests()
            .iter()
            .filter(|r| r.user_agent.starts_with(prefix))
            .map(Request::from)
            .collect()
    }

    /// Runs kubectl against the cluster. `None` when kubectl is missing outside CI.
    pub fn kubectl(&self, args: &[&str]) -> Option<Output> {
        let kubectl = require_tool("kubectl")?;
        Some(run(Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)))
    }
}

impl From<&RecordedRequest> for Request {
    fn from(r: &RecordedRequest) -> Request {
        let optional = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Request {
            verb: r.verb.clone(),
            api_group: r.group.clone(),
            resource: r.resource.clone(),
            subresource: r.subresource.clone(),
            namespace: optional(&r.namespace),
            name: optional(&r.name),
            path: None,
        }
    }
}
