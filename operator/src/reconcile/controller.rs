//! Wiring of `mutualis run`: the caches, the kube-rs Controller on Tenants, leader election,
//! the health and metrics server, and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::controller::{self, Action};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

use super::apply::AppliedRecords;
use super::children::Children;
use super::error::Error;
use super::leader::{LeaderElector, LeaseTiming};
use crate::api::{ServiceCatalog, Tenant, conditions};
use crate::telemetry::Telemetry;

/// Settings of `mutualis run`.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Where `/healthz`, `/readyz` and `/metrics` are served.
    pub http_addr: SocketAddr,
    /// Lease-based leader election; off only for a single replica (or `mutualis dev`).
    pub leader_election: bool,
    pub lease_namespace: String,
    pub lease_name: String,
    /// This replica's name in the lease (the pod name).
    pub identity: String,
    pub lease_timing: LeaseTiming,
    /// Tenants reconciled at once.
    pub concurrency: u16,
    /// Quiet time after a change before reconciling, so bursts of child events coalesce.
    pub debounce: Duration,
    /// Every tenant is reconciled again after this long, even without a change.
    pub resync: Duration,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            http_addr: ([0, 0, 0, 0], 8080).into(),
            leader_election: true,
            lease_namespace: "default".into(),
            lease_name: "mutualis-leader".into(),
            identity: "mutualis".into(),
            lease_timing: LeaseTiming::default(),
            concurrency: 8,
            debounce: Duration::from_millis(500),
            resync: Duration::from_secs(600),
        }
    }
}

/// The `User-Agent` of every request the operator makes, so that audit logs (and the RBAC
/// coverage test) can tell its requests from others'.
pub const USER_AGENT: &str = concat!("mutualis/", env!("CARGO_PKG_VERSION"));

/// A client for `config` that names itself in `User-Agent`.
pub fn client(mut config: kube::Config) -> Result<Client, kube::Error> {
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(USER_AGENT),
    ));
    Client::try_from(config)
}

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub children: Children,
    pub catalogs: Store<ServiceCatalog>,
    /// Every Tenant, for what one tenant may not take from another (see `guards`).
    pub tenants: Store<Tenant>,
    /// Every Tenant's domains, kept up to date by the Tenant watch (see `guards`).
    pub claims: super::guards::SharedClaims,
    pub recorder: Recorder,
    pub records: Arc<AppliedRecords>,
    pub telemetry: Telemetry,
    pub resync: Duration,
    /// Per tenant, a fingerprint of the object set last pruned against (see `tenant::realize`).
    pub pruned: std::sync::Mutex<std::collections::HashMap<String, u64>>,
    /// The status this process last wrote, per tenant (see `report::known_status`).
    pub last_status: std::sync::Mutex<std::collections::HashMap<String, crate::api::TenantStatus>>,
    /// Background generation of DKIM keys.
    pub dkim_keys: Arc<super::keygen::DkimKeys>,
    /// Consecutive failures per tenant, for the retry delay.
    pub backoff: super::backoff::Backoff,
}

impl Context {
    pub fn wrote(&self, kind: &str) {
        super::backoff::wrote();
        self.telemetry.metrics.wrote(kind);
    }
}

/// Why `run` returned with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot serve health and metrics on {addr}: {source}")]
    Http {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("lost the leader lease: stopping so that only one replica writes")]
    LostLeadership,
}

fn error_policy(tenant: Arc<Tenant>, err: &Error, ctx: Arc<Context>) -> Action {
    let name = tenant.name_any();
    let category = err.category();
    ctx.telemetry.metrics.failed(category.label(), err.label());
    // Recorded by `reconcile`, which knows whether the failed attempt made progress.
    let delay = ctx.backoff.current(&name);
    tracing::warn!(tenant = %name, error = %err, category = category.label(), retry_in_s = delay.as_secs(), failures = ctx.backoff.failures(&name), "reconcile failed");
    Action::requeue(delay)
}

