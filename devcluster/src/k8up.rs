//! K8up, simulated (<https://k8up.io>, the backup engine mutualis drives): its CRDs are installed
//! at start from the copy in `third_party/k8up/` (source, version and licence in its README),
//! and what its operator would do happens here, without running restic. A `Schedule` gets a
//! first `Backup` and `Check` when it is created (as if their time had come), owned by it;
//! every `Backup`, `Check`, `Prune` and `Restore` — those, or ones a person creates — is
//! `Progressing` at once and `Completed` after the ready delay: `Succeeded`, or `Failed` when
//! it carries `devcluster.mutualis.io/fail: "true"` (its Schedule's too) or when a Secret its
//! backend names is missing from its namespace.

use serde_json::{Value, json};

use crate::Config;
use crate::resources::ResourceDef;
use crate::simulate::FAIL_ANNOTATION;
use crate::state::{State, key, truthy};
use crate::store::{EventType, Key};

/// K8up's CRDs (k8up-io/k8up at v4.9.0-48-g80a2ae8c, `config/crd/apiextensions.k8s.io/v1/`).
const CRDS: [&str; 6] = [
    include_str!("../../third_party/k8up/k8up.io_schedules.yaml"),
    include_str!("../../third_party/k8up/k8up.io_backups.yaml"),
    include_str!("../../third_party/k8up/k8up.io_checks.yaml"),
    include_str!("../../third_party/k8up/k8up.io_prunes.yaml"),
    include_str!("../../third_party/k8up/k8up.io_restores.yaml"),
    include_str!("../../third_party/k8up/k8up.io_snapshots.yaml"),
];

const GROUP: &str = "k8up.io";

