//! Backups with the engine's own tool: restic, driven exactly as K8up drives it from each
//! tenant's rendered Schedule — `RESTIC_PASSWORD` from the Secret key `backend.repoPasswordSecretRef`
//! names (with the value mutualis' generator writes), the repository laid out as K8up builds
//! its URL (`s3:<endpoint>/<bucket>`, the bucket carrying the tenant's prefix) — initialises the
//! repository, backs up a volume directory (`/data/<claim>`, as K8up mounts it, with the
//! namespace as host) and the database dump from standard input (named as K8up names a backup
//! command's output), restores the volume and compares it. Another tenant's key opens nothing.
//! There is no S3 server here: the repository is a local directory at the bucket's path, the
//! layout restic gives an S3 bucket.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{Fixture, fixtures, require, run, temp_dir, write};

fn schedule(f: &Fixture) -> Option<Value> {
    f.plan
        .objects
        .iter()
        .find(|o| o.kind() == "Schedule")
        .map(mutualis::plan::Object::to_json)
}

fn restic(repo: &Path, password: &str) -> Command {
    let mut c = Command::new("restic");
    c.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("RESTIC_REPOSITORY", repo)
        .env("RESTIC_PASSWORD", password)
        .arg("--no-cache");
    c
}

#[test]
fn restic_backs_up_and_restores_with_the_repository_and_key_mutualis_configures() {
    if !require("backup restic", &["restic"]) {
        return;
    }
    let with_backups: Vec<(&Fixture, Value)> = fixtures()
        .iter()
        .filter_map(|f| schedule(f).map(|s| (f, s)))
        .collect();
    assert!(with_backups.len() >= 3, "the examples are backed up");
    let dir = temp_dir();
    let mut keys = Vec::new();
    for (f, s) in &with_backups {
        let backend = &s["spec"]["backend"];
        let (secret, key) = (
            backend["repoPasswordSecretRef"]["name"].as_str().unwrap(),
            backend["repoPasswordSecretRef"]["key"].as_str().unwrap(),
        );
        let password = f.secret(secret, key);
        // The S3 credentials are keys of a Secret the plan asks for, where K8up looks for them.
        for field in ["accessKeyIDSecretRef", "secretAccessKeySecretRef"] {
            let r = &backend["s3"][field];
            f.secret(r["name"].as_str().unwrap(), r["key"].as_str().unwrap());
        }
        // K8up's repository string, from the rendered fields, is the one the status reports.
        let (endpoint, bucket) = (
            backend["s3"]["endpoint"].as_str().unwrap(),
            backend["s3"]["bucket"].as_str().unwrap(),
        );
        let valid = mutualis::plan::validate(&f.tenant, f.catalog()).unwrap();
        assert_eq!(
            valid
                .backup()
                .unwrap()
                .repository(&f.tenant.metadata.name.clone().unwrap()),
            format!("s3:{endpoint}/{bucket}"),
            "{}",
            f.name
        );
        let repo = dir.path().join("bucket").join(bucket);
        let namespace = s["metadata"]["namespace"].as_str().unwrap();
        run(
            restic(&repo, password).arg("init"),
            &format!("{}: restic init", f.name),
        );
        // A volume as K8up mounts it in its backup pod.
        let data = dir.path().join(namespace).join("data");
        let claim = data.join("nas-data");
        write(
            &claim.join("Mairie/délibération 2017-37.txt"),
            &format!("{} — conseil du 17 octobre 2017\n", f.name),
        );
        write(&claim.join("Mairie/budget.csv"), "ligne;montant\n1;17938\n");
        run(
            restic(&repo, password)
                .args(["backup", "--host", namespace, "--json"])
                .arg(&claim)
                .current_dir(&data),
            &format!("{}: restic backup of the volume", f.name),
        );
        // The database dump, when the plan annotates the database pod for one.
        let dumped = f.deployment("postgres").is_some_and(|d| {
            d.spec
                .as_ref()
                .unwrap()
                .template
                .metadata
                .as_ref()
                .unwrap()
                .annotations
                .as_ref()
                .is_some_and(|a| {
                    a.get("k8up.io/file-extension").map(String::as_str) == Some(".sql")
                })
        });
        if dumped {
            let mut c = restic(&repo, password);
            c.args(["backup", "--host", namespace, "--stdin", "--stdin-filename"])
                .arg(format!("/{namespace}-postgres.sql"))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = c.spawn().unwrap();
            std::io::Write::write_all(
                &mut child.stdin.take().unwrap(),
                b"-- PostgreSQL database dump\nCREATE TABLE oc_filecache (fileid bigint);\n",
            )
            .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}: stdin backup: {}",
                f.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = run(
            restic(&repo, password).args(["snapshots", "--json", "--host", namespace]),
            &format!("{}: restic snapshots", f.name),
        );
        let snapshots: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            snapshots.len(),
            1 + usize::from(dumped),
            "{}: {snapshots:?}",
            f.name
        );
        let volume = snapshots
            .iter()
            .find(|s| s["paths"][0].as_str().unwrap().ends_with("/nas-data"))
            .unwrap();
        let id = volume["short_id"].as_str().unwrap();
        // `mutualis restore --snapshot` takes the IDs restic prints.
        let target = dir.path().join(format!("{namespace}-restored"));
        run(
            restic(&repo, password)
                .args(["restore", id, "--target"])
                .arg(&target),
            &format!("{}: restic restore", f.name),
        );
        let restored = target.join(claim.strip_prefix("/").unwrap());
        assert_eq!(
            std::fs::read_to_string(restored.join("Mairie/délibération 2017-37.txt")).unwrap(),
            std::fs::read_to_string(claim.join("Mairie/délibération 2017-37.txt")).unwrap()
        );
        assert_eq!(
            std::fs::read_to_string(restored.join("Mairie/budget.csv")).unwrap(),
            "ligne;montant\n1;17938\n"
        );
        if dumped {
            let out = run(
                restic(&repo, password)
                    .args(["dump", "latest"])
                    .arg(format!("/{namespace}-postgres.sql")),
                &format!("{}: restic dump of the database", f.name),
            );
            assert!(String::from_utf8_lossy(&out.stdout).contains("CREATE TABLE oc_filecache"));
        }
        keys.push((f.name.clone(), repo, password.to_owned()));
    }
    // Each repository opens with its own tenant's key only.
    for (name, repo, _) in &keys {
        for (other, _, password) in &keys {
            if other == name {
                continue;
            }
            let out = restic(repo, password).arg("snapshots").output().unwrap();
            assert!(
                !out.status.success(),
                "{other}'s key opens {name}'s repository"
            );
        }
    }
}