async fn reconcile(tenant: Arc<Tenant>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let (result, writes) = super::backoff::count_writes(super::panics::guarded(
        tenant.clone(),
        ctx.clone(),
        super::tenant::reconcile(tenant.clone(), ctx.clone()),
    ))
    .await;
    tracing::debug!(tenant = %tenant.name_any(), ok = result.is_ok(), "reconcile returned");
    let outcome = match &result {
        Err(_) => "error",
        Ok(_) if super::report::is_refused(&tenant, &ctx) => "refused",
        Ok(_) => "ok",
    };
    ctx.telemetry.metrics.reconciled(outcome, started.elapsed());
    match &result {
        Ok(_) => ctx.backoff.succeeded(&tenant.name_any()),
        Err(err) => {
            // An attempt that wrote objects moved the tenant forward: not a reason to wait longer.
            ctx.backoff
                .failed(&tenant.name_any(), err.category(), writes > 0);
            if tenant.metadata.deletion_timestamp.is_none()
                && let Err(report) = super::backoff::report_retrying(&tenant, &ctx, err).await
            {
                tracing::debug!(tenant = %tenant.name_any(), error = %report, "could not report Progressing");
            }
        }
    }
    result
}

/// What of a Tenant calls for a reconcile: its spec, its finalizers, its deletion.
fn tenant_trigger(t: &Tenant) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    t.metadata.generation.hash(&mut h);
    t.metadata.finalizers.hash(&mut h);
    t.metadata.deletion_timestamp.is_some().hash(&mut h);
    // An acknowledgement of lost data is acted on at once (reconcile::losses).
    t.annotations()
        .get(super::losses::ACKNOWLEDGE_ANNOTATION)
        .hash(&mut h);
    Some(h.finish())
}

fn count_tenants(tenants: &Store<Tenant>) -> Vec<(&'static str, &'static str, i64)> {
    let (mut t, mut f, mut u) = (0, 0, 0);
    for tenant in tenants.state() {
        let ready = tenant.status.as_ref().and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == conditions::READY)
                .map(|c| c.status.clone())
        });
        match ready.as_deref() {
            Some("True") => t += 1,
            Some("False") => f += 1,
            _ => u += 1,
        }
    }
    vec![
        (conditions::READY, "True", t),
        (conditions::READY, "False", f),
        (conditions::READY, "Unknown", u),
    ]
}

