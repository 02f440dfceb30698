//! Data that disappeared under the operator: a generated Secret or a volume claim the tenant
//! had (recorded in `status.provisioned` once seen: a Secret once it exists, a claim once it is
//! Bound) and no longer has. Re-creating it silently would hand the services a new password
//! for an old database, an empty volume or a new DKIM key, and call that Ready; so a lost item
//! is reported (`Ready` false, `CredentialsLost` / `VolumeLost`, a Warning event) and left
//! absent until a person restores it from backup or acknowledges the loss with the Tenant
//! annotation [`ACKNOWLEDGE_ANNOTATION`] (docs/recovery.md). Everything else of the tenant
//! goes on being reconciled: other services do not suffer from one service's loss.

use std::collections::BTreeSet;

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;

use super::children::{ChildCache, Children};
use super::controller::Context;
use super::error::Result;
use super::report::event;
use crate::api::Tenant;
use crate::api::conditions::reasons;
use crate::plan::Plan;

/// Tenant annotation acknowledging lost items: `all`, or a comma-separated list of
/// `Secret/<name>`, `PersistentVolumeClaim/<name>` or bare names. Honoured once: the operator
/// removes it after re-creating what it names.
pub const ACKNOWLEDGE_ANNOTATION: &str = "mutualis.io/acknowledge-lost";

const SECRET: &str = "Secret/";
const CLAIM: &str = "PersistentVolumeClaim/";

/// What the tenant had and has lost, as `Kind/name`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Losses {
    pub credentials: Vec<String>,
    pub volumes: Vec<String>,
}

impl Losses {
    pub fn is_empty(&self) -> bool {
        self.credentials.is_empty() && self.volumes.is_empty()
    }

    /// Every lost item.
    pub fn items(&self) -> impl Iterator<Item = &String> {
        self.volumes.iter().chain(&self.credentials)
    }

    /// The `Ready` reason: a lost volume is the graver (data is gone, not only a key to it).
    pub fn reason(&self) -> &'static str {
        if self.volumes.is_empty() {
            reasons::CREDENTIALS_LOST
        } else {
            reasons::VOLUME_LOST
        }
    }

    /// A message a person can act on: what is gone, what the operator does, the two ways out.
    pub fn message(&self, tenant: &str, namespace: &str) -> String {
        let items: Vec<&str> = self.items().map(String::as_str).collect();
        format!(
            "lost in namespace {namespace}: {}; not re-created, the services that use them wait. Restore them from backup, or accept new empty ones with `kubectl annotate tenant {tenant} {ACKNOWLEDGE_ANNOTATION}={}` (docs/recovery.md)",
            items.join(", "),
            items.join(",")
        )
    }
}

/// The items of the plan that status recorded and the caches no longer hold.
pub fn find(recorded: &[String], plan: &Plan, children: &Children) -> Losses {
    let recorded: BTreeSet<&str> = recorded.iter().map(String::as_str).collect();
    let ns = Some(plan.namespace.as_str());
    let mut losses = Losses::default();
    for s in &plan.secrets {
        let item = format!("{SECRET}{}", s.name);
        if recorded.contains(item.as_str()) && children.secrets.get(ns, &s.name).is_none() {
            losses.credentials.push(item);
        }
    }
    for v in &plan.storage.volumes {
        let item = format!("{CLAIM}{}", v.pvc);
        if recorded.contains(item.as_str()) && children.volumes.get(ns, v.pvc).is_none() {
            losses.volumes.push(item);
        }
    }
    losses
}

/// The lost items `annotation` acknowledges.
pub fn acknowledged(losses: &Losses, annotation: Option<&str>) -> Vec<String> {
    let Some(value) = annotation else {
        return Vec::new();
    };
    let named: BTreeSet<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    losses
        .items()
        .filter(|item| {
            let bare = item.split_once('/').map_or(item.as_str(), |(_, n)| n);
            named.contains("all") || named.contains(item.as_str()) || named.contains(bare)
        })
        .cloned()
        .collect()
}

impl Losses {
    /// What is still lost once `acked` is accepted.
    pub fn without(&self, acked: &[String]) -> Losses {
        let keep = |v: &Vec<String>| v.iter().filter(|i| !acked.contains(i)).cloned().collect();
        Losses {
            credentials: keep(&self.credentials),
            volumes: keep(&self.volumes),
        }
    }

