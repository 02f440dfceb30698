//! The reconcile of one Tenant: dereference its catalogue, validate, plan, refuse what would lose
//! data, apply, prune, and report. Deletion runs the tenant's deletion policy.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DynamicObject};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use super::apply::{self, ChildKey};
use super::children::ChildCache;
use super::controller::Context;
use super::error::{Category, Result};
use super::report::{
    Refusal, condition_is, event, known_status, refuse, report_apply_failure, write_status,
};
use super::status::{self, ServiceParts, Verdict, Workloads};
use super::{cleanup, inputs, losses, volumes};
use crate::api::conditions::{self, reasons};
use crate::api::{Service, Tenant, TenantStatus};
use crate::plan::{self, Plan};

/// The finalizer that runs the deletion policy before a Tenant goes away.
pub const FINALIZER: &str = "mutualis.io/cleanup";

/// Entry point from the controller.
pub async fn reconcile(tenant: Arc<Tenant>, ctx: Arc<Context>) -> Result<Action> {
    // Decisions below (skip, prune, shrink check, catalogue lookup) read the caches: never
    // decide on a cache that has not had its first list.
    ctx.children.wait_until_ready().await;
    let _ = ctx.catalogs.wait_until_ready().await;
    let api: Api<Tenant> = Api::all(ctx.client.clone());
    let tenant = with_finalizer(&api, tenant).await?;
    let action = finalizer(&api, FINALIZER, tenant, |event| async {
        match event {
            Event::Apply(t) => apply_tenant(&t, &ctx).await,
            Event::Cleanup(t) => cleanup::run(&t, &ctx).await,
        }
    })
    .await?;
    Ok(action)
}

