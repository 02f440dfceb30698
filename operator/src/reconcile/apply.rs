//! Apply: server-side apply of the plan's objects with one field manager, in the plan's order,
//! skipping objects the caches show unchanged since our last apply; then prune what the plan no
//! longer holds, by label, sparing tenant data unless the deletion policy says otherwise.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Client;
use kube::Resource;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use sha2::{Digest, Sha256};

use super::children::{ChildCache, ChildMeta, Children, DriftSignal, Retention};
use super::error::{Error, Result};

/// The field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "mutualis";
/// Annotation holding the digest of the object as last planned.
pub const APPLIED_HASH: &str = "mutualis.io/applied-hash";

/// Identity of a child: kind, namespace, name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChildKey {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

/// What the API server answered to our last apply of a child.
#[derive(Clone, Debug)]
struct Applied {
    hash: String,
    generation: Option<i64>,
    resource_version: Option<String>,
    /// The digest of the answered spec, for `DriftSignal::Spec` kinds.
    spec: Option<u64>,
}

/// Remembers our own writes, so that their watch events are not mistaken for drift.
#[derive(Default)]
pub struct AppliedRecords(Mutex<HashMap<ChildKey, Applied>>);

impl AppliedRecords {
    fn unchanged(
        &self,
        key: &ChildKey,
        hash: &str,
        cached: &ChildMeta,
        cached_spec: Option<u64>,
        drift: DriftSignal,
    ) -> bool {
        if cached.deleting || cached.annotations.get(APPLIED_HASH).map(String::as_str) != Some(hash)
        {
            return false;
        }
        let records = self.0.lock().expect("applied records lock");
        let Some(rec) = records.get(key) else {
            // Not applied by this process yet: apply once, so drift from before a restart goes.
            return false;
        };
        rec.hash == hash
            && match drift {
                DriftSignal::Generation => rec.generation == cached.generation,
                DriftSignal::ResourceVersion => rec.resource_version == cached.resource_version,
                DriftSignal::Spec => rec.spec.is_some() && rec.spec == cached_spec,
                DriftSignal::Hash => true,
            }
    }

    /// The generation our last apply of `key` produced: the status must not call a workload
    /// current from a cache that has not seen that apply yet.
    pub fn applied_generation(&self, key: &ChildKey) -> Option<i64> {
        self.0
            .lock()
            .expect("applied records lock")
            .get(key)
            .and_then(|r| r.generation)
    }

    /// Whether `rv` of `key` is the version our own last apply produced: its watch event then
    /// brings nothing new and need not trigger a reconcile.
    pub fn is_own_write(&self, key: &ChildKey, rv: Option<&str>) -> bool {
        rv.is_some()
            && self
                .0
                .lock()
                .expect("applied records lock")
                .get(key)
                .is_some_and(|r| r.resource_version.as_deref() == rv)
    }

    fn record(&self, key: ChildKey, hash: String, versions: Versions) {
        self.0.lock().expect("applied records lock").insert(
            key,
            Applied {
                hash,
                generation: versions.generation,
                resource_version: versions.resource_version,
                spec: versions.spec,
            },
        );
    }

    fn forget(&self, key: &ChildKey) {
        self.0.lock().expect("applied records lock").remove(key);
    }

    /// Forgets every record of `tenant`'s namespace (on deletion).
    pub fn forget_namespace(&self, namespace: &str) {
        self.0
            .lock()
            .expect("applied records lock")
            .retain(|k, _| k.namespace.as_deref() != Some(namespace) && k.name != namespace);
    }
}

