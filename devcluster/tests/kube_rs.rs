//! kube-rs 5 against the development cluster: typed and dynamic `Api` CRUD, the watcher through
//! a forced expiry and as a streaming list, and a `Controller` with `.owns()`, the finalizer
//! helper and the event Recorder — idle without hot loops, cleaning up on delete.

mod common;

use common::{TENANT_CRD, eventually, start};
use devcluster::Config;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::watcher;
use kube::{Client, CustomResource, Resource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "example.io",
    version = "v1",
    kind = "Tenant",
    namespaced,
    status = "TenantStatus"
)]
pub struct TenantSpec {
    plan: String,
    #[serde(default)]
    members: i64,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
pub struct TenantStatus {
    ready: bool,
}

async fn client(env: &common::Env) -> Client {
    let kc = Kubeconfig::from_yaml(&env.cluster.kubeconfig_yaml()).expect("kubeconfig parses");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(cfg).expect("client")
}

async fn with_crd(env: &common::Env) -> Client {
    let c = client(env).await;
    let crd: serde_json::Value = serde_saphyr::from_str(TENANT_CRD).expect("crd yaml");
    let api: Api<DynamicObject> = Api::all_with(
        c.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    api.patch(
        "tenants.example.io",
        &PatchParams::apply("test").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("crd apply");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_and_dynamic_crud() {
    let env = start(Config::default()).await;
    let c = with_crd(&env).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("a".into());
    cm.data = Some([("k".to_string(), "v".to_string())].into());
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    assert!(created.metadata.uid.is_some() && created.metadata.resource_version.is_some());
    let err = cms.create(&PostParams::default(), &cm).await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.reason == "AlreadyExists" && s.code == 409),
        "{err:?}"
    );
    assert!(cms.get_opt("nope").await.unwrap().is_none());

    // Optimistic concurrency: a stale resourceVersion is a Conflict.
    let mut stale = created.clone();
    let mut fresh = created.clone();
    fresh.data = Some([("k".to_string(), "w".to_string())].into());
    cms.replace("a", &PostParams::default(), &fresh)
        .await
        .unwrap();
    stale.data = Some([("k".to_string(), "x".to_string())].into());
    let err = cms
        .replace("a", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.reason == "Conflict"),
        "{err:?}"
    );

    // Merge patch, then server-side apply by two managers, then list by label.
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "x"}}})),
    )
    .await
    .unwrap();
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"owned": "1"}});
    cms.patch("a", &PatchParams::apply("mgr"), &Patch::Apply(&applied))
        .await
        .unwrap();
    let listed = cms
        .list(&ListParams::default().labels("app=x"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.metadata.resource_version.is_some());
    // The manager stops applying `owned`: the field goes away.
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"other": "2"}});
    let after = cms
        .patch("a", &PatchParams::apply("mgr"), &Patch::Apply(&applied))
        .await
        .unwrap();
    let data = after.data.unwrap();
    assert!(
        !data.contains_key("owned") && data["other"] == "2" && data["k"] == "w",
        "{data:?}"
    );

    // Dry run stores nothing.
    let mut dry = ConfigMap::default();
    dry.metadata.name = Some("dry".into());
    cms.create(
        &PostParams {
            dry_run: true,
            ..Default::default()
        },
        &dry,
    )
    .await
    .unwrap();
    assert!(cms.get_opt("dry").await.unwrap().is_none());

    // Typed custom resource: spec defaulting from the schema, status subresource.
    let tenants: Api<Tenant> = Api::namespaced(c.clone(), "default");
    let t = Tenant::new(
        "x",
        TenantSpec {
            plan: "gold".into(),
            members: 3,
        },
    );
    let t = tenants
        .patch("x", &PatchParams::apply("test"), &Patch::Apply(&t))
        .await
        .unwrap();
    assert_eq!(t.metadata.generation, Some(1));
    let st = json!({"apiVersion": "example.io/v1", "kind": "Tenant", "status": {"ready": true}});
    let t2 = tenants
        .patch_status("x", &PatchParams::apply("test"), &Patch::Apply(&st))
        .await
        .unwrap();
    assert_eq!(
        t2.metadata.generation,
        Some(1),
        "status writes never bump generation"
    );
    assert!(t2.status.unwrap().ready);
    assert!(tenants.get_status("x").await.unwrap().status.unwrap().ready);
    let mut current = tenants.get_status("x").await.unwrap();
    current.status = Some(TenantStatus { ready: true });
    current.spec.members = 99;
    let replaced = tenants
        .replace_status("x", &PostParams::default(), &current)
        .await
        .unwrap();
    assert_eq!(
        replaced.spec.members, 3,
        "a status replace changes only the status"
    );
    let t3 = tenants
        .patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"members": 4}, "status": {"ready": false}})),
        )
        .await
        .unwrap();
    assert_eq!(t3.metadata.generation, Some(2));
    assert!(
        t3.status.unwrap().ready,
        "main-resource writes ignore status"
    );
    let err = tenants
        .patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"plan": "bad"}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.reason == "Invalid" && s.code == 422),
        "{err:?}"
    );

    // Dynamic objects.
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.io", "v1", "Tenant"),
        "tenants",
    );
    let dynamic: Api<DynamicObject> = Api::namespaced_with(c.clone(), "default", &ar);
    let d = dynamic.get("x").await.unwrap();
    assert_eq!(d.data["spec"]["members"], 4);
    let all: Api<DynamicObject> = Api::all_with(c.clone(), &ar);
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
    let gone = dynamic
        .delete("x", &DeleteParams::background())
        .await
        .unwrap();
    assert!(gone.is_right());
    assert!(dynamic.get_opt("x").await.unwrap().is_none());

    // RBAC view of what was done.
    let reqs = env.cluster.requests();
    for verb in ["create", "get", "list", "update", "patch", "delete"] {
        assert!(reqs.iter().any(|r| r.verb == verb), "{verb} recorded");
    }
    assert!(
        reqs.iter()
            .any(|r| r.resource == "tenants" && r.subresource == "status" && r.verb == "patch")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_relists_after_expiry_and_streams() {
    let env = start(Config::default()).await;
    let c = client(&env).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let mk = |n: &str| {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(n.into());
        cm
    };
    cms.create(&PostParams::default(), &mk("one"))
        .await
        .unwrap();
    // Expiring the history ends the open watch with an in-stream 410: the watcher must re-list.
    let stream = watcher(cms.clone(), watcher::Config::default());
    let mut stream = Box::pin(stream);
    let mut inits = 0;
    let mut saw_two = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline && !(inits >= 2 && saw_two) {
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("watch event")
            .expect("stream");
        match ev {
            Ok(watcher::Event::InitDone) => {
                inits += 1;
                if inits == 1 {
                    cms.create(&PostParams::default(), &mk("two"))
                        .await
                        .unwrap();
                }
            }
            Ok(watcher::Event::Apply(cm)) if cm.name_any() == "two" => {
                saw_two = true;
                cms.create(&PostParams::default(), &mk("three"))
                    .await
                    .unwrap();
                env.cluster.expire_watch_history();
            }
            _ => {}
        }
    }
    assert!(saw_two && inits >= 2, "saw_two={saw_two} inits={inits}");

    // Streaming list: initial events then the initial-events-end bookmark.
    let stream = watcher(cms.clone(), watcher::Config::default().streaming_lists());
    let mut stream = Box::pin(stream);
    let mut names = vec![];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("event")
            .expect("stream")
            .unwrap()
        {
            watcher::Event::InitApply(cm) => names.push(cm.name_any()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    names.sort();
    assert_eq!(names, vec!["one", "three", "two"]);

    // A label-selected watch sees an object leave its selection as a deletion.
    let stream = watcher(cms.clone(), watcher::Config::default().labels("app=x"));
    let mut stream = Box::pin(stream);
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("event")
            .expect("stream")
            .unwrap()
    };
    assert!(matches!(next().await, watcher::Event::Init));
    assert!(matches!(next().await, watcher::Event::InitDone));
    cms.patch(
        "one",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "x"}}})),
    )
    .await
    .unwrap();
    assert!(matches!(next().await, watcher::Event::Apply(cm) if cm.name_any() == "one"));
    cms.patch(
        "one",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "y"}}})),
    )
    .await
    .unwrap();
    assert!(matches!(next().await, watcher::Event::Delete(cm) if cm.name_any() == "one"));
}