/// The tenant with our finalizer, added first if missing (and not being deleted). kube's
/// `finalizer` helper would add it and end the reconcile there, leaving the real work to the
/// reconcile its own write triggers: one reconcile more per new tenant. Here the work goes on
/// with the patched object; the patch carries the resourceVersion, so a concurrent change of
/// the finalizers fails it (409) rather than being overwritten.
async fn with_finalizer(api: &Api<Tenant>, tenant: Arc<Tenant>) -> Result<Arc<Tenant>> {
    if tenant.meta().deletion_timestamp.is_some()
        || tenant.finalizers().iter().any(|f| f == FINALIZER)
    {
        return Ok(tenant);
    }
    let mut finalizers = tenant.finalizers().to_vec();
    finalizers.push(FINALIZER.to_owned());
    let patch = serde_json::json!({
        "metadata": {
            "resourceVersion": tenant.resource_version(),
            "finalizers": finalizers,
        }
    });
    let patched = api
        .patch(
            &tenant.name_any(),
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await?;
    Ok(Arc::new(patched))
}

/// Stores each DKIM key as it is generated, in its tenant's Secret, without a reconcile: the
/// mail pod, which waits for that Secret, then starts by itself, and the reconcile its
/// readiness (and the Secret) triggers publishes the key in the zones and reports the mail
/// ready. A key that cannot be stored here (the tenant or its catalogue gone, an API error)
/// goes to `fallback`, which reconciles the tenant: the reconcile stores it then.
pub async fn store_keys(
    mut ready: futures::channel::mpsc::UnboundedReceiver<ObjectRef<Tenant>>,
    fallback: futures::channel::mpsc::UnboundedSender<ObjectRef<Tenant>>,
    ctx: Arc<Context>,
) {
    use futures::StreamExt;
    while let Some(tenant_ref) = ready.next().await {
        let stored = match ctx.tenants.get(&tenant_ref) {
            Some(tenant) => store_key(&tenant, &ctx).await,
            None => Ok(false),
        };
        match stored {
            Ok(true) => {}
            Ok(false) => {
                let _ = fallback.unbounded_send(tenant_ref);
            }
            Err(err) => {
                tracing::debug!(tenant = %tenant_ref.name, %err, "storing the DKIM key; the reconcile will");
                let _ = fallback.unbounded_send(tenant_ref);
            }
        }
    }
}

/// The DKIM Secrets of `tenant`'s plan made complete (the generated key is taken from the key
/// threads); false when the tenant is not in a state to plan (no catalogue, invalid, deleted).
async fn store_key(tenant: &Tenant, ctx: &Context) -> Result<bool> {
    if tenant.meta().deletion_timestamp.is_some() {
        return Ok(false);
    }
    let Some(catalog) = ctx.catalogs.get(&ObjectRef::new(&tenant.spec.catalog_ref)) else {
        return Ok(false);
    };
    let Ok(validated) = plan::validate(tenant, &catalog) else {
        return Ok(false);
    };
    let plan = plan::build(&validated, &plan::PlanInputs::default());
    let keys: Vec<plan::SecretRequest> = plan
        .secrets
        .into_iter()
        .filter(|s| {
            s.keys
                .iter()
                .any(|(_, k)| matches!(k, plan::SecretKind::RsaDkimKey { .. }))
        })
        .collect();
    let ensured = super::secrets::ensure(ctx, &tenant.name_any(), &keys).await?;
    Ok(!ensured.dkim_pending)
}

/// How soon a tenant that is not ready is reconciled again without an event.
const NOT_READY_RECHECK: std::time::Duration = std::time::Duration::from_secs(30);

async fn apply_tenant(tenant: &Tenant, ctx: &Context) -> Result<Action> {
    tracing::debug!(tenant = %tenant.name_any(), generation = ?tenant.metadata.generation, "reconciling");
    let Some(catalog) = ctx.catalogs.get(&ObjectRef::new(&tenant.spec.catalog_ref)) else {
        let refusal = Refusal {
            reason: reasons::CATALOG_NOT_FOUND,
            message: format!(
                "spec.catalogRef: no ServiceCatalog named {:?}; create it or name an existing one",
                tenant.spec.catalog_ref
            ),
        };
        refuse(tenant, ctx, refusal).await?;
        return Ok(Action::await_change());
    };
    let validated = match plan::validate(tenant, &catalog) {
        Ok(v) => v,
        Err(err) => {
            let refusal = Refusal {
                reason: reasons::INVALID_SPEC,
                message: err.to_string(),
            };
            refuse(tenant, ctx, refusal).await?;
            return Ok(Action::await_change());
        }
    };
    let namespace = validated.namespace().to_owned();
    if let Some(action) = super::guards::check(tenant, ctx, &namespace).await? {
        return Ok(action);
    }
    // A first plan names the objects whose state the real inputs come from.
    let mut inputs = inputs::observe(ctx, &namespace, None);
    let mut plan = plan::build(&validated, &inputs);
    let observed = inputs::observe(ctx, &namespace, Some(&plan));
    if observed != inputs {
        inputs = observed;
        plan = plan::build(&validated, &inputs);
    }
    let shrunk = volumes::shrinking(&plan.storage.volumes, &namespace, &ctx.children.volumes);
    if !shrunk.is_empty() {
        let message = volumes::shrink_refusal(&plan.tier, &shrunk);
        refuse(
            tenant,
            ctx,
            Refusal {
                reason: reasons::SHRINK_REFUSED,
                message,
            },
        )
        .await?;
        return Ok(Action::await_change());
    }

    // Volumes about to grow, known before the apply changes the cache.
    let resized = {
        let grown = volumes::growing(&plan.storage.volumes, &namespace, &ctx.children.volumes);
        (!grown.is_empty()).then(|| volumes::resized_note(&grown))
    };
    // Data the tenant had and lost stays absent until restored or acknowledged (`losses`).
    let recorded = known_status(tenant, ctx).provisioned;
    let found = losses::find(&recorded, &plan, &ctx.children);
    let acked = losses::acknowledged(
        &found,
        tenant
            .annotations()
            .get(losses::ACKNOWLEDGE_ANNOTATION)
            .map(String::as_str),
    );
    let lost = found.without(&acked);
    let plan = match realize(tenant, ctx, &validated, plan, inputs, &lost).await {
        Ok(plan) => plan,
        // The API server refused an object: report it and retry slowly, not in a loop.
        Err(err) if err.category() == Category::Rejected => {
            report_apply_failure(tenant, ctx, &err).await?;
            return Err(err);
        }
        Err(err) => return Err(err),
    };

    if tenant
        .annotations()
        .contains_key(losses::ACKNOWLEDGE_ANNOTATION)
    {
        losses::honoured(tenant, ctx, &acked).await?;
    }
    let verdicts = service_verdicts(tenant, &plan, ctx);
    let ready = if lost.is_empty() {
        status::ready_verdict(&verdicts)
    } else {
        let message = lost.message(&tenant.name_any(), &plan.namespace);
        Verdict::new(conditions::READY, false, lost.reason(), message)
    };
    let mut all = vec![
        ready.clone(),
        Verdict::new(
            conditions::VALID,
            true,
            reasons::VALID_SPEC,
            "the spec is valid against its catalogue",
        ),
    ];
    all.extend(verdicts);
    all.push(super::backoff::done());
    let known = known_status(tenant, ctx);
    let backup = super::backups::observe(
        validated.backup(),
        validated.backup().map(|b| b.repository(validated.name())),
        &ctx.children.backup_jobs.of_namespace(&namespace),
        known.backup.as_ref(),
        k8s_openapi::jiff::Timestamp::now(),
    );
    all.push(backup.verdict.clone());
    let newly_lost = !lost.is_empty() && !condition_reason_is(&known, lost.reason(), &ready);
    let desired = TenantStatus {
        observed_generation: tenant.metadata.generation,
        conditions: status::conditions(&known.conditions, &all, tenant.metadata.generation),
        namespace: Some(plan.namespace.clone()),
        // The tier applied; a refusal returns before this, leaving the previous one in status.
        tier: Some(plan.tier.clone()),
        member_count: Some(i32::try_from(tenant.spec.members.len()).unwrap_or(i32::MAX)),
        annual_contribution: Some(plan.annual_contribution),
        storage: plan.storage.by_service(),
        endpoints: Some(plan.endpoints.clone()),
        catalog_generation: catalog.metadata.generation,
        zones: plan
            .zones
            .iter()
            .map(|z| crate::api::ZoneStatus {
                name: z.origin.clone(),
                unicode: z.unicode.clone(),
                serial: z.version.serial,
            })
            .collect(),
        backup: backup.status.clone(),
        provisioned: losses::record(&recorded, &acked, &plan, &ctx.children),
    };
    let was_ready = condition_is(&known, conditions::READY, "True");
    tracing::debug!(tenant = %tenant.name_any(), "writing status");
    if write_status(tenant, ctx, desired).await? && ready.ready && !was_ready {
        event(
            ctx,
            tenant,
            EventType::Normal,
            "Provisioned",
            "Provision",
            &format!("all services ready in namespace {}", plan.namespace),
        )
        .await;
    }
    super::backups::report(ctx, tenant, known.backup.as_ref(), backup.status.as_ref()).await;
    if newly_lost {
        event(
            ctx,
            tenant,
            EventType::Warning,
            lost.reason(),
            "Provision",
            &ready.message,
        )
        .await;
    }
    if let Some(note) = resized {
        event(ctx, tenant, EventType::Normal, "Resized", "Resize", &note).await;
    }
    // Level-triggered safety net: a tenant that is not ready is looked at again even if no
    // event comes (one was seen to go missing under heavy load in the end-to-end tests).
    tracing::debug!(tenant = %tenant.name_any(), ready = ready.ready, message = %ready.message, "reconciled");
    let recheck = if ready.ready {
        ctx.resync
    } else {
        NOT_READY_RECHECK.min(ctx.resync)
    };
    let recheck = backup.recheck.map_or(recheck, |b| b.min(recheck));
    Ok(Action::requeue(recheck))
}

/// Applies the plan (namespace, then generated credentials, then the rest), prunes what it no
/// longer holds, and returns the plan as finally applied (a new DKIM key changes the zones).
async fn realize(
    tenant: &Tenant,
    ctx: &Context,
    validated: &plan::ValidatedTenant,
    mut plan: Plan,
    mut inputs: plan::PlanInputs,
    lost: &losses::Losses,
) -> Result<Plan> {
    let name = tenant.name_any();
    let owner = owner_reference(tenant);
    let wrote = |kind: &str| ctx.wrote(kind);
    let apply = |objects: Vec<DynamicObject>| {
        let owner = owner.clone();
        async move {
            apply::apply_objects(
                &ctx.client,
                &ctx.children,
                &ctx.records,
                &owner,
                objects,
                &wrote,
            )
            .await
        }
    };
    // The namespace must exist before the credentials that live in it; credentials before the
    // rest, since the DKIM key they create goes into the DNS zones.
    let split = plan
        .objects
        .iter()
        .take_while(|o| o.kind() == "Namespace")
        .count();
    let dynamic = |plan: &Plan, range: std::ops::Range<usize>| -> Vec<DynamicObject> {
        plan.objects[range].iter().map(|o| o.to_dynamic()).collect()
    };
    apply(dynamic(&plan, 0..split)).await?;
    let secrets: Vec<plan::SecretRequest> = plan
        .secrets
        .iter()
        .filter(|s| !lost.holds_secret(&s.name))
        .cloned()
        .collect();
    if let Some(dkim) = super::secrets::ensure(ctx, &name, &secrets).await?.dkim {
        inputs.dkim = Some(dkim);
        plan = plan::build(validated, &inputs);
    }
    let rest: Vec<DynamicObject> = plan.objects[split..]
        .iter()
        .filter(|o| !(o.kind() == "PersistentVolumeClaim" && lost.holds_claim(o.name())))
        .map(|o| o.to_dynamic())
        .collect();
    let mut keep: BTreeSet<ChildKey> = plan.objects[..split]
        .iter()
        .map(|o| ChildKey {
            kind: o.kind().to_owned(),
            namespace: o.namespace().map(str::to_owned),
            name: o.name().to_owned(),
        })
        .collect();
    keep.extend(rest.iter().map(apply::key_of));
    apply(rest).await?;

    keep.extend(plan.secrets.iter().map(|s| ChildKey {
        kind: "Secret".into(),
        namespace: Some(s.namespace.clone()),
        name: s.name.clone(),
    }));
    // A switched-off service keeps its volumes and credentials whatever the deletion policy:
    // switching it back on finds the data again. Only the Tenant's deletion under
    // `deletionPolicy: Delete` removes data (see `cleanup`).
    let delete_data = false;
    // Pruning scans the caches; it is needed only when the set of planned objects changed since
    // this process last pruned the tenant (always on the first reconcile after a start).
    let fingerprint = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&keep, delete_data).hash(&mut h);
        h.finish()
    };
    if ctx.pruned.lock().expect("pruned lock").get(&name) == Some(&fingerprint) {
        return Ok(plan);
    }
    let pruned = apply::prune(
        &ctx.client,
        &ctx.children,
        &ctx.records,
        &name,
        &keep,
        delete_data,
        &wrote,
    )
    .await?;
    if !pruned.is_empty() {
        tracing::info!(tenant = %name, pruned = pruned.len(), "pruned objects the plan no longer holds");
    }
    ctx.pruned
        .lock()
        .expect("pruned lock")
        .insert(name, fingerprint);
    Ok(plan)
}

