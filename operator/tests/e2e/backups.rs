//! Backups end to end: the Coteaux Bordelais' K8up Schedule gets its first (simulated) Backup
//! and the Tenant reports `BackupReady=True` with the time of the last success and check; a
//! forced failure turns it False with the failing Backup named, and sends a Warning event; a
//! restore of the NAS volume shows in status and events from created to done.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use mutualis::api::Tenant;

use super::READY_TIMEOUT;
use super::harness::{Env, condition, root};

/// The S3 credentials the founding catalogue names (`mutualis-system/backup-s3`), as the
/// syndicate would create them before installing mutualis (every test environment has them).
pub async fn backup_credentials(env: &Env) {
    env.kubectl_ok(&["create", "namespace", "mutualis-system"])
        .await;
    env.apply_ok(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: backup-s3\n  namespace: mutualis-system\nstringData:\n  access-key-id: AKIAEXAMPLE\n  secret-access-key: not-a-real-secret\n",
    )
    .await;
}

fn backup_condition(t: &Tenant) -> Option<(String, String, String)> {
    condition(t, "BackupReady").map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

async fn events(env: &Env, reason: &str, tenant: &str) -> String {
    env.kubectl_ok(&[
        "get",
        "events",
        "-n",
        "default",
        "--field-selector",
        &format!("reason={reason},involvedObject.name={tenant}"),
        "-o",
        "jsonpath={.items[*].type} {.items[*].message}",
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coteaux_bordelais_is_backup_ready_after_its_first_backup_and_not_after_a_failure() {
    // K8up's times have one-second precision: jobs that take a second here finish in a later
    // second than the result they follow, so each verdict below has one right answer.
    let env = Env::start_with(Duration::from_secs(1)).await;
    let _op = env.operator("backups", &["--leader-election=false"]);
    let example = root().join("examples/coteaux-bordelais.yaml");
    env.kubectl_ok(&["apply", "--server-side", "-f", example.to_str().unwrap()])
        .await;
    let t = env
        .wait_tenant(
            "coteaux-bordelais",
            READY_TIMEOUT,
            "BackupReady=True",
            |t| backup_condition(t).is_some_and(|(s, _, _)| s == "True"),
        )
        .await;
    let (_, reason, message) = backup_condition(&t).unwrap();
    assert_eq!(reason, "BackupSucceeded");
    // The first backup may finish before every service is ready (mail waits for its key):
    // the tenant is Ready before the failure below, so that it can be seen to stay Ready.
    env.wait_tenant(
        "coteaux-bordelais",
        READY_TIMEOUT,
        "Ready",
        crate::ready_now,
    )
    .await;
    let status = t.status.as_ref().unwrap().backup.clone().unwrap();
    let last = status.last_successful_backup.clone().unwrap();
    assert!(message.contains(&last), "{message}");
    assert!(
        status.last_check.is_some(),
        "the first Check is reported: {status:?}"
    );
    assert_eq!(
        status.repository.as_deref(),
        Some("s3:https://s3.fr-par.scw.cloud/gironde-numerique-backups/coteaux-bordelais")
    );
    // The repository key was generated in the namespace, and the credentials copied there.
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), "mutualis-coteaux-bordelais");
    let key = secrets.get("backup-repository").await.unwrap();
    assert_eq!(key.data.unwrap()["password"].0.len(), 48);
    let s3 = secrets.get("backup-s3").await.unwrap();
    assert_eq!(s3.data.unwrap()["access-key-id"].0, b"AKIAEXAMPLE");
    // `kubectl get tenants` shows the last backup's age.
    let table = env
        .kubectl_ok(&["get", "tenant", "coteaux-bordelais"])
        .await;
    assert!(table.lines().next().unwrap().contains("BACKUP"), "{table}");
    // The secret values are nowhere in the status.
    let yaml = env
        .kubectl_ok(&["get", "tenant", "coteaux-bordelais", "-o", "yaml"])
        .await;
    assert!(!yaml.contains("not-a-real-secret") && !yaml.contains("AKIAEXAMPLE"));

    // An on-demand Backup that fails (forced by the development cluster's annotation).
    env.apply_ok(
        "apiVersion: k8up.io/v1\nkind: Backup\nmetadata:\n  name: on-demand-1\n  namespace: mutualis-coteaux-bordelais\n  annotations:\n    devcluster.mutualis.io/fail: \"true\"\nspec: {}\n",
    )
    .await;
    let t = env
        .wait_tenant(
            "coteaux-bordelais",
            READY_TIMEOUT,
            "BackupReady=False",
            |t| backup_condition(t).is_some_and(|(s, _, _)| s == "False"),
        )
        .await;
    let (_, reason, message) = backup_condition(&t).unwrap();
    assert_eq!(reason, "BackupFailed");
    assert!(
        message.contains("Backup on-demand-1 failed") && message.contains(&last),
        "the message names the failed Backup and the last success: {message}"
    );
    // The services are not affected: Ready stays True.
    assert_eq!(condition(&t, "Ready").unwrap().status, "True");
    let warning = env
        .eventually(Duration::from_secs(20), "a BackupFailed event", || async {
            let e = events(&env, "BackupFailed", "coteaux-bordelais").await;
            e.contains("on-demand-1").then_some(e)
        })
        .await;
    assert!(warning.starts_with("Warning"), "{warning}");

    // A later success brings it back.
    env.apply_ok(
        "apiVersion: k8up.io/v1\nkind: Backup\nmetadata:\n  name: on-demand-2\n  namespace: mutualis-coteaux-bordelais\nspec: {}\n",
    )
    .await;
    env.wait_tenant(
        "coteaux-bordelais",
        READY_TIMEOUT,
        "BackupReady=True again",
        |t| backup_condition(t).is_some_and(|(s, _, _)| s == "True"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_s3_credentials_the_first_backup_fails_with_a_clear_reason() {
    let env = Env::start().await;
    env.kubectl_ok(&["delete", "secret", "-n", "mutualis-system", "backup-s3"])
        .await;
    let _op = env.operator("backups-nocreds", &["--leader-election=false"]);
    env.apply_ok(&super::tenant_yaml("camarsac", "250gb", &[], ""))
        .await;
    let t = env
        .wait_tenant(
            "camarsac",
            READY_TIMEOUT,
            "BackupReady=False/BackupFailed",
            |t| backup_condition(t).is_some_and(|(_, r, _)| r == "BackupFailed"),
        )
        .await;
    let (_, _, message) = backup_condition(&t).unwrap();
    assert!(
        message.contains("backup-s3"),
        "names the missing Secret: {message}"
    );
    assert!(message.contains("last success: never"), "{message}");
}

/// `mutualis restore` against this environment.
async fn restore(env: &Env, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mutualis"))
        .arg("restore")
        .args(args)
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn last_restore(t: &Tenant) -> Option<(String, String)> {
    let r = t.status.as_ref()?.backup.as_ref()?.last_restore.as_ref()?;
    Some((r.name.clone(), r.phase.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nas_restore_is_created_progresses_and_completes_in_status_and_events() {
    // Jobs take two seconds here, so that the progressing phase is seen.
    let env = Env::start_with(Duration::from_secs(2)).await;
    let _op = env.operator("restore", &["--leader-election=false"]);
    env.apply_ok(&super::tenant_yaml("tresses", "250gb", &[], ""))
        .await;
    env.wait_tenant("tresses", READY_TIMEOUT, "BackupReady=True", |t| {
        backup_condition(t).is_some_and(|(s, _, _)| s == "True")
    })
    .await;
    // Bad input is refused before anything is created, naming the flag and what is allowed.
    let (ok, _, err) = restore(
        &env,
        &["tresses", "--service", "dns", "--snapshot", "4f1c2e3d"],
    )
    .await;
    assert!(
        !ok && err.contains("--service") && err.contains("nas"),
        "{err}"
    );
    let (ok, _, err) = restore(
        &env,
        &["tresses", "--service", "nas", "--snapshot", "latest"],
    )
    .await;
    assert!(
        !ok && err.contains("--snapshot") && err.contains("hex"),
        "{err}"
    );

    let (ok, out, err) = restore(
        &env,
        &["tresses", "--service", "nas", "--snapshot", "4f1c2e3d"],
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains("created Restore mutualis-tresses/restore-nas-4f1c2e3d"),
        "{out}"
    );
    let spec = env
        .kubectl_ok(&[
            "get",
            "restore.k8up.io",
            "-n",
            "mutualis-tresses",
            "restore-nas-4f1c2e3d",
            "-o",
            "jsonpath={.spec}",
        ])
        .await;
    let spec: serde_json::Value = serde_json::from_str(&spec).unwrap();
    assert_eq!(spec["snapshot"], "4f1c2e3d");
    assert_eq!(spec["restoreMethod"]["folder"]["claimName"], "nas-data");
    assert_eq!(
        spec["backend"]["s3"]["bucket"],
        "gironde-numerique-backups/tresses"
    );
    assert_eq!(
        spec["backend"]["repoPasswordSecretRef"]["name"],
        "backup-repository"
    );

    env.wait_tenant("tresses", READY_TIMEOUT, "the restore progressing", |t| {
        last_restore(t) == Some(("restore-nas-4f1c2e3d".into(), "Progressing".into()))
    })
    .await;
    env.wait_tenant("tresses", READY_TIMEOUT, "the restore done", |t| {
        last_restore(t) == Some(("restore-nas-4f1c2e3d".into(), "Succeeded".into()))
    })
    .await;
    for reason in ["RestoreProgressing", "RestoreSucceeded"] {
        env.eventually(Duration::from_secs(20), reason, || async {
            events(&env, reason, "tresses")
                .await
                .contains("restore-nas-4f1c2e3d")
                .then_some(())
        })
        .await;
    }
    // Asked again: refused, not duplicated.
    let (ok, _, err) = restore(
        &env,
        &["tresses", "--service", "nas", "--snapshot", "4f1c2e3d"],
    )
    .await;
    assert!(!ok && err.contains("already exists"), "{err}");

    // Into another namespace: its claim must exist; the repository's Secrets are copied there.
    env.kubectl_ok(&["create", "namespace", "tresses-restored"])
        .await;
    let (ok, _, err) = restore(
        &env,
        &[
            "tresses",
            "--service",
            "nas",
            "--snapshot",
            "4f1c2e3d",
            "--to-namespace",
            "tresses-restored",
        ],
    )
    .await;
    assert!(
        !ok && err.contains("tresses-restored/nas-data does not exist"),
        "{err}"
    );
    env.apply_ok("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: nas-data\n  namespace: tresses-restored\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 100Gi}}\n")
        .await;
    let (ok, out, err) = restore(
        &env,
        &[
            "tresses",
            "--service",
            "nas",
            "--snapshot",
            "4f1c2e3d",
            "--to-namespace",
            "tresses-restored",
        ],
    )
    .await;
    assert!(
        ok && out.contains("tresses-restored/restore-nas-4f1c2e3d"),
        "{out}{err}"
    );
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), "tresses-restored");
    assert!(
        secrets
            .get_opt("backup-repository")
            .await
            .unwrap()
            .is_some()
    );
    let phase = env
        .eventually(
            Duration::from_secs(30),
            "the restore elsewhere done",
            || async {
                let out = env
                    .kubectl(&[
                        "get",
                        "restore.k8up.io",
                        "-n",
                        "tresses-restored",
                        "restore-nas-4f1c2e3d",
                        "-o",
                        "jsonpath={.status.conditions[?(@.type=='Completed')].reason}",
                    ])
                    .await;
                (!out.stdout.is_empty()).then_some(out.stdout)
            },
        )
        .await;
    assert_eq!(phase, "Succeeded", "the copied Secrets open the repository");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_tenants_keep_their_backup_key_retain_in_place_delete_for_the_retention_period() {
    let env = Env::start().await;
    let _op = env.operator("backup-keys", &["--leader-election=false"]);
    env.apply_ok(&super::tenant_yaml("croignon", "250gb", &[], ""))
        .await;
    env.apply_ok(&super::tenant_yaml(
        "bonnetan",
        "250gb",
        &[],
        "  deletionPolicy: Delete\n",
    ))
    .await;
    for name in ["croignon", "bonnetan"] {
        env.wait_tenant(name, READY_TIMEOUT, "BackupReady=True", |t| {
            backup_condition(t).is_some_and(|(s, _, _)| s == "True")
        })
        .await;
    }
    let key_of = |ns: &str| {
        let secrets: Api<Secret> = Api::namespaced(env.client.clone(), ns);
        async move {
            secrets
                .get("backup-repository")
                .await
                .unwrap()
                .data
                .unwrap()["password"]
                .clone()
        }
    };
    let (retained, deleted) = (
        key_of("mutualis-croignon").await,
        key_of("mutualis-bonnetan").await,
    );
    env.kubectl_ok(&["delete", "tenant", "croignon", "bonnetan", "--timeout=60s"])
        .await;
    // Retain: the key stays where it was, unchanged.
    assert_eq!(key_of("mutualis-croignon").await, retained);
    // Delete: the namespace goes, the key is kept beside the S3 credentials with its expiry.
    let kept: Api<Secret> = Api::namespaced(env.client.clone(), "mutualis-system");
    let key = kept.get("backup-key-bonnetan").await.unwrap();
    assert_eq!(key.data.as_ref().unwrap()["password"], deleted);
    let annotations = key.metadata.annotations.unwrap();
    assert_eq!(
        annotations["mutualis.io/repository"],
        "s3:https://s3.fr-par.scw.cloud/gironde-numerique-backups/bonnetan"
    );
    let until: k8s_openapi::jiff::Timestamp =
        annotations["mutualis.io/keep-until"].parse().unwrap();
    let days = (until.as_second() - k8s_openapi::jiff::Timestamp::now().as_second()) / 86_400;
    assert!((89..=90).contains(&days), "kept {days} days");
    let deleted_event = events(&env, "Deleted", "bonnetan").await;
    assert!(
        deleted_event.contains("mutualis-system/backup-key-bonnetan"),
        "{deleted_event}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_k8up_the_operator_says_so() {
    let env = Env::start_config(devcluster::Config {
        ready_delay: Duration::from_millis(200),
        k8up: false,
        ..devcluster::Config::default()
    })
    .await;
    let _op = env.operator("no-k8up", &["--leader-election=false"]);
    env.eventually(
        Duration::from_secs(30),
        "the missing K8up warning",
        || async {
            env.operator_logs()
                .contains("K8up's CRDs are not installed")
                .then_some(())
        },
    )
    .await;
    // The other caches are not held up: a tenant is reconciled, and says what to install.
    env.apply_ok(&crate::tenant_yaml("saucats", "250gb", &[], ""))
        .await;
    let t = env
        .wait_tenant(
            "saucats",
            crate::READY_TIMEOUT,
            "a refusal naming K8up",
            |t| crate::condition(t, "Ready").is_some_and(|c| c.message.contains("install K8up")),
        )
        .await;
    let ready = crate::condition(&t, "Ready").unwrap();
    assert!(ready.message.contains("Schedule"), "{ready:?}");
}