struct Ctx {
    client: Client,
    recorder: Recorder,
    reconciles: AtomicUsize,
    cleanups: AtomicUsize,
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct Failed(#[from] kube::Error);

async fn reconcile(
    t: Arc<Tenant>,
    ctx: Arc<Ctx>,
) -> Result<Action, Box<kube::runtime::finalizer::Error<Failed>>> {
    ctx.reconciles.fetch_add(1, Ordering::SeqCst);
    let api: Api<Tenant> = Api::namespaced(ctx.client.clone(), &t.namespace().unwrap());
    finalizer(&api, "example.io/cleanup", t, |ev| async {
        match ev {
            Finalizer::Apply(t) => {
                let ns = t.namespace().unwrap();
                let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
                let owner = t.controller_owner_ref(&()).unwrap();
                let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("{}-cfg", t.name_any()), "ownerReferences": [owner]},
                    "data": {"plan": t.spec.plan}});
                let pp = PatchParams::apply("tenant-controller").force();
                cms.patch(&format!("{}-cfg", t.name_any()), &pp, &Patch::Apply(&cm)).await?;
                let status = json!({"apiVersion": "example.io/v1", "kind": "Tenant", "status": {"ready": true}});
                api.patch_status(&t.name_any(), &pp, &Patch::Apply(&status)).await?;
                let ev = Event { type_: EventType::Normal, reason: "Reconciled".into(), note: Some("tenant ready".into()), action: "Reconcile".into(), secondary: None };
                ctx.recorder.publish(&ev, &t.object_ref(&())).await?;
                Ok::<_, Failed>(Action::await_change())
            }
            Finalizer::Cleanup(t) => {
                ctx.cleanups.fetch_add(1, Ordering::SeqCst);
                let ev = Event { type_: EventType::Normal, reason: "Cleanup".into(), note: Some("bye".into()), action: "Cleanup".into(), secondary: None };
                ctx.recorder.publish(&ev, &t.object_ref(&())).await?;
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(Box::new)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_owns_finalizes_records_and_idles() {
    // Frequent bookmarks: both the object watch and the metadata watch of `.owns()` must decode
    // them, and they must not wake the reconciler.
    let env = start(Config {
        bookmark_interval: Duration::from_millis(200),
        ..Config::default()
    })
    .await;
    let c = with_crd(&env).await;
    let tenants: Api<Tenant> = Api::namespaced(c.clone(), "default");
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let ctx = Arc::new(Ctx {
        client: c.clone(),
        recorder: Recorder::new(
            c.clone(),
            Reporter {
                controller: "tenant-controller".into(),
                instance: None,
            },
        ),
        reconciles: AtomicUsize::new(0),
        cleanups: AtomicUsize::new(0),
    });
    let controller = Controller::new(tenants.clone(), watcher::Config::default())
        .owns(cms.clone(), watcher::Config::default())
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_millis(200)),
            ctx.clone(),
        )
        .for_each(|_| async {});
    let handle = tokio::spawn(controller);

    let t = Tenant::new(
        "x",
        TenantSpec {
            plan: "gold".into(),
            members: 8,
        },
    );
    tenants
        .patch("x", &PatchParams::apply("kubectl"), &Patch::Apply(&t))
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(15), async || tenants
            .get("x")
            .await
            .unwrap()
            .status
            .is_some_and(|s| s.ready))
        .await,
        "tenant ready"
    );
    assert!(cms.get_opt("x-cfg").await.unwrap().is_some());

