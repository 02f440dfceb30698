//! Publishing over SFTP. SFTPGo is not installable on this machine (no package; its Go
//! toolchain is newer than the one here), so its part is checked against the shape its source
//! parses: the init container's script is run by `sh` on the pod's own paths, and the users
//! dump it writes is read with the field names of SFTPGo's `dataprovider.BackupData` and the
//! SDK's `BaseUser` (unknown fields refused), then held to the rules `ValidateUser` applies.
//! The path arithmetic that matters most is checked on the real rendered objects: each SFTP
//! home is the directory nginx serves that domain from, and the host keys lie outside them all;
//! the declared public keys are read by OpenSSH's `ssh-keygen`.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use serde::Deserialize;

use crate::support::{Fixture, fixtures, require, rewrite, temp_dir, text};

/// SFTPGo's dump (`internal/dataprovider`, `BackupData`): what this file sets of it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Dump {
    users: Vec<User>,
    version: u32,
}

/// The SDK's `BaseUser` JSON tags used here.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct User {
    username: String,
    password: String,
    status: i32,
    home_dir: String,
    permissions: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    public_keys: Vec<String>,
}

/// SFTPGo's `DumpVersion`: an older number makes it migrate the dump's event actions.
const DUMP_VERSION: u32 = 17;
/// The host key names SFTPGo generates when the configured absolute path does not exist
/// (`checkHostKeyAutoGeneration`); any other missing key is an error at start.
const GENERATED_HOST_KEYS: [&str; 3] = ["id_rsa", "id_ecdsa", "id_ed25519"];

fn with_sftp() -> impl Iterator<Item = &'static Fixture> {
    fixtures()
        .iter()
        .filter(|f| f.secrets.contains_key("website-sftp"))
}

fn website_pod(f: &Fixture) -> &PodSpec {
    let d = f.deployment("website").unwrap();
    d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn named<'a>(list: &'a [Container], name: &str) -> &'a Container {
    list.iter().find(|c| c.name == name).unwrap()
}

fn mount_path<'a>(c: &'a Container, volume: &str) -> &'a str {
    &c.volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == volume)
        .unwrap_or_else(|| panic!("{} mounts no {volume}", c.name))
        .mount_path
}

fn env<'a>(c: &'a Container, name: &str) -> &'a str {
    c.env
        .iter()
        .flatten()
        .find(|e| e.name == name)
        .and_then(|e| e.value.as_deref())
        .unwrap_or_else(|| panic!("{} has no {name}", c.name))
}

/// Each domain's nginx root, relative to where nginx mounts the content volume.
fn nginx_roots(f: &Fixture, content: &str) -> BTreeMap<String, String> {
    let conf = &f.config_map("website-nginx").unwrap()["default.conf"];
    let mut roots = BTreeMap::new();
    let mut server = None;
    for line in conf.lines().map(str::trim) {
        if let Some(names) = line.strip_prefix("server_name ") {
            server = names.split_whitespace().next().map(str::to_owned);
        }
        if let (Some(root), Some(s)) = (line.strip_prefix("root "), &server)
            && let Some(rel) = root.trim_end_matches(';').strip_prefix(content)
        {
            roots.insert(s.clone(), rel.trim_start_matches('/').to_owned());
        }
    }
    roots
}

/// The init container's script with the pod's paths under `dir` (the password files written
/// there), and the local directory standing for each in-pod path.
fn local_init(f: &Fixture, dir: &Path) -> (String, BTreeMap<String, std::path::PathBuf>) {
    let pod = website_pod(f);
    let init = named(pod.init_containers.as_deref().unwrap(), "sftp-users");
    let command = init.command.as_ref().unwrap();
    assert_eq!(&command[..2], ["/bin/sh", "-c"]);
    let mut script = command[2].clone();
    let mut paths = BTreeMap::new();
    for volume in ["content", "sftp-users"] {
        let path = mount_path(init, volume).to_owned();
        let local = dir.join(volume);
        std::fs::create_dir_all(&local).unwrap();
        let n = script.matches(&path).count();
        script = rewrite(&script, &path, &local.display().to_string(), n, &f.name);
        paths.insert(path, local);
    }
    for (path, local) in f.secret_mounts(pod, init, dir) {
        let n = script.matches(&path).count();
        script = rewrite(&script, &path, &local.display().to_string(), n, &f.name);
        paths.insert(path, local);
    }
    (script, paths)
}

fn sh(script: &str) -> std::process::Output {
    Command::new("/bin/sh")
        .args(["-c", script])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap()
}

