//! Logs, metrics and the health endpoints of the running operator (`/healthz`, `/readyz`,
//! `/metrics`). Nothing here decides anything: the reconciler reports into [`Metrics`] and flips
//! [`Health`]; this module only exposes them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::{EncodeLabelSet, text::encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

mod process;
mod tenants;

/// Whether this replica leads, process-wide: one process is one replica, and the leader
/// election sets it without reaching into the metrics it does not otherwise know about.
static LEADER: std::sync::LazyLock<Gauge> = std::sync::LazyLock::new(Gauge::default);

/// Records whether this replica holds the leader lease (or runs without election).
pub fn set_leading(leading: bool) {
    LEADER.set(i64::from(leading));
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line, for log collectors.
    Json,
}

/// Installs the global tracing subscriber. `filter` uses the `RUST_LOG` syntax; the `RUST_LOG`
/// environment variable wins when set.
pub fn init_logging(format: LogFormat, filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour(
            format,
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ))
        .with_writer(std::io::stderr);
    // `try_init` so that tests and `mutualis dev` (which may initialise twice) do not panic.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Colours only for people: text logs on a terminal. A file or a log collector gets plain text.
fn colour(format: LogFormat, stderr_is_terminal: bool) -> bool {
    format == LogFormat::Text && stderr_is_terminal
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    category: String,
    error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    condition: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WriteLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    commit: String,
}

/// The operator's Prometheus metrics.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<OutcomeLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    duration: Histogram,
    tenants: Family<ConditionLabels, Gauge>,
    writes: Family<WriteLabels, Counter>,
    pub tenant: tenants::TenantMetrics,
    panics: Counter,
    crds: Family<CrdLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CrdLabels {
    crd: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut root = Registry::default();
        root.register_collector(Box::new(process::ProcessCollector));
        let registry = root.sub_registry_with_prefix("mutualis");
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                commit: env!("MUTUALIS_GIT_COMMIT").to_owned(),
            })
            .set(1);
        registry.register(
            "build_info",
            "Version and git commit of the operator (always 1)",
            build,
        );
        registry.register(
            "leader",
            "1 when this replica holds the leader lease (or runs without election), else 0",
            LEADER.clone(),
        );
        let tenant = tenants::TenantMetrics::default();
        tenant.register(registry);
        let reconciles = Family::<OutcomeLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        let tenants = Family::<ConditionLabels, Gauge>::default();
        let writes = Family::<WriteLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Tenant reconciliations, by outcome",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciliations, by category (user or transient) and error",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one tenant reconciliation",
            duration.clone(),
        );
        registry.register(
            "tenants",
            "Tenants by the status of their Ready condition",
            tenants.clone(),
        );
        registry.register(
            "api_writes",
            "Writes the operator sent to the Kubernetes API, by kind",
            writes.clone(),
        );
        let panics = Counter::default();
        registry.register(
            "reconcile_panics",
            "Tenant reconciliations that panicked (a bug, caught; the tenant shows ReconcileFailed)",
            panics.clone(),
        );
        let crds = Family::<CrdLabels, Gauge>::default();
        registry.register(
            "crd_present",
            "Whether the CustomResourceDefinition is installed, as the operator's watches see it (1) or not (0)",
            crds.clone(),
        );
        Self {
            crds,
            panics,
            registry: root,
            reconciles,
            errors,
            duration,
            tenants,
            writes,
            tenant,
        }
    }
}

impl Metrics {
    /// One reconciliation finished with `outcome` after `elapsed`.
    pub fn reconciled(&self, outcome: &str, elapsed: Duration) {
        self.reconciles
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
        self.duration.observe(elapsed.as_secs_f64());
    }

