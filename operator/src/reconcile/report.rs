//! Reporting on a Tenant: its status, written only when it changed, and its events. Status
//! decisions start from what this process last wrote, since the cached Tenant can lag behind.

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::{Resource, ResourceExt};

use super::apply::FIELD_MANAGER;
use super::controller::Context;
use super::error::{Error, Result};
use super::status::{self, Verdict};
use crate::api::conditions::{self, reasons};
use crate::api::{Tenant, TenantStatus};

/// A spec the operator will not act on, reported in status until the user changes it.
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

/// `Ready` false with the API server's refusal, and a Warning event when it is new.
pub async fn report_apply_failure(tenant: &Tenant, ctx: &Context, err: &Error) -> Result<()> {
    let message = format!("{err}; fix the spec or the catalogue, the operator retries meanwhile");
    let ready = Verdict::new(conditions::READY, false, reasons::APPLY_FAILED, message);
    report_problem(tenant, ctx, &[ready], "Apply").await?;
    Ok(())
}

/// Sets the `verdicts` (all false, same reason), keeps every other condition and field of the
/// status as it was (the services keep running as last applied), and publishes a Warning
/// event when that changed the status. Returns whether it did.
async fn report_problem(
    tenant: &Tenant,
    ctx: &Context,
    verdicts: &[Verdict],
    action: &str,
) -> Result<bool> {
    let old = known_status(tenant, ctx);
    let mut conds = status::conditions(&old.conditions, verdicts, tenant.metadata.generation);
    conds.extend(
        old.conditions
            .iter()
            .filter(|c| !verdicts.iter().any(|v| v.type_ == c.type_))
            .cloned(),
    );
    let desired = TenantStatus {
        observed_generation: tenant.metadata.generation,
        conditions: conds,
        ..old
    };
    let wrote = write_status(tenant, ctx, desired).await?;
    if wrote {
        let first = &verdicts[0];
        event(
            ctx,
            tenant,
            EventType::Warning,
            &first.reason,
            action,
            &first.message,
        )
        .await;
    }
    Ok(wrote)
}

/// The tenant's status as this process knows it: what it last wrote, else what the cache holds.
/// The cached Tenant can lag behind our own status write, and a status-only change does not
/// trigger a reconcile; deciding from the stale copy would leave an outdated status in place.
pub fn known_status(tenant: &Tenant, ctx: &Context) -> TenantStatus {
    ctx.last_status
        .lock()
        .expect("last status lock")
        .get(&tenant.name_any())
        .cloned()
        .or_else(|| tenant.status.clone())
        .unwrap_or_default()
}

pub fn condition_is(status: &TenantStatus, type_: &str, value: &str) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == value)
}

/// Reports a refusal: `Valid` and `Ready` false with the reason, nothing applied. When the
/// refusal is new (a new generation or reason), a Warning event goes out, it is logged and
/// counted — once, not at every resync.
pub async fn refuse(tenant: &Tenant, ctx: &Context, refusal: Refusal) -> Result<()> {
    let verdicts = [conditions::READY, conditions::VALID]
        .map(|type_| Verdict::new(type_, false, refusal.reason, refusal.message.clone()));
    if report_problem(tenant, ctx, &verdicts, "Refuse").await? {
        tracing::warn!(tenant = %tenant.name_any(), generation = ?tenant.metadata.generation, reason = refusal.reason, message = %refusal.message, "spec refused");
        ctx.telemetry.metrics.tenant.refusal(refusal.reason);
    }
    Ok(())
}

/// Whether this process last reported `tenant`'s current generation as refused (`Valid`
/// false): its reconcile then ended without acting, an outcome of its own in the metrics.
pub fn is_refused(tenant: &Tenant, ctx: &Context) -> bool {
    let status = known_status(tenant, ctx);
    status.observed_generation == tenant.metadata.generation
        && condition_is(&status, conditions::VALID, "False")
}

/// Writes `desired` when it differs from the stored status. Returns whether it wrote.
pub async fn write_status(tenant: &Tenant, ctx: &Context, desired: TenantStatus) -> Result<bool> {
    // Every reconcile passes here with the status it computed, written or not: the metrics
    // the syndicate bills from follow it even when nothing changed (after a restart).
    ctx.telemetry
        .metrics
        .tenant
        .report(&tenant.name_any(), &desired);
    if known_status(tenant, ctx) == desired {
        return Ok(false);
    }
    let api: Api<Tenant> = Api::all(ctx.client.clone());
    let body = serde_json::json!({
        "apiVersion": crate::api::API_VERSION,
        "kind": "Tenant",
        "status": desired,
    });
    api.patch_status(
        &tenant.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    ctx.wrote("Tenant");
    ctx.last_status
        .lock()
        .expect("last status lock")
        .insert(tenant.name_any(), desired);
    Ok(true)
}

/// Publishes an event on the tenant; a failure to do so is logged, never fatal.
pub async fn event(
    ctx: &Context,
    tenant: &Tenant,
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
) {
    let ev = KubeEvent {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: action.into(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&ev, &tenant.object_ref(&())).await {
        tracing::warn!(%err, reason, "could not publish event");
    }
}