    // Idle: after settling, no reconcile happens by itself (no-op writes emit nothing).
    // Settled = no reconcile for a whole second (bounded, for slow machines); then none for two.
    let mut settled = ctx.reconciles.load(Ordering::SeqCst);
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = ctx.reconciles.load(Ordering::SeqCst);
        if now == settled {
            break;
        }
        settled = now;
    }
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        ctx.reconciles.load(Ordering::SeqCst),
        settled,
        "controller hot-loops"
    );
    assert!(settled <= 8, "{settled} reconciles for one object");

    // The Recorder's events are visible through core/v1, as kubectl describe reads them.
    let uid = tenants.get("x").await.unwrap().uid().unwrap();
    let evs: Api<CoreEvent> = Api::namespaced(c.clone(), "default");
    let fs = format!(
        "involvedObject.name=x,involvedObject.namespace=default,involvedObject.kind=Tenant,involvedObject.uid={uid}"
    );
    let found = evs.list(&ListParams::default().fields(&fs)).await.unwrap();
    assert!(
        found
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("Reconciled")
                && e.message.as_deref() == Some("tenant ready")),
        "{found:?}"
    );

    // kubectl describe shows the Recorder's event (events.k8s.io/v1 projected to core/v1).
    let out = env.ok(&["describe", "tenant", "x"]).await;
    let line = out
        .lines()
        .find(|l| l.contains("Reconciled"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("Normal")
            && line.contains("tenant-controller")
            && line.contains("tenant ready"),
        "{line}"
    );

    // Delete: the finalizer runs the cleanup, then GC removes the owned ConfigMap.
    tenants.delete("x", &DeleteParams::default()).await.unwrap();
    assert!(
        eventually(Duration::from_secs(15), async || tenants
            .get_opt("x")
            .await
            .unwrap()
            .is_none())
        .await,
        "tenant gone"
    );
    assert!(
        eventually(Duration::from_secs(5), async || cms
            .get_opt("x-cfg")
            .await
            .unwrap()
            .is_none())
        .await,
        "child collected"
    );
    // Usually once; twice when the owned ConfigMap's deletion reaches the controller before the
    // tenant's own DELETED event (the same race exists on a real cluster: cleanups must be idempotent).
    assert!((1..=2).contains(&ctx.cleanups.load(Ordering::SeqCst)));
    handle.abort();
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        futures::stream::iter(Vec::<Result<(), ()>>::new())
            .try_collect::<Vec<_>>()
            .await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_collection_modes() {
    let env = start(Config::default()).await;
    let c = client(&env).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let make = async |name: &str,
                      owners: &[&ConfigMap],
                      block: bool,
                      finalizers: &[&str]|
           -> ConfigMap {
        let refs: Vec<_> = owners
            .iter()
            .map(|o| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": o.name_any(), "uid": o.uid().unwrap(), "blockOwnerDeletion": block}))
            .collect();
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "ownerReferences": refs, "finalizers": finalizers}});
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(body).unwrap(),
        )
        .await
        .unwrap()
    };

    // Background: dependents go once their only owner is gone; a second owner keeps one alive.
    let o1 = make("o1", &[], false, &[]).await;
    let o2 = make("o2", &[], false, &[]).await;
    make("only-o1", &[&o1], false, &[]).await;
    make("both", &[&o1, &o2], false, &[]).await;
    cms.delete("o1", &DeleteParams::background()).await.unwrap();
    assert!(cms.get_opt("only-o1").await.unwrap().is_none());
    assert!(cms.get_opt("both").await.unwrap().is_some());
    cms.delete("o2", &DeleteParams::default()).await.unwrap();
    assert!(cms.get_opt("both").await.unwrap().is_none());

    // Foreground: the owner waits (foregroundDeletion) for its blocking dependents.
    let fg = make("fg", &[], false, &[]).await;
    make("held", &[&fg], true, &["example.io/hold"]).await;
    let res = cms.delete("fg", &DeleteParams::foreground()).await.unwrap();
    let owner = res.left().expect("owner still there");
    assert!(owner.metadata.deletion_timestamp.is_some());
    assert_eq!(
        owner.metadata.finalizers.as_deref(),
        Some(&["foregroundDeletion".to_string()][..])
    );
    assert!(
        cms.get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("held").await.unwrap().is_none());
    assert!(
        cms.get_opt("fg").await.unwrap().is_none(),
        "owner released once the blocking dependent is gone"
    );

    // Orphan: the dependent survives without the owner reference.
    let orph = make("orph", &[], false, &[]).await;
    make("kept", &[&orph], true, &[]).await;
    cms.delete("orph", &DeleteParams::orphan()).await.unwrap();
    let kept = cms.get("kept").await.unwrap();
    assert!(kept.metadata.owner_references.is_none());

    // A dependent whose owner uid does not exist is collected at once, as the GC would.
    let ghost = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("ghost".into()),
            uid: Some("00000000-0000-4000-8000-000000000000".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    make("haunted", &[&ghost], false, &[]).await;
    assert!(cms.get_opt("haunted").await.unwrap().is_none());

    // Finalizers cannot be added to a terminating object.
    make("term", &[], false, &["a/b"]).await;
    cms.delete("term", &DeleteParams::default()).await.unwrap();
    let err = cms
        .patch(
            "term",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["a/b", "c/d"]}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422),
        "{err:?}"
    );
}
