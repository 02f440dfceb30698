//! `mutualis run`: the operator, against the cluster of the kubeconfig or the in-cluster config.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use crate::reconcile::controller::{RunConfig, RunError};
use crate::reconcile::leader::LeaseTiming;
use crate::telemetry::{self, LogFormat, Telemetry};

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Address of the /healthz, /readyz and /metrics endpoints.
    #[arg(long, default_value = "0.0.0.0:8080", env = "MUTUALIS_HTTP_ADDR")]
    pub http_addr: SocketAddr,
    /// Elect a leader on a Lease so that only one replica writes (turn off for a single replica).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, env = "MUTUALIS_LEADER_ELECTION")]
    pub leader_election: bool,
    /// Namespace of the Lease (the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// Name of the Lease.
    #[arg(long, default_value = "mutualis-leader")]
    pub lease_name: String,
    /// This replica's identity in the Lease (the pod name); defaults to the host name.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// How long a lease lasts without renewal, in seconds.
    #[arg(long, default_value_t = 15)]
    pub lease_duration: u64,
    /// Tenants reconciled at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Seconds between full resyncs of every tenant (drift the caches cannot see is corrected then).
    #[arg(long, default_value_t = 600)]
    pub resync_seconds: u64,
    /// Milliseconds of quiet after a change before a tenant is reconciled.
    #[arg(long, default_value_t = 500)]
    pub debounce_ms: u64,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter, in RUST_LOG syntax.
    #[arg(long, default_value = "info,kube=warn")]
    pub log_level: String,
    /// The kubeconfig context to use (its current context when absent).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

impl RunArgs {
    pub fn config(&self) -> RunConfig {
        let lease_duration = Duration::from_secs(self.lease_duration.max(3));
        RunConfig {
            http_addr: self.http_addr,
            leader_election: self.leader_election,
            lease_namespace: self.lease_namespace.clone(),
            lease_name: self.lease_name.clone(),
            identity: self.identity.clone().unwrap_or_else(default_identity),
            lease_timing: LeaseTiming {
                lease_duration,
                renew_deadline: lease_duration * 2 / 3,
                retry_period: lease_duration / 7,
            },
            concurrency: self.concurrency,
            debounce: Duration::from_millis(self.debounce_ms),
            resync: Duration::from_secs(self.resync_seconds.max(1)),
        }
    }
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    format!(
        "{}-{}",
        if host.is_empty() { "mutualis" } else { &host },
        std::process::id()
    )
}

/// Errors of `mutualis run` as the user sees them.
#[derive(Debug, thiserror::Error)]
pub enum RunCommandError {
    #[error("no usable Kubernetes configuration (kubeconfig or in-cluster): {0}")]
    Config(String),
    #[error(transparent)]
    Run(#[from] RunError),
}

/// The client configuration: `context` of the kubeconfig ($KUBECONFIG or ~/.kube/config) when
/// named, else the usual inference (kubeconfig's current context, or in-cluster).
pub async fn kube_config(context: Option<&str>) -> Result<kube::Config, String> {
    match context {
        None => kube::Config::infer().await.map_err(|e| e.to_string()),
        Some(name) => {
            let options = kube::config::KubeConfigOptions {
                context: Some(name.to_owned()),
                ..Default::default()
            };
            kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| format!("kubeconfig context {name:?}: {e}"))
        }
    }
}

/// A future that resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

pub async fn run(args: RunArgs) -> Result<(), RunCommandError> {
    telemetry::init_logging(args.log_format, &args.log_level);
    let config = kube_config(args.context.as_deref())
        .await
        .map_err(RunCommandError::Config)?;
    let client = crate::reconcile::controller::client(config)
        .map_err(|e| RunCommandError::Config(e.to_string()))?;
    crate::reconcile::controller::run(client, args.config(), Telemetry::new(), shutdown_signal())
        .await?;
    Ok(())
}
