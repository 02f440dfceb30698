//! A tenant's life: tier changes, members and services coming and going, a catalogue change,
//! deletion under both policies, and an operator killed in the middle of its work.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use mutualis::plan::quantity::parse_bytes;

use crate::harness::{Env, condition, is_true};
use crate::{READY_TIMEOUT, namespace_of, quota_storage, ready_now, tenant_yaml, volumes};

fn bytes(q: &str) -> u64 {
    parse_bytes(q).unwrap_or_else(|| panic!("not a quantity: {q}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tier_upgrade_grows_volumes_and_a_downgrade_is_refused_without_change() {
    let env = Env::start().await;
    let _op = env.operator("solo", &["--leader-election=false"]);
    env.apply_ok(&tenant_yaml("pompignac", "500gb", &[], ""))
        .await;
    env.wait_tenant("pompignac", READY_TIMEOUT, "Ready", ready_now)
        .await;
    let namespace = namespace_of(&env, "pompignac").await;
    let before = volumes(&env, &namespace).await;
    assert_eq!(
        quota_storage(&env, &namespace).await.as_deref(),
        Some("500Gi")
    );

    env.apply_ok(&tenant_yaml("pompignac", "1tb", &[], ""))
        .await;
    env.wait_tenant("pompignac", READY_TIMEOUT, "Ready at 1tb", |t| {
        ready_now(t) && t.status.as_ref().and_then(|s| s.tier.as_deref()) == Some("1tb")
    })
    .await;
    let after = volumes(&env, &namespace).await;
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    for (name, size) in &after {
        assert!(
            bytes(size) > bytes(&before[name]),
            "{name} did not grow: {} → {size}",
            before[name]
        );
    }
    assert_eq!(
        quota_storage(&env, &namespace).await.as_deref(),
        Some("1Ti")
    );
    // The simulated storage expanded the bound capacity too.
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(env.client.clone(), &namespace);
    for pvc in pvcs.list(&ListParams::default()).await.unwrap() {
        let capacity = pvc.status.unwrap().capacity.unwrap()["storage"].0.clone();
        let name = pvc.metadata.name.unwrap();
        assert_eq!(bytes(&capacity), bytes(&after[&name]), "{name}");
    }
    // One Resized event names every volume grown (an event recorder groups by reason and
    // object: a separate event per volume would show only the first name).
    let events = env
        .kubectl_ok(&[
            "get",
            "events",
            "-n",
            "default",
            "--field-selector",
            "reason=Resized,involvedObject.name=pompignac",
            "-o",
            "jsonpath={.items[*].message}",
        ])
        .await;
    for name in after.keys() {
        assert!(
            events.contains(&format!("{name} from ")),
            "the Resized event does not name {name}: {events}"
        );
    }
    let describe = env.kubectl_ok(&["describe", "tenant", "pompignac"]).await;
    assert!(describe.contains("Resized"), "{describe}");
    assert!(
        !describe.contains("Resized (x"),
        "distinct facts collapsed: {describe}"
    );

    // 1 TB → 250 GB would shrink every volume: refused, nothing changes.
    let rv_volumes = volumes(&env, &namespace).await;
    env.apply_ok(&tenant_yaml("pompignac", "250gb", &[], ""))
        .await;
    let t = env
        .wait_tenant("pompignac", READY_TIMEOUT, "the shrink refused", |t| {
            condition(t, "Valid").is_some_and(|c| c.reason == "ShrinkRefused")
        })
        .await;
    let valid = condition(&t, "Valid").unwrap();
    assert_eq!(valid.status, "False");
    assert!(valid.message.contains("250gb"), "{valid:?}");
    assert!(valid.message.contains("shrink"), "{valid:?}");
    let ready = condition(&t, "Ready").unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "ShrinkRefused")
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        volumes(&env, &namespace).await,
        rv_volumes,
        "a volume changed"
    );
    assert_eq!(
        quota_storage(&env, &namespace).await.as_deref(),
        Some("1Ti")
    );
    let describe = env.kubectl_ok(&["describe", "tenant", "pompignac"]).await;
    assert!(
        describe.contains("Warning") && describe.contains("ShrinkRefused"),
        "{describe}"
    );

    // Back to 1 TB: accepted again.
    env.apply_ok(&tenant_yaml("pompignac", "1tb", &[], ""))
        .await;
    env.wait_tenant(
        "pompignac",
        READY_TIMEOUT,
        "Ready after the refusal",
        ready_now,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_and_services_follow_the_spec_and_volumes_survive() {
    let env = Env::start().await;
    let _op = env.operator("solo", &["--leader-election=false"]);
    let members = [("Bonnetan", "bonnetan.example.fr")];
    env.apply_ok(&tenant_yaml("tresses", "500gb", &members, ""))
        .await;
    env.wait_tenant("tresses", READY_TIMEOUT, "Ready", ready_now)
        .await;
    let namespace = namespace_of(&env, "tresses").await;
    let zones = |env: &Env| {
        let client = env.client.clone();
        async move {
            let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
                Api::namespaced(client, crate::harness::ZONES_NAMESPACE);
            cms.list(&ListParams::default().labels("mutualis.io/tenant=tresses"))
                .await
                .unwrap()
                .items
                .iter()
                .flat_map(|c| c.data.clone().unwrap_or_default().into_values())
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    assert!(zones(&env).await.contains("bonnetan.example.fr"));

    // A member joins: its zone appears.
    let two = [
        ("Bonnetan", "bonnetan.example.fr"),
        ("Sallebœuf", "salleboeuf.example.fr"),
    ];
    env.apply_ok(&tenant_yaml("tresses", "500gb", &two, ""))
        .await;
    env.wait_tenant("tresses", READY_TIMEOUT, "two members", |t| {
        ready_now(t) && t.status.as_ref().and_then(|s| s.member_count) == Some(2)
    })
    .await;
    env.eventually(Duration::from_secs(10), "the new member's zone", || async {
        zones(&env)
            .await
            .contains("salleboeuf.example.fr")
            .then_some(())
    })
    .await;
    // And leaves.
    env.apply_ok(&tenant_yaml("tresses", "500gb", &members, ""))
        .await;
    env.wait_tenant("tresses", READY_TIMEOUT, "one member", |t| {
        ready_now(t) && t.status.as_ref().and_then(|s| s.member_count) == Some(1)
    })
    .await;
    env.eventually(
        Duration::from_secs(10),
        "the member's zone gone",
        || async { (!zones(&env).await.contains("salleboeuf.example.fr")).then_some(()) },
    )
    .await;

    // The website is switched off: its workload goes, its volume stays (Retain), Ready holds.
    let website_volumes: Vec<String> = {
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(env.client.clone(), &namespace);
        pvcs.list(&ListParams::default().labels("mutualis.io/service=website"))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|p| p.metadata.name.unwrap())
            .collect()
    };
    assert!(!website_volumes.is_empty());
    let off = "  services:\n    website: false\n";
    env.apply_ok(&tenant_yaml("tresses", "500gb", &members, off))
        .await;
    let t = env
        .wait_tenant("tresses", READY_TIMEOUT, "website disabled", |t| {
            ready_now(t) && condition(t, "WebsiteReady").is_some_and(|c| c.reason == "Disabled")
        })
        .await;
    assert!(is_true(&t, "Ready"));
    let deployments: Api<Deployment> = Api::namespaced(env.client.clone(), &namespace);
    env.eventually(
        Duration::from_secs(10),
        "the website workload gone",
        || async {
            deployments
                .list(&ListParams::default().labels("mutualis.io/service=website"))
                .await
                .ok()?
                .items
                .is_empty()
                .then_some(())
        },
    )
    .await;
    let now = volumes(&env, &namespace).await;
    for v in &website_volumes {
        assert!(now.contains_key(v), "the website volume {v} was deleted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalogue_change_reaches_every_tenant() {
    let env = Env::start().await;
    let _op = env.operator("solo", &["--leader-election=false"]);
    env.apply_ok(&tenant_yaml("croignon", "250gb", &[], ""))
        .await;
    env.apply_ok(&tenant_yaml("carignan", "500gb", &[], ""))
        .await;
    for t in ["croignon", "carignan"] {
        env.wait_tenant(t, READY_TIMEOUT, "Ready", ready_now).await;
    }
    let catalogs: Api<mutualis::api::ServiceCatalog> = Api::all(env.client.clone());
    let mut catalog = catalogs.get(crate::CATALOG).await.unwrap();
    let new_tag = "1.29.99-test";
    catalog.spec.images.website.tag = new_tag.into();
    catalog.metadata.managed_fields = None;
    catalog.metadata.resource_version = None;
    catalogs
        .patch(
            crate::CATALOG,
            &PatchParams::apply("committee").force(),
            &Patch::Apply(&catalog),
        )
        .await
        .unwrap();
    for t in ["croignon", "carignan"] {
        let namespace = namespace_of(&env, t).await;
        let deployments: Api<Deployment> = Api::namespaced(env.client.clone(), &namespace);
        env.eventually(Duration::from_secs(20), "the new website image", || async {
            let list = deployments
                .list(&ListParams::default().labels("mutualis.io/service=website"))
                .await
                .ok()?;
            list.items
                .iter()
                .flat_map(|d| {
                    d.spec
                        .as_ref()?
                        .template
                        .spec
                        .as_ref()
                        .map(|s| s.containers.clone())
                })
                .flatten()
                .any(|c| c.image.is_some_and(|i| i.ends_with(new_tag)))
                .then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_retains_data_or_deletes_everything_by_policy() {
    let env = Env::start().await;
    let _op = env.operator("solo", &["--leader-election=false"]);
    env.apply_ok(&tenant_yaml("fargues", "250gb", &[], ""))
        .await;
    env.apply_ok(&tenant_yaml(
        "bonnetan",
        "250gb",
        &[],
        "  deletionPolicy: Delete\n",
    ))
    .await;
    for t in ["fargues", "bonnetan"] {
        env.wait_tenant(t, READY_TIMEOUT, "Ready", ready_now).await;
    }
    let kept_ns = namespace_of(&env, "fargues").await;
    let gone_ns = namespace_of(&env, "bonnetan").await;
    let kept_volumes = volumes(&env, &kept_ns).await;
    assert!(!kept_volumes.is_empty());

    env.kubectl_ok(&["delete", "tenant", "fargues", "--timeout=60s"])
        .await;
    env.kubectl_ok(&["delete", "tenant", "bonnetan", "--timeout=60s"])
        .await;

    // Retain: the namespace, every volume and the credentials stay, owned by nobody.
    assert_eq!(volumes(&env, &kept_ns).await, kept_volumes);
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(env.client.clone(), &kept_ns);
    for pvc in pvcs.list(&ListParams::default()).await.unwrap() {
        assert!(pvc.metadata.owner_references.unwrap_or_default().is_empty());
    }
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(env.client.clone(), &kept_ns);
    assert!(
        !secrets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let deployments: Api<Deployment> = Api::namespaced(env.client.clone(), &kept_ns);
    env.eventually(
        Duration::from_secs(20),
        "the retained tenant's workloads gone",
        || async {
            deployments
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .is_empty()
                .then_some(())
        },
    )
    .await;
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    assert!(namespaces.get_opt(&kept_ns).await.unwrap().is_some());
    // Either policy: the zones leave the shared name servers with the Tenant (owner reference).
    let zone_maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(env.client.clone(), crate::harness::ZONES_NAMESPACE);
    for t in ["fargues", "bonnetan"] {
        env.eventually(
            Duration::from_secs(20),
            "the deleted tenant's zones gone",
            || async {
                zone_maps
                    .get_opt(&format!("zones-{t}"))
                    .await
                    .ok()?
                    .is_none()
                    .then_some(())
            },
        )
        .await;
    }

    // Delete: the namespace and all it held go.
    env.eventually(
        Duration::from_secs(20),
        "the deleted tenant's namespace gone",
        || async {
            namespaces
                .get_opt(&gone_ns)
                .await
                .ok()?
                .is_none()
                .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_killed_mid_reconcile_converges_after_restart() {
    let env = Env::start().await;
    let names = ["sallebœuf-a", "tresses-b", "camarsac-c"].map(|n| n.replace('œ', "oe"));
    for n in &names {
        env.apply_ok(&tenant_yaml(
            n,
            "500gb",
            &[("Pompignac", &format!("pompignac-{n}.example.fr"))],
            "",
        ))
        .await;
    }
    let op = env.operator("first", &["--leader-election=false"]);
    // Let it get into the middle of its work, then crash it.
    env.eventually(Duration::from_secs(30), "the first writes", || async {
        (op.metric_sum("mutualis_api_writes_total").await? > 5.0).then_some(())
    })
    .await;
    op.kill().await;
    let _op = env.operator("second", &["--leader-election=false"]);
    for n in &names {
        env.wait_tenant(n, READY_TIMEOUT, "Ready after the restart", ready_now)
            .await;
    }
    // Exactly the planned objects: none lost, none duplicated.
    for n in &names {
        assert!(!namespace_of(&env, n).await.is_empty());
        let planned = crate::lifecycle::planned_counts(&env, n).await;
        for (kind, count) in planned {
            if kind == "Namespace" {
                continue;
            }
            let out = env
                // Every namespace: the zone ConfigMap lives in the shared name servers'.
                .kubectl_ok(&[
                    "get",
                    "--all-namespaces",
                    &kind.to_lowercase(),
                    "-l",
                    &format!("mutualis.io/tenant={n}"),
                    "-o",
                    "name",
                ])
                .await;
            assert_eq!(out.lines().count(), count, "{n}: {kind} count\n{out}");
        }
    }
    assert!(!names.iter().any(|n| n.is_empty()));
}

/// The plan's object counts for a tenant as it is stored in the cluster, from `mutualis plan`.
pub async fn planned_counts(env: &Env, tenant: &str) -> Vec<(String, usize)> {
    let dir = env.dir.path();
    let catalog = env
        .kubectl_ok(&["get", "servicecatalog", crate::CATALOG, "-o", "yaml"])
        .await;
    let t = env
        .kubectl_ok(&["get", "tenant", tenant, "-o", "yaml"])
        .await;
    let file = dir.join(format!("{tenant}-plan.yaml"));
    std::fs::write(&file, format!("{catalog}\n---\n{t}")).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mutualis"))
        .args(["plan", "-o", "json", "-f"])
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let plans = json
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![json.clone()]);
    let plan = plans
        .iter()
        .find(|p| p["name"] == tenant)
        .unwrap_or_else(|| panic!("no plan for {tenant}: {json}"));
    plan["objects"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap() as usize))
        .collect()
}
