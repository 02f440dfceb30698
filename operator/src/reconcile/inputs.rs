//! What the pure plan needs from the cluster (`PlanInputs`), read from the caches.

use super::children::{ChildCache, ChildMeta};
use super::controller::Context;
use crate::api::Service;
use crate::plan::object::labels;
use crate::plan::secrets::{DKIM_SECRET, DKIM_SELECTOR};
use crate::plan::zone::ZONE_VERSIONS_ANNOTATION;
use crate::plan::{DkimPublicKey, Object, Plan, PlanInputs, ZoneVersions};

/// Annotation of the DKIM Secret repeating its RSA public key, so that the reconciler reads it
/// from its metadata cache (the key is public: it is published in DNS).
pub const DKIM_PUBLIC_KEY_ANNOTATION: &str = "mutualis.io/dkim-rsa-public-key";

fn dkim_of(secret: &ChildMeta) -> Option<DkimPublicKey> {
    dkim_from_annotations(&secret.annotations)
}

/// The DKIM public key recorded on the DKIM Secret's annotations (also read by `mutualis diff`).
pub fn dkim_from_annotations(
    annotations: &std::collections::BTreeMap<String, String>,
) -> Option<DkimPublicKey> {
    let key = annotations.get(DKIM_PUBLIC_KEY_ANNOTATION)?;
    Some(DkimPublicKey {
        algorithm: "rsa".into(),
        public_key_base64: key.clone(),
        selector: DKIM_SELECTOR.into(),
    })
}

/// The plan inputs of the tenant whose services live in `namespace`. `draft` is a plan built
/// from fewer inputs: it names the zone ConfigMap and the mail Service to read.
pub fn observe(ctx: &Context, namespace: &str, draft: Option<&Plan>) -> PlanInputs {
    let dkim = ctx
        .children
        .secrets
        .get(Some(namespace), DKIM_SECRET)
        .and_then(|s| dkim_of(&s));
    let Some(draft) = draft else {
        return PlanInputs {
            dkim,
            ..Default::default()
        };
    };
    // The zone ConfigMap lives in the shared DNS namespace, not the tenant's.
    let previous_zones = draft
        .objects
        .iter()
        .find(|o| {
            o.kind() == "ConfigMap"
                && o.metadata()
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key(ZONE_VERSIONS_ANNOTATION))
        })
        .and_then(|o| ctx.children.config_maps.get(o.namespace(), o.name()))
        .map(|cm| ZoneVersions::from_annotations(&cm.annotations))
        .unwrap_or_default();
    let mail_addresses = named(draft, "Service", |o| {
        o.metadata()
            .labels
            .as_ref()
            .and_then(|l| l.get(labels::SERVICE))
            .is_some_and(|s| s == Service::Mail.name())
            && matches!(o, Object::Service(s) if s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer"))
    })
    .and_then(|name| ctx.children.services.state(Some(namespace), &name))
    .map(|s| s.addresses)
    .unwrap_or_default();
    PlanInputs {
        dkim,
        previous_zones,
        mail_addresses,
    }
}

/// The name of the first object of `kind` in `plan` that `pick` accepts.
fn named(plan: &Plan, kind: &str, pick: impl Fn(&Object) -> bool) -> Option<String> {
    plan.objects
        .iter()
        .find(|o| o.kind() == kind && pick(o))
        .map(|o| o.name().to_owned())
}