#[test]
fn each_domain_is_an_sftpgo_user_whose_home_is_the_site_nginx_serves() {
    if !require("website sftp users (sh)", &["sh", "cat", "mkdir"]) {
        return;
    }
    let (mut checked, mut keys) = (0, 0);
    for f in with_sftp() {
        let pod = website_pod(f);
        let server = named(&pod.containers, "sftp");
        let nginx = named(&pod.containers, "nginx");
        let sites = mount_path(server, "content");
        let roots = nginx_roots(f, mount_path(nginx, "content"));
        assert!(!roots.is_empty(), "{}: nginx roots", f.name);

        let dir = temp_dir();
        let (script, paths) = local_init(f, dir.path());
        let out = sh(&script);
        assert!(out.status.success(), "{}: {}", f.name, text(&out));
        // SFTPGo's memory provider loads the dump named by its data provider `name`, which
        // the server mounts where the init container wrote it.
        assert_eq!(env(server, "SFTPGO_DATA_PROVIDER__DRIVER"), "memory");
        let dump_path = env(server, "SFTPGO_DATA_PROVIDER__NAME");
        let users_dir = mount_path(server, "sftp-users");
        let file = dump_path
            .strip_prefix(users_dir)
            .unwrap()
            .trim_start_matches('/');
        let init = named(pod.init_containers.as_deref().unwrap(), "sftp-users");
        let local = paths[mount_path(init, "sftp-users")].join(file);
        let mode = std::fs::metadata(&local).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}: the dump holds passwords", f.name);
        let dump: Dump = serde_json::from_str(&std::fs::read_to_string(&local).unwrap())
            .unwrap_or_else(|e| panic!("{}: not SFTPGo's dump shape: {e}", f.name));
        assert_eq!(dump.version, DUMP_VERSION);
        let local_sites = paths[mount_path(init, "content")].display().to_string();
        let mut users: Vec<&str> = Vec::new();
        for u in &dump.users {
            // ValidateUser: a valid name, an absolute home, permissions on "/", status 0 or 1
            // (1: enabled), and a password or key (the password is hashed on load).
            assert!(
                u.username
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)),
                "{}: username {}",
                f.name,
                u.username
            );
            assert_eq!(u.status, 1, "{}: {} disabled", f.name, u.username);
            assert_eq!(
                u.permissions,
                BTreeMap::from([("/".to_owned(), vec!["*".to_owned()])])
            );
            assert_eq!(
                u.password,
                f.secret("website-sftp", &u.username),
                "{}",
                f.name
            );
            // Home as the pod sees it: under the SFTP container's mount of the volume, at the
            // same relative path as the domain's nginx root, and created by the init container.
            let home = u.home_dir.replacen(&local_sites, sites, 1);
            assert!(Path::new(&home).is_absolute());
            let rel = home.strip_prefix(sites).unwrap().trim_start_matches('/');
            assert_eq!(
                Some(&rel.to_owned()),
                roots.get(&u.username),
                "{}: {}",
                f.name,
                u.username
            );
            assert!(
                Path::new(&u.home_dir).is_dir(),
                "{}: {} not created",
                f.name,
                u.home_dir
            );
            // Each public key as OpenSSH's own parser reads an authorized_keys line.
            for key in &u.public_keys {
                let file = dir.path().join("key.pub");
                crate::support::write(&file, &format!("{key}\n"));
                let out = Command::new("ssh-keygen")
                    .arg("-l")
                    .arg("-f")
                    .arg(&file)
                    .output();
                if let Ok(out) = out {
                    assert!(out.status.success(), "{}: {key}: {}", f.name, text(&out));
                    keys += 1;
                }
            }
            users.push(&u.username);
        }
        // Every domain but those served from git (their root is git-sync's link).
        let mut domains: Vec<&str> = roots
            .iter()
            .filter(|(_, root)| !root.starts_with(".git-sync/"))
            .map(|(d, _)| d.as_str())
            .collect();
        domains.sort();
        users.sort();
        assert_eq!(users, domains, "{}: one user per domain", f.name);

        // Host keys: generated by SFTPGo when missing, kept on the volume, served by no site.
        for key in env(server, "SFTPGO_SFTPD__HOST_KEYS").split(',') {
            let name = Path::new(key).file_name().unwrap().to_str().unwrap();
            assert!(GENERATED_HOST_KEYS.contains(&name), "{}: {key}", f.name);
            let rel = key
                .strip_prefix(sites)
                .unwrap_or_else(|| panic!("{key} not on the volume"));
            let parent = Path::new(rel.trim_start_matches('/')).parent().unwrap();
            assert!(
                Path::new(&local_sites).join(parent).is_dir(),
                "{}: {key}'s directory",
                f.name
            );
            for root in roots.values() {
                assert!(
                    !rel.trim_start_matches('/').starts_with(&format!("{root}/")),
                    "{key} is served"
                );
            }
        }
        // The web admin is off: its default port (8080) is nginx's.
        assert_eq!(env(server, "SFTPGO_HTTPD__BINDINGS__0__PORT"), "0");
        checked += 1;
    }
    assert!(checked >= 3, "{checked} tenants with SFTP");
    if crate::support::which("ssh-keygen").is_some() {
        assert!(keys >= 1, "no example declares an SFTP public key");
    }
}

#[test]
fn a_missing_password_stops_the_pod_before_any_account_exists() {
    let f = with_sftp().next().unwrap();
    let dir = temp_dir();
    let init = named(
        website_pod(f).init_containers.as_deref().unwrap(),
        "sftp-users",
    );
    let (script, paths) = local_init(f, dir.path());
    // One domain's password file absent (its Secret key not there yet).
    let passwords = &paths[mount_path(init, "sftp-passwords")];
    let first = std::fs::read_dir(passwords)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&first).unwrap();
    let out = sh(&script);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no SFTP password for"),
        "{}",
        text(&out)
    );
    assert!(
        !paths[mount_path(init, "sftp-users")]
            .join("users.json")
            .exists()
    );
}