/// Registers K8up's CRDs, as `helm install k8up` would have.
pub fn install(st: &mut State) {
    let def = st
        .def("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .expect("CRDs are built in");
    for text in CRDS {
        let mut crd: Value = serde_saphyr::from_str(text).expect("K8up's CRDs are YAML");
        let name = crd["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let meta = &mut crd["metadata"];
        meta["uid"] = crate::clock::new_uid().into();
        meta["creationTimestamp"] = crate::clock::now_rfc3339().into();
        meta["generation"] = 1.into();
        crd["status"] = crate::crd::status(&crd);
        let k = key(&def, "", &name);
        st.store.put(&k, crd, EventType::Added);
        let stored = st.store.get(&k).expect("just stored").value();
        crate::crd::register(&mut st.registry, &stored);
    }
}

/// Whether `def` is one of K8up's kinds.
pub fn is_k8up(def: &ResourceDef) -> bool {
    def.group == GROUP
}

/// Reacts to a write of a K8up object: the new status of a job, if it changes.
pub fn after_write(
    st: &mut State,
    cfg: &Config,
    def: &ResourceDef,
    k: &Key,
    obj: &Value,
) -> Option<Value> {
    match def.plural.as_str() {
        "schedules" => {
            first_jobs(st, cfg, k, obj);
            None
        }
        "backups" | "checks" | "prunes" | "restores" => job_status(st, cfg, k, obj),
        _ => None,
    }
}

/// A new Schedule's first Backup and Check, with its backend, owned by it.
fn first_jobs(st: &mut State, cfg: &Config, k: &Key, schedule: &Value) {
    let uid = schedule["metadata"]["uid"].as_str().unwrap_or_default();
    for (plural, kind, section) in [
        ("backups", "Backup", "backup"),
        ("checks", "Check", "check"),
    ] {
        let Some(def) = st.def(GROUP, "v1", plural) else {
            continue;
        };
        let owned = st
            .store
            .list(&def.storage, Some(&k.ns), None)
            .any(|(_, s)| {
                s.value()["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|r| r["uid"] == uid))
            });
        if owned {
            continue;
        }
        let name = format!("{}-{section}-1", k.name);
        let mut annotations = json!({});
        if truthy(&schedule["metadata"]["annotations"][FAIL_ANNOTATION]) {
            annotations[FAIL_ANNOTATION] = "true".into();
        }
        let job = json!({
            "apiVersion": "k8up.io/v1", "kind": kind,
            "metadata": {
                "name": name, "namespace": k.ns, "uid": crate::clock::new_uid(),
                "creationTimestamp": crate::clock::now_rfc3339(), "generation": 1,
                "annotations": annotations,
                "labels": {"k8up.io/type": section},
                "ownerReferences": [{"apiVersion": "k8up.io/v1", "kind": "Schedule", "name": k.name,
                                     "uid": uid, "controller": true, "blockOwnerDeletion": true}],
            },
            "spec": {"backend": schedule["spec"]["backend"].clone()},
        });
        let jk = key(&def, &k.ns, &name);
        st.store.put(&jk, job, EventType::Added);
        crate::simulate::after_write(st, cfg, &def, &jk);
    }
}

/// The Secrets a job's backend names that are missing (or lack the key).
fn missing_secret(st: &State, ns: &str, backend: &Value) -> Option<String> {
    let def = st.def("", "v1", "secrets")?;
    let refs = [
        &backend["repoPasswordSecretRef"],
        &backend["s3"]["accessKeyIDSecretRef"],
        &backend["s3"]["secretAccessKeySecretRef"],
    ];
    refs.into_iter().filter(|r| r.is_object()).find_map(|r| {
        let (name, k) = (r["name"].as_str()?, r["key"].as_str()?);
        let has = st
            .store
            .get(&key(&def, ns, name))
            .is_some_and(|s| !s.value()["data"][k].is_null());
        (!has).then(|| format!("secret \"{name}\" (key \"{k}\") not found in namespace {ns}"))
    })
}

fn job_status(st: &mut State, cfg: &Config, k: &Key, obj: &Value) -> Option<Value> {
    if obj["status"]["finished"] == true {
        return None;
    }
    let generation = obj["metadata"]["generation"].as_u64().unwrap_or(1);
    let matured = cfg.ready_delay.is_zero() || st.matured.contains(&(k.clone(), generation));
    if !matured && !st.timers.contains(&(k.clone(), generation)) {
        st.timers.push((k.clone(), generation));
    }
    let now = crate::clock::now_rfc3339();
    let since = |t: &str| {
        obj["status"]["conditions"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["type"] == t))
            .and_then(|c| c["lastTransitionTime"].as_str().map(String::from))
            .unwrap_or_else(|| now.clone())
    };
    let cond = |t: &str, s: &str, reason: &str, message: &str, at: String| json!({"type": t, "status": s, "reason": reason, "message": message, "lastTransitionTime": at});
    let ready = cond(
        "Ready",
        "True",
        "Ready",
        "the job was created",
        since("Ready"),
    );
    if !matured {
        let progressing = cond(
            "Progressing",
            "True",
            "Started",
            "The job is progressing",
            since("Progressing"),
        );
        let status = json!({"started": true, "conditions": [ready, progressing]});
        return (obj["status"] != status).then_some(status);
    }
    let failure = if truthy(&obj["metadata"]["annotations"][FAIL_ANNOTATION]) {
        Some("devcluster: failure simulated by annotation".to_owned())
    } else {
        missing_secret(st, &k.ns, &obj["spec"]["backend"])
    };
    let (reason, message) = match &failure {
        Some(why) => ("Failed", why.as_str()),
        None => (
            "Succeeded",
            "the job completed successfully (devcluster: simulated)",
        ),
    };
    Some(json!({"started": true, "finished": true, "conditions": [
        ready,
        cond("Progressing", "False", "Finished", "The job has finished", now.clone()),
        cond("Completed", "True", reason, message, now),
    ]}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Shared;
    use crate::write::{FieldValidation, Sub, WriteOp, WriteReq, write};

    fn create(st: &mut State, cfg: &Config, group: &str, plural: &str, body: Value) {
        let def = st.def(group, "v1", plural).unwrap();
        let req = WriteReq {
            def,
            ns: "t".into(),
            name: body["metadata"]["name"].as_str().unwrap().into(),
            sub: Sub::Main,
            dry_run: false,
            validation: FieldValidation::Strict,
            manager: "test".into(),
        };
        write(st, cfg, &req, WriteOp::Create(body)).unwrap();
    }

    fn completed(st: &State, plural: &str, name: &str) -> (String, String) {
        let def = st.def(GROUP, "v1", plural).unwrap();
        let v = st.store.get(&key(&def, "t", name)).unwrap().value();
        let c = v["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Completed")
            .cloned()
            .unwrap_or_default();
        (
            c["reason"].as_str().unwrap_or_default().into(),
            c["message"].as_str().unwrap_or_default().into(),
        )
    }

    #[test]
    fn a_schedule_runs_a_first_backup_and_check_which_fail_by_annotation_or_missing_secret() {
        let cfg = Config::default();
        let shared = Shared::new(cfg.clone());
        let mut st = shared.lock();
        assert!(
            st.def(GROUP, "v1", "schedules").is_some(),
            "CRDs installed at start"
        );
        create(
            &mut st,
            &cfg,
            "",
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "t"}}),
        );
        create(
            &mut st,
            &cfg,
            "",
            "secrets",
            json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "repo", "namespace": "t"}, "stringData": {"password": "p"}}),
        );
        let backend = json!({"repoPasswordSecretRef": {"name": "repo", "key": "password"}});
        create(
            &mut st,
            &cfg,
            GROUP,
            "schedules",
            json!({"apiVersion": "k8up.io/v1", "kind": "Schedule",
            "metadata": {"name": "backup", "namespace": "t"},
            "spec": {"backend": backend, "backup": {"schedule": "30 1 * * *"}}}),
        );
        assert_eq!(completed(&st, "backups", "backup-backup-1").0, "Succeeded");
        assert_eq!(completed(&st, "checks", "backup-check-1").0, "Succeeded");
        create(
            &mut st,
            &cfg,
            GROUP,
            "backups",
            json!({"apiVersion": "k8up.io/v1", "kind": "Backup",
            "metadata": {"name": "forced", "namespace": "t", "annotations": {FAIL_ANNOTATION: "true"}},
            "spec": {}}),
        );
        assert_eq!(completed(&st, "backups", "forced").0, "Failed");
        create(
            &mut st,
            &cfg,
            GROUP,
            "restores",
            json!({"apiVersion": "k8up.io/v1", "kind": "Restore",
            "metadata": {"name": "r", "namespace": "t"},
            "spec": {"backend": {"repoPasswordSecretRef": {"name": "gone", "key": "password"}}}}),
        );
        let (reason, message) = completed(&st, "restores", "r");
        assert_eq!(reason, "Failed");
        assert!(message.contains("secret \"gone\""), "{message}");
    }
}
