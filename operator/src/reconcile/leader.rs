//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several replicas only one
//! reconciles and writes. kube-runtime 5 has none; this follows client-go's algorithm:
//! a replica takes the lease when it is free or when its holder has not renewed it for a whole
//! lease duration *as observed locally* (never comparing clocks across machines), renews it every
//! retry period, and gives up leading when it could not renew within the renew deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::Mutex;

/// Timing of the election (client-go's defaults: 15 s, 10 s, 2 s).
#[derive(Clone, Copy, Debug)]
pub struct LeaseTiming {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// The last lease record seen, and when it was first seen locally.
struct Observed {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    at: Instant,
}

/// One replica's side of the election.
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: LeaseTiming,
    observed: Mutex<Option<Observed>>,
    guard: Arc<LeaderGuard>,
}

/// Whether this replica may still write: the lease it holds, counted from the moment its last
/// successful renewal was *sent*, has not run out its renew deadline (a third of the lease
/// before it expires, the margin for clocks and slow requests). A process paused past that
/// (SIGSTOP, a long GC, a frozen VM) finds its writes refused until it has renewed again.
#[derive(Debug)]
pub struct LeaderGuard {
    window: Option<Duration>,
    valid_until: std::sync::Mutex<Option<Instant>>,
}

impl LeaderGuard {
    /// A guard that always allows: no leader election (a single replica, `mutualis dev`).
    pub fn unfenced() -> Arc<Self> {
        Arc::new(Self {
            window: None,
            valid_until: std::sync::Mutex::new(None),
        })
    }

    /// A guard that allows writes for `window` after each renewal, none before the first.
    pub fn new(window: Duration) -> Arc<Self> {
        Arc::new(Self {
            window: Some(window),
            valid_until: std::sync::Mutex::new(None),
        })
    }

    /// A renewal sent at `sent` succeeded.
    pub fn renewed(&self, sent: Instant) {
        if let Some(window) = self.window {
            let mut until = self.valid_until.lock().unwrap_or_else(|p| p.into_inner());
            *until = Some(until.map_or(sent + window, |u| u.max(sent + window)));
        }
    }

    /// Leadership is lost or given up: no write from now on.
    pub fn revoke(&self) {
        *self.valid_until.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Whether a write may go out now.
    pub fn may_write(&self) -> bool {
        match self.window {
            None => true,
            Some(_) => self
                .valid_until
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some_and(|u| Instant::now() < u),
        }
    }
}

impl LeaderElector {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        timing: LeaseTiming,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            timing,
            observed: Mutex::new(None),
            guard: LeaderGuard::new(timing.renew_deadline),
        }
    }

    /// The guard the write path checks (see [`LeaderGuard`]).
    pub fn guard(&self) -> Arc<LeaderGuard> {
        self.guard.clone()
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Waits until this replica holds the lease.
    pub async fn acquire(&self) {
        crate::telemetry::set_leading(false);
        // Said once per holder: a standby's log is not a line every retry period.
        let mut announced: Option<String> = None;
        loop {
            let sent = Instant::now();
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    self.guard.renewed(sent);
                    tracing::info!(lease = %self.name, identity = %self.identity, "became leader");
                    crate::telemetry::set_leading(true);
                    return;
                }
                Ok(false) => {
                    let holder = self
                        .observed
                        .lock()
                        .await
                        .as_ref()
                        .and_then(|o| o.holder.clone());
                    if holder.is_some() && holder != announced {
                        tracing::info!(lease = %self.name, holder = holder.as_deref().unwrap_or_default(), "standby: waiting for the lease held by {}", holder.as_deref().unwrap_or_default());
                        announced = holder;
                    }
                }
                Err(err) => {
                    tracing::warn!(%err, lease = %self.name, "leader election attempt failed")
                }
            }
            tokio::time::sleep(self.timing.retry_period).await;
        }
    }

    /// Renews the lease until it cannot be renewed within the renew deadline; then returns.
    /// The caller must stop writing at once.
    pub async fn hold(&self) {
        self.keep().await;
        crate::telemetry::set_leading(false);
    }

    async fn keep(&self) {
        let mut last_renewal = Instant::now();
        loop {
            tokio::time::sleep(self.timing.retry_period).await;
            let sent = Instant::now();
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    last_renewal = Instant::now();
                    self.guard.renewed(sent);
                }
                Ok(false) => {
                    self.guard.revoke();
                    tracing::error!(lease = %self.name, "lease taken by another replica");
                    return;
                }
                Err(err) => tracing::warn!(%err, lease = %self.name, "lease renewal failed"),
            }
            if last_renewal.elapsed() > self.timing.renew_deadline {
                self.guard.revoke();
                tracing::error!(lease = %self.name, "could not renew the lease within the deadline");
                return;
            }
        }
    }

    /// Gives the lease up on a graceful shutdown, so that a standby takes over without waiting
    /// for it to expire.
    pub async fn release(&self) {
        self.guard.revoke();
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        if let Err(err) = self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            tracing::warn!(%err, "could not release the lease");
        }
    }

    /// One round of client-go's `tryAcquireOrRenew`: `Ok(true)` when this replica holds the lease
    /// afterwards. Optimistic concurrency (the lease's resourceVersion) settles races.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let duration_secs = i32::try_from(self.timing.lease_duration.as_secs()).unwrap_or(15);
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(duration_secs),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(false),
                Err(err) => Err(err),
            };
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let held_by_me = holder.as_deref() == Some(self.identity.as_str());
        if !held_by_me && holder.is_some() && !self.expired(spec).await {
            return Ok(false);
        }
        if !held_by_me {
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            spec.acquire_time = Some(now.clone());
            spec.holder_identity = Some(self.identity.clone());
        }
        spec.lease_duration_seconds = Some(duration_secs);
        spec.renew_time = Some(now);
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.is_conflict() => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Whether the other holder's lease has gone unrenewed for its whole duration, measured on
    /// this replica's monotonic clock from the moment the current record was first seen.
    async fn expired(&self, spec: &LeaseSpec) -> bool {
        let mut observed = self.observed.lock().await;
        let changed = observed
            .as_ref()
            .is_none_or(|o| o.holder != spec.holder_identity || o.renew_time != spec.renew_time);
        if changed {
            *observed = Some(Observed {
                holder: spec.holder_identity.clone(),
                renew_time: spec.renew_time.clone(),
                at: Instant::now(),
            });
        }
        let duration = spec
            .lease_duration_seconds
            .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)))
            .unwrap_or(self.timing.lease_duration);
        observed.as_ref().is_some_and(|o| o.at.elapsed() > duration)
    }
}