/// Runs the operator until `shutdown` resolves (or leadership is lost).
pub async fn run(
    client: Client,
    cfg: RunConfig,
    telemetry: Telemetry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let (http_addr, http) =
        crate::telemetry::serve(cfg.http_addr, telemetry.clone(), shutdown.clone())
            .await
            .map_err(|source| RunError::Http {
                addr: cfg.http_addr,
                source,
            })?;
    tracing::info!(%http_addr, "serving /healthz, /readyz and /metrics");

    let elector = cfg.leader_election.then(|| {
        LeaderElector::new(
            client.clone(),
            &cfg.lease_namespace,
            &cfg.lease_name,
            &cfg.identity,
            cfg.lease_timing,
        )
    });
    if let Some(elector) = &elector {
        // A standby is healthy and ready: it serves its purpose by waiting.
        telemetry.health.set_ready(true);
        tokio::select! {
            _ = elector.acquire() => {}
            _ = shutdown.clone() => {
                let _ = http.await;
                return Ok(());
            }
        }
        telemetry.health.set_ready(false);
    } else {
        // Without election this replica is the only one: it leads.
        crate::telemetry::set_leading(true);
    }
    // Every write of the controller is fenced by the lease; the elector keeps its own client.
    let guard = elector
        .as_ref()
        .map_or_else(super::leader::LeaderGuard::unfenced, LeaderElector::guard);
    let client = super::fence::fenced(client, guard);

    let records = Arc::new(AppliedRecords::default());
    let (children, triggers) = Children::new(&client, &records);
    let (catalogs, catalog_writer) = reflector::store::<ServiceCatalog>();
    let catalog_events = watcher(
        Api::<ServiceCatalog>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .inspect(super::crds::observer(
        super::crds::CATALOGS,
        telemetry.clone(),
        Some(client.clone()),
    ))
    .modify(|c| c.managed_fields_mut().clear())
    .reflect(catalog_writer)
    .touched_objects();

    // Tenants trigger on what asks for work: spec (generation), finalizers and deletion. Their
    // status, written by this operator, does not: that would reconcile every tenant once more.
    let (tenants_reader, tenants_writer) = reflector::store::<Tenant>();
    let claims = super::guards::SharedClaims::default();
    let tenant_events = watcher(
        Api::<Tenant>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .inspect(super::crds::observer(
        super::crds::TENANTS,
        telemetry.clone(),
        Some(client.clone()),
    ))
    .inspect(super::guards::indexer(claims.clone()))
    // managedFields are never read here, and are much of a cached Tenant (a field set per
    // writer: the person's apply, the operator's status): the store keeps the rest.
    .modify(|t| t.managed_fields_mut().clear())
    .reflect(tenants_writer)
    .applied_objects()
    .predicate_filter(tenant_trigger, Default::default());
    let mut controller = Controller::for_stream(tenant_events, tenants_reader).with_config(
        controller::Config::default()
            .concurrency(cfg.concurrency)
            .debounce(cfg.debounce),
    );
    let tenants = controller.store();
    let by_catalog = tenants.clone();
    controller = controller.watches_stream(catalog_events, move |catalog: ServiceCatalog| {
        let name = catalog.name_any();
        by_catalog
            .state()
            .iter()
            .filter(|t| t.spec.catalog_ref == name)
            .map(|t| ObjectRef::from_obj(t.as_ref()))
            .collect::<Vec<_>>()
    });
    for trigger in triggers {
        controller = controller.reconcile_on(trigger);
    }
    // A key thread per core: at the lowest priority, they use only what the reconciles leave.
    let parallel = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let (dkim_keys, keys_ready) = super::keygen::DkimKeys::new(parallel);
    // A finished key is stored by `store_keys` below, not by a reconcile of its own; a tenant
    // whose key could not be stored that way is reconciled instead.
    let (key_fallback, key_fallbacks) = futures::channel::mpsc::unbounded();
    controller = controller.reconcile_on(key_fallbacks);
    let refresh_tenants = tenants.clone();
    let metrics = telemetry.metrics.clone();
    telemetry.set_refresh(move || metrics.set_tenant_counts(&count_tenants(&refresh_tenants)));
    let ctx = Arc::new(Context {
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "mutualis".into(),
                instance: Some(cfg.identity.clone()),
            },
        ),
        client,
        children: children.clone(),
        catalogs: catalogs.clone(),
        tenants: tenants.clone(),
        claims,
        records,
        telemetry: telemetry.clone(),
        resync: cfg.resync,
        backoff: Default::default(),
        dkim_keys,
        pruned: Default::default(),
        last_status: Default::default(),
    });

    let key_storer = tokio::spawn(super::tenant::store_keys(
        keys_ready,
        key_fallback,
        ctx.clone(),
    ));
    let health = telemetry.health.clone();
    let ready_children = children.clone();
    let ready_catalogs = catalogs.clone();
    let ready_tenants = tenants.clone();
    let readiness = tokio::spawn(async move {
        let caches = ready_children.wait_until_ready().await;
        let cats = ready_catalogs.wait_until_ready().await.is_ok();
        let tens = ready_tenants.wait_until_ready().await.is_ok();
        if caches && cats && tens {
            tracing::info!("caches filled; reconciling");
            health.set_ready(true);
        }
    });

    let run = controller
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|res| async move {
            if let Err(err) = res {
                tracing::debug!(%err, "controller event");
            }
        });

    let lost = async {
        match &elector {
            Some(elector) => elector.hold().await,
            None => futures::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        _ = run => Ok(()),
        _ = lost => Err(RunError::LostLeadership),
    };
    readiness.abort();
    key_storer.abort();
    match (&outcome, &elector) {
        (Ok(()), Some(elector)) => elector.release().await,
        // The shutdown future that ends the HTTP server never comes: stop it here.
        (Err(_), _) => http.abort(),
        _ => {}
    }
    let _ = http.await;
    outcome
}