    /// Whether the plan must leave Secret `name` absent.
    pub fn holds_secret(&self, name: &str) -> bool {
        self.credentials
            .iter()
            .any(|i| i.strip_prefix(SECRET) == Some(name))
    }

    /// Whether the plan must leave claim `name` absent.
    pub fn holds_claim(&self, name: &str) -> bool {
        self.volumes
            .iter()
            .any(|i| i.strip_prefix(CLAIM) == Some(name))
    }
}

/// The record for status: what was recorded and is neither acknowledged nor still lost…
/// plus what exists now (Secrets present, claims Bound). Sorted, no duplicates.
pub fn record(
    recorded: &[String],
    acked: &[String],
    plan: &Plan,
    children: &Children,
) -> Vec<String> {
    let ns = Some(plan.namespace.as_str());
    let mut out: BTreeSet<String> = recorded
        .iter()
        .filter(|i| !acked.contains(i))
        .cloned()
        .collect();
    for s in &plan.secrets {
        if children.secrets.get(ns, &s.name).is_some() {
            out.insert(format!("{SECRET}{}", s.name));
        }
    }
    for v in &plan.storage.volumes {
        let bound = children
            .volumes
            .state(ns, v.pvc)
            .is_some_and(|s| s.phase.as_deref() == Some("Bound"));
        if bound {
            out.insert(format!("{CLAIM}{}", v.pvc));
        }
    }
    out.into_iter().collect()
}

/// After a reconcile that re-created what `acked` names: says so (event) and removes the
/// annotation, so that it cannot silently accept a later loss.
pub async fn honoured(tenant: &Tenant, ctx: &Context, acked: &[String]) -> Result<()> {
    if !acked.is_empty() {
        let note = format!(
            "loss acknowledged by {ACKNOWLEDGE_ANNOTATION}; re-created empty: {}",
            acked.join(", ")
        );
        event(
            ctx,
            tenant,
            EventType::Normal,
            "LostAcknowledged",
            "Provision",
            &note,
        )
        .await;
    }
    let api: Api<Tenant> = Api::all(ctx.client.clone());
    let body = serde_json::json!({"metadata": {"annotations": {ACKNOWLEDGE_ANNOTATION: null}}});
    api.patch(
        &tenant.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&body),
    )
    .await?;
    ctx.wrote("Tenant");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn losses() -> Losses {
        Losses {
            credentials: vec!["Secret/collaboration-db".into()],
            volumes: vec!["PersistentVolumeClaim/nas-data".into()],
        }
    }

    #[test]
    fn an_acknowledgement_names_items_in_full_bare_or_all() {
        let l = losses();
        assert!(acknowledged(&l, None).is_empty());
        assert_eq!(
            acknowledged(&l, Some("nas-data")),
            ["PersistentVolumeClaim/nas-data"]
        );
        assert_eq!(
            acknowledged(&l, Some(" Secret/collaboration-db , other")),
            ["Secret/collaboration-db"]
        );
        assert_eq!(acknowledged(&l, Some("all")).len(), 2);
        let rest = l.without(&acknowledged(&l, Some("nas-data")));
        assert!(rest.volumes.is_empty() && rest.holds_secret("collaboration-db"));
        assert!(!rest.holds_claim("nas-data"));
    }

    #[test]
    fn a_lost_volume_outranks_lost_credentials_and_the_message_says_what_to_do() {
        let l = losses();
        assert_eq!(l.reason(), reasons::VOLUME_LOST);
        let only_keys = Losses {
            volumes: vec![],
            ..losses()
        };
        assert_eq!(only_keys.reason(), reasons::CREDENTIALS_LOST);
        let m = l.message("tresses", "mutualis-tresses");
        assert!(
            m.contains("PersistentVolumeClaim/nas-data, Secret/collaboration-db"),
            "{m}"
        );
        assert!(
            m.contains("kubectl annotate tenant tresses mutualis.io/acknowledge-lost="),
            "{m}"
        );
        assert!(m.contains("backup"), "{m}");
    }
}
