//! The credentials the plan asks for: each Secret created once, each key generated once and
//! never changed. A Secret that lacks a key the plan now asks for (a new member's NAS user, the
//! RSA DKIM key of a tenant created with an older version) gains it by a merge patch that only
//! adds. Which keys a Secret holds is recorded in an annotation, so the metadata cache knows
//! without reading the values.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};

use super::children::ChildCache;
use super::controller::Context;
use super::credentials;
use super::error::Result;
use super::inputs::DKIM_PUBLIC_KEY_ANNOTATION;
use crate::plan::object::labels;
use crate::plan::secrets::DKIM_SELECTOR;
use crate::plan::{DkimPublicKey, SecretKind, SecretRequest};

/// Annotation listing the keys mutualis generated into a Secret (comma-separated).
pub const GENERATED_KEYS_ANNOTATION: &str = "mutualis.io/generated-keys";

/// What `ensure` did.
#[derive(Debug, Default)]
pub struct Ensured {
    /// The DKIM public key, when this call stored it (the cache has not seen it yet).
    pub dkim: Option<DkimPublicKey>,
    /// A DKIM key is still being generated.
    pub dkim_pending: bool,
}

/// The keys an existing Secret holds: from its annotation, or (a Secret older than the
/// annotation) from the Secret itself.
async fn existing_keys(
    ctx: &Context,
    request: &SecretRequest,
    annotations: Option<&BTreeMap<String, String>>,
) -> Result<BTreeSet<String>> {
    if let Some(list) = annotations.and_then(|a| a.get(GENERATED_KEYS_ANNOTATION)) {
        return Ok(list
            .split(',')
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect());
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &request.namespace);
    let secret = api.get(&request.name).await?;
    Ok(secret.data.unwrap_or_default().into_keys().collect())
}

/// Makes every Secret of `requests` exist with every key it asks for.
pub async fn ensure(ctx: &Context, tenant: &str, requests: &[SecretRequest]) -> Result<Ensured> {
    let mut ensured = Ensured::default();
    for request in requests {
        let cached = ctx
            .children
            .secrets
            .get(Some(&request.namespace), &request.name);
        let have = match &cached {
            Some(c) => existing_keys(ctx, request, Some(&c.annotations)).await?,
            None => BTreeSet::new(),
        };
        let missing: Vec<&(String, SecretKind)> = request
            .keys
            .iter()
            .filter(|(k, _)| !have.contains(k))
            .collect();
        // The key generator's name for this Secret.
        let id = format!("{}/{}", request.namespace, request.name);
        // A DKIM key the Secret is seen to hold needs nothing more from the key threads.
        for (name, kind) in &request.keys {
            if matches!(kind, SecretKind::RsaDkimKey { .. }) && have.contains(name) {
                ctx.dkim_keys.forget(&id);
            }
        }
        if missing.is_empty() {
            // Record the keys of a Secret older than the annotation, once.
            if cached.is_some_and(|c| !c.annotations.contains_key(GENERATED_KEYS_ANNOTATION)) {
                patch(ctx, request, BTreeMap::new(), annotations_for(&have, None)).await?;
            }
            continue;
        }
        let mut data = BTreeMap::new();
        let mut dkim = None;
        // The key taken from the generator, given back if it cannot be stored.
        let mut taken: Option<(String, credentials::DkimKeyPair)> = None;
        let mut complete = true;
        for (name, kind) in missing {
            match kind {
                SecretKind::Password { length } => {
                    let value = credentials::password(usize::from(*length));
                    data.insert(name.clone(), ByteString(value.into_bytes()));
                }
                SecretKind::RsaDkimKey { public_key } => {
                    let Some(pair) = ctx.dkim_keys.take_or_start(&id, tenant) else {
                        ensured.dkim_pending = true;
                        complete = false;
                        continue;
                    };
                    data.insert(
                        name.clone(),
                        ByteString(pair.private_pem.clone().into_bytes()),
                    );
                    data.insert(
                        public_key.clone(),
                        ByteString(pair.public_base64.clone().into_bytes()),
                    );
                    dkim = Some(pair.public_base64.clone());
                    taken = Some((id.clone(), pair));
                }
                SecretKind::CopiedFrom {
                    namespace,
                    name: source,
                    key,
                } => {
                    let Some(value) = copied(ctx, namespace, source, key).await? else {
                        complete = false;
                        continue;
                    };
                    data.insert(name.clone(), value);
                }
            }
        }
        if data.is_empty() {
            continue;
        }
        let keys: BTreeSet<String> = have.iter().cloned().chain(data.keys().cloned()).collect();
        let annotations = annotations_for(&keys, dkim.as_deref());
        let stored = if cached.is_some() {
            patch(ctx, request, data, annotations).await
        } else {
            create(ctx, tenant, request, data, annotations).await
        };
        if let Err(err) = stored {
            // Not stored (an API error, a lost lease): the key goes back to the generator, so
            // the next attempt stores this one rather than waiting for it forever.
            if let Some((id, pair)) = taken {
                ctx.dkim_keys.give_back(&id, pair);
            }
            return Err(err);
        }
        if let Some(key) = dkim {
            ensured.dkim = Some(DkimPublicKey {
                algorithm: "rsa".into(),
                public_key_base64: key,
                selector: DKIM_SELECTOR.into(),
            });
        }
        tracing::info!(tenant, secret = %request.name, complete, "generated credentials");
    }
    Ok(ensured)
}