/// Digest of a planned object: a change of anything we apply changes it.
pub fn digest(obj: &DynamicObject) -> String {
    let bytes = serde_json::to_vec(obj).expect("a planned object serializes");
    let sum = Sha256::digest(&bytes);
    sum.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

pub fn key_of(obj: &DynamicObject) -> ChildKey {
    ChildKey {
        kind: obj
            .types
            .as_ref()
            .map(|t| t.kind.clone())
            .unwrap_or_default(),
        namespace: obj.metadata.namespace.clone(),
        name: obj.metadata.name.clone().unwrap_or_default(),
    }
}

/// Applies `objects` in order. Owned kinds get `owner` as controller reference; tenant data
/// never does. Returns the keys written.
pub async fn apply_objects(
    client: &Client,
    children: &Children,
    records: &AppliedRecords,
    owner: &OwnerReference,
    objects: Vec<DynamicObject>,
    on_write: &(dyn Fn(&str) + Sync),
) -> Result<Vec<ChildKey>> {
    let mut written = Vec::new();
    for mut obj in objects {
        let key = key_of(&obj);
        let api_version = obj
            .types
            .as_ref()
            .map(|t| t.api_version.as_str())
            .unwrap_or_default();
        let cache = children
            .cache(api_version, &key.kind)
            .ok_or_else(|| Error::UnmanagedKind(format!("{api_version}/{}", key.kind)))?;
        // The digest of the object as planned, before the apply step's own additions.
        let hash = digest(&obj);
        obj.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(APPLIED_HASH.into(), hash.clone());
        if cache.kind().retention == Retention::Owned {
            obj.metadata.owner_references = Some(vec![owner.clone()]);
        }
        let cached = cache.get(key.namespace.as_deref(), &key.name);
        let cached_spec = children.spec_digest(&key.kind, key.namespace.as_deref(), &key.name);
        if let Some(cached) = &cached
            && records.unchanged(&key, &hash, cached, cached_spec, cache.kind().drift)
        {
            continue;
        }
        let prerequisite = crate::plan::kinds::child_kind(&key.kind).and_then(|k| k.prerequisite());
        let result = ssa(client, cache.as_ref(), &obj).await.map_err(|source| {
            match (&source, prerequisite) {
                (kube::Error::Api(s), Some(prerequisite)) if s.is_not_found() => Error::NotServed {
                    kind: key.kind.clone(),
                    api_version: api_version.to_owned(),
                    name: key.name.clone(),
                    prerequisite,
                },
                // The tenant's namespace is applied first; another one is the zones'.
                (kube::Error::Api(s), None)
                    if s.is_not_found()
                        && s.details.as_ref().is_some_and(|d| d.kind == "namespaces") =>
                {
                    Error::NamespaceMissing {
                        kind: key.kind.clone(),
                        name: key.name.clone(),
                        namespace: key.namespace.clone().unwrap_or_default(),
                    }
                }
                _ => Error::Apply {
                    kind: key.kind.clone(),
                    name: key.name.clone(),
                    source,
                },
            }
        })?;
        on_write(&key.kind);
        tracing::debug!(kind = %key.kind, name = %key.name, generation = ?result.generation, rv = ?result.resource_version, "applied");
        records.record(key.clone(), hash, result);
        written.push(key);
    }
    Ok(written)
}

fn api_for(client: &Client, cache: &dyn ChildCache, namespace: Option<&str>) -> Api<DynamicObject> {
    let ar = &cache.kind().resource;
    match namespace {
        Some(ns) if cache.kind().namespaced => Api::namespaced_with(client.clone(), ns, ar),
        _ => Api::all_with(client.clone(), ar),
    }
}

/// The versions an apply answered with: all the apply step keeps of the returned object.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Versions {
    generation: Option<i64>,
    resource_version: Option<String>,
    #[serde(skip)]
    spec: Option<u64>,
}

#[derive(serde::Deserialize)]
struct Answer {
    metadata: Versions,
}

/// The versions and drift digest of a `DriftSignal::Spec` kind's answer, decoded whole as `K`
/// (the type its cache watches, so both digests are taken the same way).
async fn digest_answer<K: serde::de::DeserializeOwned + Resource>(
    client: &Client,
    request: http::Request<Vec<u8>>,
    digest: fn(&K) -> u64,
) -> Result<Versions, kube::Error> {
    let obj: K = client.request(request).await?;
    let m = obj.meta();
    Ok(Versions {
        generation: m.generation,
        resource_version: m.resource_version.clone(),
        spec: Some(digest(&obj)),
    })
}

