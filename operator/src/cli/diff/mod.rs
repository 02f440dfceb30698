//! `mutualis diff -f PATH...`: per Tenant, what applying the manifests would change in the live
//! cluster, before anything reaches it. The plan is the operator's own (`plan::plan`, fed with
//! the inputs the operator would read: DKIM key, zone serials, mail addresses); each planned
//! object is sent as a server-side dry-run apply with the operator's field manager, and the
//! answer compared with the live object. Nothing is written.
//!
//! Exit status: 0 nothing would change, 2 something would, 1 a refusal (a volume would shrink,
//! the API server rejects an object) or an error — as `kubectl diff` does for 0/1.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};

use super::error::CliError;
use super::input;
use crate::api::{ServiceCatalog, Tenant};
use crate::plan::PlanInputs;
use crate::reconcile::apply::{APPLIED_HASH, FIELD_MANAGER, digest};
use crate::reconcile::children::{ChildKind, Children, Retention};
use fields::changed_fields;
use live::{dynamic_api, growth, kind_of, observe, prunes, refuse_shrinks};
use report::{Report, describe};

mod fields;
mod live;
mod report;

#[derive(Args, Debug, Clone)]
pub struct DiffArgs {
    /// YAML file, directory or - for stdin, holding Tenants (and their ServiceCatalog, else the
    /// live one is used). Repeatable.
    #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// The kubeconfig context to use (its current context when absent).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

/// The verdict over every tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Unchanged,
    Changed,
    Refused,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Unchanged => 0,
            Outcome::Refused => 1,
            Outcome::Changed => 2,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(transparent)]
    Input(#[from] CliError),
    #[error("no usable Kubernetes configuration: {0}")]
    Config(String),
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot compare objects: {0}")]
    Json(#[from] serde_json::Error),
}

pub async fn run(args: DiffArgs, out: &mut dyn Write) -> Result<Outcome, DiffError> {
    let manifests = input::read(&args.files, &mut std::io::stdin().lock())?;
    if let Some(note) = manifests.skipped_note() {
        eprintln!("{note}");
    }
    let config = super::run::kube_config(args.context.as_deref())
        .await
        .map_err(DiffError::Config)?;
    let client = crate::reconcile::controller::client(config).map_err(DiffError::Kube)?;
    // The operator's table of child kinds (nothing is watched: the caches are never polled).
    let (children, _) = Children::new(&client, &Arc::new(Default::default()));
    let kinds: Vec<ChildKind> = children.all().iter().map(|c| c.kind().clone()).collect();
    let mut outcome = Outcome::Unchanged;
    for (_, tenant, _) in &manifests.tenants {
        let report = match manifests.catalog(&tenant.spec.catalog_ref) {
            Some(catalog) => diff_tenant(&client, &kinds, tenant, catalog).await?,
            None => {
                let live: Api<ServiceCatalog> = Api::all(client.clone());
                match live.get_opt(&tenant.spec.catalog_ref).await? {
                    Some(catalog) => diff_tenant(&client, &kinds, tenant, &catalog).await?,
                    None => Report::refused(
                        tenant,
                        format!(
                            "spec.catalogRef: no ServiceCatalog {:?} in the input nor in the cluster",
                            tenant.spec.catalog_ref
                        ),
                    ),
                }
            }
        };
        outcome = outcome.max(report.outcome());
        out.write_all(report.text.as_bytes())?;
    }
    out.flush()?;
    Ok(outcome)
}

async fn diff_tenant(
    client: &Client,
    kinds: &[ChildKind],
    tenant: &Tenant,
    catalog: &ServiceCatalog,
) -> Result<Report, DiffError> {
    let name = tenant.name_any();
    let mut report = Report::new(tenant);
    let tenants: Api<Tenant> = Api::all(client.clone());
    let live = tenants.get_opt(&name).await?;
    // The Tenant itself, through the API server's validation (schema, CEL rules).
    let mut desired = tenant.clone();
    desired.status = None;
    desired.metadata.resource_version = None;
    let answer = tenants
        .patch(
            &name,
            &PatchParams::apply("mutualis-diff").force().dry_run(),
            &Patch::Apply(&desired),
        )
        .await;
    match (answer, &live) {
        (Err(kube::Error::Api(s)), _) => {
            report.refuse(format!("the API server rejects the Tenant: {}", s.message));
            return Ok(report);
        }
        (Err(err), _) => return Err(err.into()),
        (Ok(after), Some(before)) => {
            let fields = changed_fields(
                &serde_json::to_value(before)?,
                &serde_json::to_value(&after)?,
            );
            if !fields.is_empty() {
                report.change("~", format!("Tenant {name}: {}", fields.join(", ")));
            }
        }
        (Ok(_), None) => report.change("+", format!("Tenant {name} (new)")),
    }
    let draft = match crate::plan::plan(tenant, catalog, &PlanInputs::default()) {
        Ok(plan) => plan,
        Err(err) => {
            report.refuse(format!("invalid spec: {err}"));
            return Ok(report);
        }
    };
    let inputs = observe(client, &draft).await?;
    let plan = crate::plan::plan(tenant, catalog, &inputs).expect("validated just above");
    let before = live
        .as_ref()
        .and_then(|t| t.status.as_ref()?.annual_contribution);
    report.line(
        " ",
        match before {
            Some(b) if b != plan.annual_contribution => {
                format!("contribution: {b} → {} EUR/year", plan.annual_contribution)
            }
            Some(b) => format!("contribution: {b} EUR/year (unchanged)"),
            None => format!("contribution: none → {} EUR/year", plan.annual_contribution),
        },
    );
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let namespace_exists = namespaces.get_opt(&plan.namespace).await?.is_some();
    let Some(owner) = live.as_ref().and_then(|t| t.controller_owner_ref(&())) else {
        for object in &plan.objects {
            report.change(
                "+",
                describe(object.kind(), object.namespace(), object.name()),
            );
        }
        return Ok(report);
    };
    if !refuse_shrinks(client, &plan, &mut report).await? {
        return Ok(report);
    }
    let mut keep = BTreeSet::new();
    // The quota comes first in apply order; a dry run of each later object is checked against
    // today's quota, not the one this change raises.
    let mut quota_raised = false;
    for object in &plan.objects {
        keep.insert((
            object.kind(),
            object.namespace().map(str::to_owned),
            object.name().to_owned(),
        ));
        let Some(kind) = kind_of(kinds, object) else {
            continue;
        };
        let what = describe(object.kind(), object.namespace(), object.name());
        let api = dynamic_api(client, kind, object.namespace());
        let current = if kind.namespaced && !namespace_exists {
            None
        } else {
            api.get_opt(object.name()).await?
        };
        let Some(current) = current else {
            report.change("+", what);
            continue;
        };
        let mut obj = object.to_dynamic();
        // As the reconciler applies it: its digest annotation, and an owner unless it is data.
        let hash = digest(&obj);
        obj.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(APPLIED_HASH.into(), hash);
        let mut owner = owner.clone();
        owner.block_owner_deletion = Some(true);
        if kind.retention == Retention::Owned {
            obj.metadata.owner_references = Some(vec![owner]);
        }
        let params = PatchParams::apply(FIELD_MANAGER).force().dry_run();
        match api.patch(object.name(), &params, &Patch::Apply(&obj)).await {
            Ok(after) => {
                let fields = changed_fields(
                    &serde_json::to_value(&current)?,
                    &serde_json::to_value(&after)?,
                );
                if let Some(grown) = growth(&current, object) {
                    report.change("↑", format!("{what}: grows {grown}"));
                } else if !fields.is_empty() {
                    quota_raised |= object.kind() == "ResourceQuota";
                    report.change("~", format!("{what}: {}", fields.join(", ")));
                }
            }
            Err(kube::Error::Api(s))
                if quota_raised && s.code == 403 && s.message.contains("exceeded quota") =>
            {
                match growth(&current, object) {
                    Some(grown) => report.change(
                        "↑",
                        format!("{what}: grows {grown} (within the raised quota)"),
                    ),
                    None => report.change("~", format!("{what}: within the raised quota")),
                }
            }
            Err(kube::Error::Api(s)) => {
                report.refuse(format!("the API server rejects {what}: {}", s.message));
            }
            Err(err) => return Err(err.into()),
        }
    }
    for secret in &plan.secrets {
        keep.insert((
            "Secret",
            Some(secret.namespace.clone()),
            secret.name.clone(),
        ));
        let secrets: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(client.clone(), &secret.namespace);
        if !namespace_exists || secrets.get_metadata_opt(&secret.name).await?.is_none() {
            report.change(
                "+",
                format!("Secret {}/{} (generated)", secret.namespace, secret.name),
            );
        }
    }
    prunes(client, kinds, tenant, &keep, &mut report).await?;
    if report.changes == 0 && !report.refused {
        report.line(" ", "no changes".into());
    }
    Ok(report)
}
