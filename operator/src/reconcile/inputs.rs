//! What the pure plan needs from the cluster (`PlanInputs`), read from the caches, and the
//! credentials the plan asks for, created once when absent and never rotated.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};

use super::children::{ChildCache, ChildMeta};
use super::controller::Context;
use super::credentials;
use super::error::Result;
use crate::api::Service;
use crate::plan::object::labels;
use crate::plan::secrets::{DKIM_SECRET, DKIM_SELECTOR};
use crate::plan::zone::ZONE_VERSIONS_ANNOTATION;
use crate::plan::{
    DkimPublicKey, Object, Plan, PlanInputs, SecretKind, SecretRequest, ZoneVersions,
};

/// Annotation of the DKIM Secret repeating its public key, so that the reconciler reads it from
/// its metadata cache (the key is public: it is published in DNS).
pub const DKIM_PUBLIC_KEY_ANNOTATION: &str = "mutualis.io/dkim-public-key";

fn dkim_of(secret: &ChildMeta) -> Option<DkimPublicKey> {
    let key = secret.annotations.get(DKIM_PUBLIC_KEY_ANNOTATION)?;
    Some(DkimPublicKey {
        algorithm: "ed25519".into(),
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
    let previous_zones = named(draft, "ConfigMap", |o| {
        o.metadata()
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(ZONE_VERSIONS_ANNOTATION))
    })
    .and_then(|name| ctx.children.config_maps.get(Some(namespace), &name))
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

/// Creates the Secrets of `requests` that do not exist yet. Returns the DKIM public key when it
/// created one (the zones then need it, before the cache has seen the new Secret).
pub async fn ensure_secrets(
    ctx: &Context,
    tenant: &str,
    requests: &[SecretRequest],
) -> Result<Option<DkimPublicKey>> {
    let mut dkim_created = None;
    for request in requests {
        if ctx
            .children
            .secrets
            .get(Some(&request.namespace), &request.name)
            .is_some()
        {
            continue;
        }
        let mut data = BTreeMap::new();
        let mut annotations = BTreeMap::new();
        for (name, kind) in &request.keys {
            match kind {
                SecretKind::Password { length } => {
                    data.insert(
                        name.clone(),
                        ByteString(credentials::password(usize::from(*length)).into_bytes()),
                    );
                }
                SecretKind::Ed25519DkimKey { public_key } => {
                    let pair = credentials::dkim_key_pair();
                    data.insert(name.clone(), ByteString(pair.private_pem.into_bytes()));
                    data.insert(
                        public_key.clone(),
                        ByteString(pair.public_base64.clone().into_bytes()),
                    );
                    annotations.insert(
                        DKIM_PUBLIC_KEY_ANNOTATION.to_owned(),
                        pair.public_base64.clone(),
                    );
                    dkim_created = Some(DkimPublicKey {
                        algorithm: "ed25519".into(),
                        public_key_base64: pair.public_base64,
                        selector: DKIM_SELECTOR.into(),
                    });
                }
            }
        }
        let labels = BTreeMap::from([
            (labels::MANAGED_BY.to_owned(), labels::MUTUALIS.to_owned()),
            (labels::PART_OF.to_owned(), labels::MUTUALIS.to_owned()),
            (labels::TENANT.to_owned(), tenant.to_owned()),
            (
                labels::SERVICE.to_owned(),
                request.service.name().to_owned(),
            ),
        ]);
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(request.name.clone()),
                namespace: Some(request.namespace.clone()),
                labels: Some(labels),
                annotations: (!annotations.is_empty()).then_some(annotations),
                ..Default::default()
            },
            type_: Some("Opaque".into()),
            data: Some(data),
            ..Default::default()
        };
        let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &request.namespace);
        match api.create(&PostParams::default(), &secret).await {
            Ok(_) => ctx.wrote("Secret"),
            // The cache lagged behind a Secret that exists: it is never overwritten.
            Err(kube::Error::Api(s)) if s.is_already_exists() => {}
            Err(err) => return Err(err.into()),
        }
        tracing::info!(tenant, secret = %request.name, "generated credentials");
    }
    Ok(dkim_created)
}
