//! Backups: the Schedule within what the catalogue allows, the repository and its password,
//! the consistency annotations, the S3 credentials kept from the tenant admins, and refusals.

use serde_json::Value;

use super::super::*;
use super::{CATALOG, TENANT, find, tenant};
use crate::api::ServiceCatalog;

const BACKUP: &str = r#"  backup:
    s3: {endpoint: "https://s3.example.net:8443/", bucket: syndicate-backups, credentialsSecretRef: {namespace: mutualis-system, name: s3-creds}}
    schedule: {hour: 2, minute: 15}
    retention: {daily: 7, weekly: 4, monthly: 6}
    check: {dayOfWeek: 6, hour: 5}
"#;

fn catalog() -> ServiceCatalog {
    serde_saphyr::from_str(&format!("{CATALOG}{BACKUP}")).unwrap()
}

fn with_backup(spec: &str) -> String {
    format!("{TENANT}  backup: {spec}\n")
}

fn plan(yaml: &str) -> Result<Plan, PlanError> {
    Ok(build(
        &validate(&tenant(yaml), &catalog())?,
        &PlanInputs::default(),
    ))
}

#[test]
fn the_schedule_backs_up_to_the_tenants_own_repository_with_its_own_key() {
    let p = plan(TENANT).unwrap();
    let s = find(&p, "Schedule", backup::SCHEDULE).to_json();
    assert_eq!(s["apiVersion"], "k8up.io/v1");
    assert_eq!(s["metadata"]["namespace"], "mutualis-villages");
    let backend = &s["spec"]["backend"];
    // K8up's repository is `s3:<endpoint>/<bucket>`: the tenant's prefix of the bucket.
    assert_eq!(backend["s3"]["endpoint"], "https://s3.example.net:8443");
    assert_eq!(backend["s3"]["bucket"], "syndicate-backups/villages");
    assert_eq!(
        backend["repoPasswordSecretRef"]["name"],
        backup::REPOSITORY_SECRET
    );
    assert_eq!(
        backend["repoPasswordSecretRef"]["key"],
        backup::PASSWORD_KEY
    );
    assert_eq!(
        backend["s3"]["accessKeyIDSecretRef"]["name"],
        backup::S3_SECRET
    );
    assert_eq!(
        validate(&tenant(TENANT), &catalog())
            .unwrap()
            .backup()
            .unwrap()
            .repository("villages"),
        "s3:https://s3.example.net:8443/syndicate-backups/villages"
    );
    assert_eq!(s["spec"]["backup"]["schedule"], "15 2 * * *");
    assert_eq!(s["spec"]["check"]["schedule"], "0 5 * * 6");
    assert_eq!(s["spec"]["prune"]["retention"]["keepDaily"], 7);
    assert_eq!(s["spec"]["prune"]["retention"]["keepMonthly"], 6);
    // The password is generated once for this tenant; the S3 credentials are copied.
    let password = p
        .secrets
        .iter()
        .find(|s| s.name == backup::REPOSITORY_SECRET)
        .unwrap();
    assert!(
        matches!(password.keys[..], [(ref k, SecretKind::Password { length: 48 })] if k == "password")
    );
    let s3 = p
        .secrets
        .iter()
        .find(|s| s.name == backup::S3_SECRET)
        .unwrap();
    assert!(s3.keys.iter().all(|(_, kind)| matches!(kind,
        SecretKind::CopiedFrom { namespace, name, .. } if namespace == "mutualis-system" && name == "s3-creds")));
    // Tenant admins read their repository key (to restore with restic), not the syndicate's S3 keys.
    let role = find(&p, "Role", "tenant-admin").to_json();
    let names: Vec<&str> = role["spec"]
        .get("rules")
        .unwrap_or(&role["rules"])
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["resourceNames"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    assert!(
        names.contains(&backup::REPOSITORY_SECRET) && !names.contains(&backup::S3_SECRET),
        "{names:?}"
    );
}

#[test]
fn the_database_is_dumped_and_every_other_volume_backed_up_whole() {
    let p = plan(TENANT).unwrap();
    for o in p
        .objects
        .iter()
        .filter(|o| o.kind() == "PersistentVolumeClaim")
    {
        let want = if o.name() == "postgres-data" {
            "false"
        } else {
            "true"
        };
        assert_eq!(
            o.metadata().annotations.as_ref().unwrap()["k8up.io/backup"],
            want,
            "{}",
            o.name()
        );
    }
    let db = find(&p, "Deployment", "postgres").to_json();
    let a = &db["spec"]["template"]["metadata"]["annotations"];
    let command = a["k8up.io/backupcommand"].as_str().unwrap();
    assert!(command.contains("pg_dump") && command.contains("/run/secrets/mutualis/db-password"));
    assert_eq!(a["k8up.io/file-extension"], ".sql");
    // The job pods reach the bucket's port and the API, nothing else.
    let policy = find(&p, "NetworkPolicy", "allow-backup-egress").to_json();
    let ports: Vec<i64> = policy["spec"]["egress"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_i64().unwrap())
        .collect();
    assert_eq!(ports, [443, 6443, 8443]);
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"]["k8upjob"],
        "true"
    );
}

#[test]
fn a_tenant_may_back_up_later_and_keep_more_never_less() {
    let p = plan(&with_backup(
        "{hour: 4, retention: {daily: 14, weekly: 4, monthly: 12}}",
    ))
    .unwrap();
    let s = find(&p, "Schedule", "backup").to_json();
    assert_eq!(s["spec"]["backup"]["schedule"], "15 4 * * *");
    assert_eq!(s["spec"]["prune"]["retention"]["keepDaily"], 14);
    let earlier = plan(&with_backup("{hour: 1}")).unwrap_err();
    assert_eq!(
        earlier.to_string(),
        "spec.backup.hour: \"1\" is earlier than the catalogue's backup hour (or not an hour); allowed: 2 to 23 (UTC)"
    );
    let fewer = plan(&with_backup(
        "{retention: {daily: 7, weekly: 3, monthly: 6}}",
    ))
    .unwrap_err();
    assert_eq!(fewer.field(), Some("spec.backup.retention.weekly"));
    assert!(
        fewer.to_string().contains("\"3\"") && fewer.to_string().contains("4 or more"),
        "{fewer}"
    );
}

#[test]
fn without_a_catalogue_target_nothing_is_backed_up_and_a_tenant_asking_is_refused() {
    let bare: ServiceCatalog = serde_saphyr::from_str(CATALOG).unwrap();
    let p = build(
        &validate(&tenant(TENANT), &bare).unwrap(),
        &PlanInputs::default(),
    );
    assert!(p.objects.iter().all(|o| o.kind() != "Schedule"));
    assert!(p.secrets.iter().all(|s| !s.name.starts_with("backup-")));
    assert!(p.notes.iter().any(|n| n.contains("no backups")));
    let err = validate(&tenant(&with_backup("{hour: 3}")), &bare).unwrap_err();
    assert_eq!(err.field(), Some("spec.backup"));
}

#[test]
fn switching_a_service_off_leaves_the_schedule_and_the_other_volumes() {
    let off = TENANT.replace(
        "  admins:",
        "  services: {collaboration: false, nas: false}\n  admins:",
    );
    let p = plan(&off).unwrap();
    find(&p, "Schedule", "backup");
    assert!(p.objects.iter().all(|o| o.name() != "postgres-data"));
    assert_eq!(
        find(&p, "PersistentVolumeClaim", "mail-data")
            .metadata()
            .annotations
            .as_ref()
            .unwrap()["k8up.io/backup"],
        "true"
    );
}
