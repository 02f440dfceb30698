//! Per-tenant metrics the syndicate bills and alerts from: readiness, storage per service,
//! annual contribution, and whether (and why) the operator refuses the tenant's spec. Set from
//! the status the reconciler computes, removed when the tenant is deleted.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::api::{TenantStatus, conditions};
use crate::plan::quantity::parse_bytes;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StorageLabels {
    tenant: String,
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    tenant: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

/// The label values last set per tenant, so that a series that no longer applies (a service
/// switched off, a refusal lifted, a deleted tenant) is removed rather than left stale.
#[derive(Default)]
struct Reported {
    services: Vec<String>,
    refused: Option<String>,
}

#[derive(Default)]
pub struct TenantMetrics {
    ready: Family<TenantLabels, Gauge>,
    storage: Family<StorageLabels, Gauge>,
    contribution: Family<TenantLabels, Gauge>,
    refused: Family<RefusedLabels, Gauge>,
    refusals: Family<ReasonLabels, Counter>,
    last_backup: Family<TenantLabels, Gauge>,
    backup_ready: Family<TenantLabels, Gauge>,
    reported: Mutex<HashMap<String, Reported>>,
}

impl TenantMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "tenant_ready",
            "1 when the tenant's Ready condition is True, else 0",
            self.ready.clone(),
        );
        registry.register(
            "tenant_storage_bytes",
            "Storage allocated to each service of the tenant, in bytes",
            self.storage.clone(),
        );
        registry.register(
            "tenant_annual_contribution_euros",
            "The tenant's annual contribution in euros, from its tier",
            self.contribution.clone(),
        );
        registry.register(
            "tenant_refused",
            "1 while the operator refuses the tenant's spec, by reason (ShrinkRefused, InvalidSpec...)",
            self.refused.clone(),
        );
        registry.register(
            "tenant_last_backup_success_timestamp_seconds",
            "When the tenant's last successful backup finished (Unix time); absent before the first",
            self.last_backup.clone(),
        );
        registry.register(
            "tenant_backup_ready",
            "1 when the tenant's BackupReady condition is True, else 0 (absent without a condition)",
            self.backup_ready.clone(),
        );
        registry.register(
            "refusals",
            "Specs refused, counted once per tenant generation and reason",
            self.refusals.clone(),
        );
    }

    /// Sets the series of `tenant` from the status the reconciler computed for it.
    pub fn report(&self, tenant: &str, status: &TenantStatus) {
        let key = TenantLabels {
            tenant: tenant.to_owned(),
        };
        let condition = |type_: &str| status.conditions.iter().find(|c| c.type_ == type_);
        let ready = condition(conditions::READY).is_some_and(|c| c.status == "True");
        self.ready.get_or_create(&key).set(i64::from(ready));
        if let Some(euros) = status.annual_contribution {
            self.contribution.get_or_create(&key).set(euros);
        }
        if let Some(backup) = condition(conditions::BACKUP_READY) {
            self.backup_ready
                .get_or_create(&key)
                .set(i64::from(backup.status == "True"));
        }
        let last_backup = status
            .backup
            .as_ref()
            .and_then(|b| b.last_successful_backup.as_deref())
            .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok());
        if let Some(t) = last_backup {
            self.last_backup.get_or_create(&key).set(t.as_second());
        }
        let refused = condition(conditions::VALID)
            .filter(|c| c.status == "False")
            .map(|c| c.reason.clone());
        let mut reported = self.reported.lock().expect("tenant metrics lock");
        let last = reported.entry(tenant.to_owned()).or_default();
        for service in &last.services {
            if !status.storage.contains_key(service) {
                self.storage.remove(&storage_labels(tenant, service));
            }
        }
        for (service, quantity) in &status.storage {
            if let Some(bytes) = parse_bytes(quantity) {
                let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
                self.storage
                    .get_or_create(&storage_labels(tenant, service))
                    .set(bytes);
            }
        }
        last.services = status.storage.keys().cloned().collect();
        if last.refused != refused {
            if let Some(old) = last.refused.take() {
                self.refused.remove(&refused_labels(tenant, &old));
            }
            if let Some(reason) = &refused {
                self.refused
                    .get_or_create(&refused_labels(tenant, reason))
                    .set(1);
            }
            last.refused = refused;
        }
    }

    /// One new refusal (a new spec generation, or a new reason).
    pub fn refusal(&self, reason: &str) {
        self.refusals
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Removes every series of a deleted tenant.
    pub fn forget(&self, tenant: &str) {
        let key = TenantLabels {
            tenant: tenant.to_owned(),
        };
        self.ready.remove(&key);
        self.contribution.remove(&key);
        self.last_backup.remove(&key);
        self.backup_ready.remove(&key);
        if let Some(last) = self
            .reported
            .lock()
            .expect("tenant metrics lock")
            .remove(tenant)
        {
            for service in &last.services {
                self.storage.remove(&storage_labels(tenant, service));
            }
            if let Some(reason) = &last.refused {
                self.refused.remove(&refused_labels(tenant, reason));
            }
        }
    }
}

fn storage_labels(tenant: &str, service: &str) -> StorageLabels {
    StorageLabels {
        tenant: tenant.to_owned(),
        service: service.to_owned(),
    }
}

fn refused_labels(tenant: &str, reason: &str) -> RefusedLabels {
    RefusedLabels {
        tenant: tenant.to_owned(),
        reason: reason.to_owned(),
    }
}