/// Whether `known`'s Ready condition already says `verdict` for reason `reason` (the Warning
/// is published when a loss is first reported or changes, not at every reconcile).
fn condition_reason_is(known: &TenantStatus, reason: &str, verdict: &Verdict) -> bool {
    known
        .conditions
        .iter()
        .any(|c| c.type_ == conditions::READY && c.reason == reason && c.message == verdict.message)
}

/// The owner reference every owned child carries.
fn owner_reference(tenant: &Tenant) -> OwnerReference {
    let mut owner = tenant
        .controller_owner_ref(&())
        .expect("a Tenant from the API server has a name and uid");
    owner.block_owner_deletion = Some(true);
    owner
}

/// The workloads and volumes the plan gives `service`.
fn service_parts(plan: &Plan, service: Service) -> ServiceParts<'_> {
    let of_service = |o: &&plan::Object| {
        o.metadata()
            .labels
            .as_ref()
            .and_then(|l| l.get(plan::object::labels::SERVICE))
            .is_some_and(|s| s == service.name())
    };
    ServiceParts {
        deployments: plan
            .objects
            .iter()
            .filter(of_service)
            .filter(|o| o.kind() == "Deployment")
            .map(|o| o.name())
            .collect(),
        volumes: plan
            .storage
            .volumes
            .iter()
            .filter(|v| v.service == service)
            .collect(),
    }
}

