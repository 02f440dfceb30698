//! What the pure plan needs from the cluster (`PlanInputs`), read from the caches.

use super::children::{ChildCache, ChildMeta};
use super::controller::Context;
use crate::plan::secrets::{DKIM_SECRET, DKIM_SELECTOR};
use crate::plan::{DkimPublicKey, Plan, PlanInputs, ZoneVersions};

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
        .zones_config_map()
        .and_then(|o| ctx.children.config_maps.get(o.namespace(), o.name()))
        .map(|cm| ZoneVersions::from_annotations(&cm.annotations))
        .unwrap_or_default();
    // cert-manager's Secret carries the tenant's labels (the Certificate's secretTemplate).
    let mail_certificate_issued = draft
        .mail_certificate_secret()
        .is_some_and(|name| ctx.children.secrets.get(Some(namespace), name).is_some());
    let load_balancer_addresses: std::collections::BTreeMap<String, Vec<std::net::IpAddr>> = draft
        .load_balancers()
        .filter_map(|name| {
            let state = ctx.children.services.state(Some(namespace), name)?;
            Some((name.to_owned(), state.addresses))
        })
        .collect();
    let mail_addresses = draft
        .mail_load_balancer()
        .and_then(|o| load_balancer_addresses.get(o.name()).cloned())
        .unwrap_or_default();
    PlanInputs {
        dkim,
        previous_zones,
        mail_addresses,
        mail_certificate_issued,
        load_balancer_addresses,
    }
}