/// `key` of Secret `namespace/name`, read once (not cached: it is not a child of any tenant);
/// `None`, with a warning, while it does not exist or lacks the key.
async fn copied(
    ctx: &Context,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<Option<ByteString>> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let value = api
        .get_opt(name)
        .await?
        .and_then(|s| s.data)
        .and_then(|mut d| d.remove(key));
    if value.is_none() {
        tracing::warn!(secret = %format!("{namespace}/{name}"), key, "the Secret to copy does not exist or lacks the key");
    }
    Ok(value)
}

fn annotations_for(keys: &BTreeSet<String>, dkim: Option<&str>) -> BTreeMap<String, String> {
    let mut a = BTreeMap::from([(
        GENERATED_KEYS_ANNOTATION.to_owned(),
        keys.iter().cloned().collect::<Vec<_>>().join(","),
    )]);
    if let Some(key) = dkim {
        a.insert(DKIM_PUBLIC_KEY_ANNOTATION.to_owned(), key.to_owned());
    }
    a
}

async fn create(
    ctx: &Context,
    tenant: &str,
    request: &SecretRequest,
    data: BTreeMap<String, ByteString>,
    annotations: BTreeMap<String, String>,
) -> Result<()> {
    let labels = BTreeMap::from([
        (labels::MANAGED_BY.to_owned(), labels::MUTUALIS.to_owned()),
        (labels::PART_OF.to_owned(), labels::MUTUALIS.to_owned()),
        (labels::TENANT.to_owned(), tenant.to_owned()),
        (
            labels::SERVICE.to_owned(),
            request.service.label().to_owned(),
        ),
    ]);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(request.name.clone()),
            namespace: Some(request.namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Default::default()
    };
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &request.namespace);
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => ctx.wrote("Secret"),
        // The cache lagged behind a Secret that exists: it is never overwritten; the next
        // reconcile adds what it lacks.
        Err(kube::Error::Api(s)) if s.is_already_exists() => {}
        Err(err) => return Err(err.into()),
    }
    Ok(())
}

/// Adds `data` keys (a JSON merge patch only adds or replaces the keys it names: these are
/// absent) and records the key list.
async fn patch(
    ctx: &Context,
    request: &SecretRequest,
    data: BTreeMap<String, ByteString>,
    annotations: BTreeMap<String, String>,
) -> Result<()> {
    let mut body = serde_json::json!({"metadata": {"annotations": annotations}});
    if !data.is_empty() {
        body["data"] = serde_json::to_value(&data).expect("Secret data serializes");
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &request.namespace);
    api.patch(&request.name, &PatchParams::default(), &Patch::Merge(&body))
        .await?;
    ctx.wrote("Secret");
    Ok(())
}