fn service_verdicts(tenant: &Tenant, plan: &Plan, ctx: &Context) -> Vec<Verdict> {
    let w = Workloads {
        deployments: &ctx.children.deployments,
        volumes: &ctx.children.volumes,
        records: &ctx.records,
    };
    Service::ALL
        .into_iter()
        .map(|service| {
            let type_ = service.ready_condition();
            if !tenant.spec.services.is_on(service) {
                return Verdict::new(
                    type_,
                    false,
                    reasons::DISABLED,
                    format!("switched off in spec.services.{service}"),
                );
            }
            if let Some(w) = plan.waiting.iter().find(|w| w.service == service) {
                return Verdict::new(type_, false, w.reason, w.message.clone());
            }
            if service == Service::Dns {
                return dns_verdict(plan, ctx);
            }
            let parts = service_parts(plan, service);
            status::service_verdict(type_, &plan.namespace, &parts, &w)
        })
        .collect()
}

/// `DnsReady`: the zone ConfigMap is applied. The shared name servers are not part of a
/// tenant's plan (the chart installs them), so this is as far as a tenant can see.
fn dns_verdict(plan: &Plan, ctx: &Context) -> Verdict {
    let type_ = Service::Dns.ready_condition();
    let zones = plan.objects.iter().find(|o| {
        o.kind() == "ConfigMap"
            && o.metadata()
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(plan::services::dns::ZONE_LABEL))
    });
    let Some(zones) = zones else {
        return Verdict::new(type_, false, reasons::PROGRESSING, "no zone planned");
    };
    let at = format!("{}/{}", zones.namespace().unwrap_or_default(), zones.name());
    if ctx
        .children
        .config_maps
        .get(zones.namespace(), zones.name())
        .is_none()
    {
        return Verdict::new(
            type_,
            false,
            reasons::PROGRESSING,
            format!("ConfigMap {at} is being created"),
        );
    }
    let serials: Vec<String> = plan
        .zones
        .iter()
        .map(|z| format!("{} serial {}", z.origin, z.version.serial))
        .collect();
    Verdict::new(
        type_,
        true,
        reasons::READY,
        format!(
            "zones published in ConfigMap {at} ({}); the shared name servers load them on their own, outside this tenant's view",
            serials.join(", ")
        ),
    )
}