/// Server-side apply of `obj`. The answer is read into [`Versions`] only: decoding whole
/// objects (managed fields included) would cost memory and time for nothing.
async fn ssa(
    client: &Client,
    cache: &dyn ChildCache,
    obj: &DynamicObject,
) -> Result<Versions, kube::Error> {
    let kind = cache.kind();
    let namespace = obj
        .metadata
        .namespace
        .as_deref()
        .filter(|_| kind.namespaced);
    let url = DynamicObject::url_path(&kind.resource, namespace);
    let name = obj.metadata.name.clone().unwrap_or_default();
    let request = kube::core::Request::new(url)
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(obj),
        )
        .map_err(kube::Error::BuildRequest)?;
    // The kinds of `DriftSignal::Spec` (`Children::spec_digest` holds the other half).
    use super::children::{ingress_digest, quota_digest, service_digest};
    use k8s_openapi::api::{core::v1 as core, networking::v1 as networking};
    match kind.resource.kind.as_str() {
        "ResourceQuota" => {
            return digest_answer::<core::ResourceQuota>(client, request, quota_digest).await;
        }
        "Service" => return digest_answer::<core::Service>(client, request, service_digest).await,
        "Ingress" => {
            return digest_answer::<networking::Ingress>(client, request, ingress_digest).await;
        }
        _ => {}
    }
    let answer: Answer = client.request(request).await?;
    Ok(answer.metadata)
}

/// Deletes `tenant`'s children that `keep` does not hold. Data and the namespace are spared
/// unless `delete_data`; the namespace is never pruned here (cleanup decides its fate).
pub async fn prune(
    client: &Client,
    children: &Children,
    records: &AppliedRecords,
    tenant: &str,
    keep: &BTreeSet<ChildKey>,
    delete_data: bool,
    on_write: &(dyn Fn(&str) + Sync),
) -> Result<Vec<ChildKey>> {
    let mut pruned = Vec::new();
    for cache in children.all() {
        let retention = cache.kind().retention;
        if retention == Retention::Namespace || (retention == Retention::Data && !delete_data) {
            continue;
        }
        for child in cache.of_tenant(tenant) {
            let key = ChildKey {
                kind: cache.kind().resource.kind.clone(),
                namespace: child.namespace.clone(),
                name: child.name.clone(),
            };
            if keep.contains(&key) || child.deleting {
                continue;
            }
            // Secrets we generated are not in the plan's objects but in `keep` via the caller.
            let api = api_for(client, cache.as_ref(), child.namespace.as_deref());
            match api.delete(&child.name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.is_not_found() => {}
                Err(err) => return Err(err.into()),
            }
            on_write(&key.kind);
            records.forget(&key);
            pruned.push(key);
        }
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(rv: &str) -> ChildMeta {
        ChildMeta {
            namespace: Some("mutualis-t".into()),
            name: "tenant-quota".into(),
            tenant: Some("t".into()),
            annotations: [(APPLIED_HASH.to_string(), "h".to_string())].into(),
            generation: Some(1),
            resource_version: Some(rv.into()),
            owner_uids: vec![],
            deleting: false,
        }
    }

    /// A quota whose usage others rewrite is unchanged while its spec is; a spec edit is not.
    #[test]
    fn the_spec_signal_ignores_status_writes_and_sees_spec_edits() {
        let records = AppliedRecords::default();
        let key = ChildKey {
            kind: "ResourceQuota".into(),
            namespace: Some("mutualis-t".into()),
            name: "tenant-quota".into(),
        };
        let versions = Versions {
            generation: Some(1),
            resource_version: Some("10".into()),
            spec: Some(7),
        };
        records.record(key.clone(), "h".into(), versions);
        let spec = DriftSignal::Spec;
        assert!(records.unchanged(&key, "h", &meta("10"), Some(7), spec));
        assert!(
            records.unchanged(&key, "h", &meta("11"), Some(7), spec),
            "status write"
        );
        assert!(
            !records.unchanged(&key, "h", &meta("12"), Some(8), spec),
            "spec edit"
        );
        assert!(
            !records.unchanged(&key, "h", &meta("12"), None, spec),
            "not cached"
        );
        // The resource-version signal sees any write.
        let rv = DriftSignal::ResourceVersion;
        assert!(records.unchanged(&key, "h", &meta("10"), None, rv));
        assert!(!records.unchanged(&key, "h", &meta("11"), None, rv));
    }
}