    /// One reconciliation failed.
    pub fn failed(&self, category: &str, error: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                category: category.to_owned(),
                error: error.to_owned(),
            })
            .inc();
    }

    /// One reconciliation panicked.
    pub fn panicked(&self) {
        self.panics.inc();
    }

    /// One write of `kind` was sent to the API server.
    pub fn wrote(&self, kind: &str) {
        self.writes
            .get_or_create(&WriteLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// Replaces the tenants-by-condition gauges with `counts` of (condition status → tenants).
    pub fn set_tenant_counts(&self, counts: &[(&str, &str, i64)]) {
        self.tenants.clear();
        for (condition, status, n) in counts {
            self.tenants
                .get_or_create(&ConditionLabels {
                    condition: (*condition).to_owned(),
                    status: (*status).to_owned(),
                })
                .set(*n);
        }
    }

    /// The names of the metric families exposed now (as Prometheus sees them: counters end in
    /// `_total`, histograms expose `_bucket`, `_sum` and `_count`); a family without a series
    /// yet is not exposed. Used to check that the chart's dashboard and alerts query metrics
    /// that exist.
    pub fn names(&self) -> Vec<String> {
        let text = self.render();
        let mut names: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .flat_map(|l| {
                let mut parts = l.split_whitespace();
                let name = parts.next().unwrap_or_default().to_owned();
                match parts.next() {
                    Some("counter") => vec![format!("{name}_total")],
                    Some("histogram") => ["_bucket", "_sum", "_count"]
                        .iter()
                        .map(|s| format!("{name}{s}"))
                        .collect(),
                    Some("info") => vec![format!("{name}_info")],
                    _ => vec![name],
                }
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Liveness and readiness, flipped by the controller.
#[derive(Default)]
pub struct Health {
    ready: AtomicBool,
    /// CRDs the watches found missing (see `reconcile::crds`): not ready while any is.
    missing_crds: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Health {
    /// The process can serve: it is a standby replica, or it leads and its caches are filled.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
            && self
                .missing_crds
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
    }
}

type Refresh = Arc<dyn Fn() + Send + Sync>;

/// What the HTTP endpoints read.
#[derive(Clone)]
pub struct Telemetry {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// Runs before each scrape (it recounts tenants); set once the caches exist.
    refresh: Arc<std::sync::RwLock<Refresh>>,
}

impl Telemetry {
    pub fn new() -> Self {
        Self {
            metrics: Arc::new(Metrics::default()),
            health: Arc::new(Health::default()),
            refresh: Arc::new(std::sync::RwLock::new(Arc::new(|| {}))),
        }
    }

    /// Whether `crd` was last seen installed.
    pub fn crd_present(&self, crd: &str) -> bool {
        !self
            .health
            .missing_crds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(crd)
    }

    /// Records whether `crd` is installed; returns whether that changed.
    pub fn set_crd_present(&self, crd: &str, present: bool) -> bool {
        self.metrics
            .crds
            .get_or_create(&CrdLabels {
                crd: crd.to_owned(),
            })
            .set(i64::from(present));
        let mut missing = self
            .health
            .missing_crds
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if present {
            missing.remove(crd)
        } else {
            missing.insert(crd.to_owned())
        }
    }

    /// Sets what runs before each scrape.
    pub fn set_refresh(&self, f: impl Fn() + Send + Sync + 'static) {
        *self.refresh.write().expect("refresh lock") = Arc::new(f);
    }

    fn refresh(&self) {
        let f = self.refresh.read().expect("refresh lock").clone();
        f();
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(t): State<Telemetry>) -> impl IntoResponse {
    if t.health.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn metrics(State(t): State<Telemetry>) -> impl IntoResponse {
    t.refresh();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        t.metrics.render(),
    )
}

/// The router of the health and metrics endpoints.
pub fn router(t: Telemetry) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(t)
}

/// Binds `addr` and serves the endpoints until `shutdown` resolves. Returns the bound address
/// (useful with port 0) and the server task.
pub async fn serve(
    addr: SocketAddr,
    t: Telemetry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router(t))
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(%err, "health and metrics server stopped");
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests;
