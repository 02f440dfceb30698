//! NAS: the `nas-config` ConfigMap's sambacc configuration and the users file its `prepare.sh`
//! writes, turned into smb.conf by sambacc itself (`samba-container print-config`), checked by
//! `testparm`, then served by a real `smbd` on loopback and used with `smbclient` over SMB3
//! with encryption: each member reaches its own share with its own generated password, and
//! another member's is refused.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use k8s_openapi::api::core::v1::Container;
use serde_json::Value;

use crate::support::{
    Fixture, Server, free_port, require, rewrite, run, temp_dir, text, tool, which,
    with_config_map, write,
};

/// The environment of `container` with Secret references resolved from the generated values.
fn environment(f: &Fixture, container: &Container) -> BTreeMap<String, String> {
    container
        .env
        .iter()
        .flatten()
        .map(|e| {
            let value = match (&e.value, &e.value_from) {
                (Some(v), _) => v.clone(),
                (None, Some(from)) => {
                    let r = from
                        .secret_key_ref
                        .as_ref()
                        .expect("only Secret references");
                    f.secret(&r.name, &r.key).to_owned()
                }
                _ => String::new(),
            };
            (e.name.clone(), value)
        })
        .collect()
}

struct User {
    name: String,
    uid: u32,
    password: String,
}

/// Runs the init container's `prepare.sh` with its paths moved into `dir`; returns the users.
fn prepare(f: &Fixture, data: &BTreeMap<String, String>, dir: &Path) -> Vec<User> {
    let pod = f.deployment("nas").unwrap().spec.as_ref().unwrap();
    let pod = pod.template.spec.as_ref().unwrap();
    let init = &pod.init_containers.as_ref().unwrap()[0];
    let script = &data["prepare.sh"];
    let shares = script.matches("mkdir -p /shares/").count();
    // The share passwords come from the Secret files the init container mounts.
    let secrets = f.secret_mounts(pod, init, dir);
    let mut local = script.clone();
    for (path, dir) in &secrets {
        local = local.replace(&format!("{path}/"), &format!("{}/", dir.display()));
    }
    assert!(
        !secrets.is_empty() && local != *script,
        "tenant {}: prepare.sh reads no mounted Secret file",
        f.name
    );
    let mut local = rewrite(
        &local,
        "/etc/samba-users",
        &format!("{}/samba-users", dir.display()),
        2,
        &f.name,
    );
    local = rewrite(
        &local,
        " /shares/",
        &format!(" {}/shares/", dir.display()),
        3 * shares,
        &f.name,
    );
    let path = dir.join("prepare.sh");
    write(&path, &local);
    run(
        Command::new("/bin/sh")
            .arg(&path)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(environment(f, init)),
        &format!("tenant {}: nas-config/prepare.sh", f.name),
    );
    let users: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("samba-users/users.json")).unwrap())
            .unwrap_or_else(|e| {
                panic!(
                    "tenant {}: users.json written by prepare.sh is not JSON: {e}",
                    f.name
                )
            });
    let users: Vec<User> = users["users"]["all_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| User {
            name: u["name"].as_str().unwrap().to_owned(),
            uid: u["uid"].as_u64().unwrap() as u32,
            password: u["password"].as_str().unwrap().to_owned(),
        })
        .collect();
    assert_eq!(users.len(), shares, "tenant {}: a user per share", f.name);
    for u in &users {
        assert_eq!(
            u.password,
            f.secret("nas-users", &u.name),
            "tenant {}: {}'s password",
            f.name,
            u.name
        );
        let meta = std::fs::metadata(dir.join("shares").join(&u.name)).unwrap();
        assert_eq!(
            (meta.uid(), meta.mode() & 0o777),
            (u.uid, 0o770),
            "tenant {}: /shares/{}",
            f.name,
            u.name
        );
    }
    users
}

/// smb.conf as sambacc renders the configuration (`SAMBACC_CONFIG`, `SAMBA_CONTAINER_ID` of
/// the samba container), paths moved into `dir` and loopback-only test settings appended.
fn smb_conf(f: &Fixture, dir: &Path, port: u16, shares: usize) -> String {
    let pod = f.deployment("nas").unwrap().spec.as_ref().unwrap();
    let samba = &pod.template.spec.as_ref().unwrap().containers[0];
    let env = environment(f, samba);
    let mut cmd = Command::new(tool("samba-container").unwrap());
    for source in env["SAMBACC_CONFIG"].split(':') {
        let local = source
            .replace("/etc/samba-container", &dir.display().to_string())
            .replace(
                "/etc/samba-users",
                &format!("{}/samba-users", dir.display()),
            );
        cmd.arg("--config").arg(local);
    }
    cmd.args([
        "--identity",
        &env["SAMBA_CONTAINER_ID"],
        "--validate-config",
        "required",
        "print-config",
    ]);
    let out = run(
        &mut cmd,
        &format!("tenant {}: sambacc print-config", f.name),
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let local = rewrite(
        &printed,
        "path = /shares/",
        &format!("path = {}/shares/", dir.display()),
        shares,
        &f.name,
    );
    let d = dir.display();
    let test_globals = format!(
        "\t# test only: loopback, a free port, every path in the test's directory\n\
         \tsmb ports = {port}\n\tinterfaces = 127.0.0.1\n\tbind interfaces only = yes\n\
         \tdisable netbios = yes\n\tprivate dir = {d}/private\n\tlock directory = {d}/lock\n\
         \tstate directory = {d}/state\n\tcache directory = {d}/cache\n\tpid directory = {d}/run\n\
         \tncalrpc dir = {d}/ncalrpc\n\tlog file = {d}/log.smbd\n\tpassdb backend = tdbsam:{d}/private/passdb.tdb\n"
    );
    for sub in ["private", "lock", "state", "cache", "run", "ncalrpc"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let end_of_globals = local.find("\n[").expect("shares after [global]") + 1;
    format!(
        "{}{test_globals}{}",
        &local[..end_of_globals],
        &local[end_of_globals..]
    )
}

#[test]
fn nas_shares_serve_each_member_with_its_own_credentials_only() {
    if !crate::support::require_root("nas samba")
        || !require(
            "nas samba",
            &["testparm", "smbd", "smbpasswd", "smbclient", "unshare"],
        )
    {
        return;
    }
    if tool("samba-container").is_none() {
        eprintln!(
            "conformance: SKIPPED nas samba: sambacc (samba-container) not in .tools/venv; run scripts/install-tools"
        );
        return;
    }
    let mut tenants = 0;
    for (f, data) in with_config_map("nas-config") {
        let dir = temp_dir();
        write(&dir.path().join("config.json"), &data["config.json"]);
        let users = prepare(f, data, dir.path());
        let port = free_port();
        let conf_text = smb_conf(f, dir.path(), port, users.len());
        let conf = dir.path().join("smb.conf");
        write(&conf, &conf_text);
        let out = run(
            Command::new("testparm")
                .args(["-s", "-v", "--suppress-prompt"])
                .arg(&conf),
            &format!("tenant {}: testparm of the sambacc smb.conf", f.name),
        );
        let parsed = text(&out);
        assert!(
            !parsed.contains("Unknown parameter") && !parsed.contains("Ignoring unknown"),
            "tenant {}: testparm:\n{parsed}",
            f.name
        );
        // `-v` lists defaults too, under their canonical names.
        for needed in [
            "server min protocol = SMB3",
            "server smb encrypt = required",
            "map to guest = Never",
            "security = USER",
        ] {
            assert!(
                parsed.to_lowercase().contains(&needed.to_lowercase()),
                "tenant {}: {needed} lost:\n{parsed}",
                f.name
            );
        }
        for u in &users {
            assert!(
                parsed.contains(&format!("[{}]", u.name)),
                "tenant {}: share {} missing:\n{parsed}",
                f.name,
                u.name
            );
        }
        // The users exist only in a private mount namespace (its own /etc/passwd and
        // /etc/group): nothing is added to the machine, and no name can collide with its users.
        let mut passwd = String::from(
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        );
        let mut group = String::from("root:x:0:\nnogroup:x:65534:\n");
        let mut script = format!(
            "set -e\nmount --bind {d}/passwd /etc/passwd\nmount --bind {d}/group /etc/group\n",
            d = dir.path().display()
        );
        for u in &users {
            passwd.push_str(&format!(
                "{n}:x:{id}:{id}::/nonexistent:/usr/sbin/nologin\n",
                n = u.name,
                id = u.uid
            ));
            group.push_str(&format!("{}:x:{}:\n", u.name, u.uid));
            script.push_str(&format!(
                "printf '%s\\n%s\\n' '{p}' '{p}' | smbpasswd -c {c} -s -a {n} >/dev/null\n",
                p = u.password,
                c = conf.display(),
                n = u.name
            ));
        }
        script.push_str(&format!(
            "exec {} -F --no-process-group --debug-stdout -s {}\n",
            which("smbd").unwrap().display(),
            conf.display()
        ));
        write(&dir.path().join("passwd"), &passwd);
        write(&dir.path().join("group"), &group);
        let mut server = Server::start(
            &format!("smbd for {}", f.name),
            Command::new("unshare").args(["-m", "/bin/sh", "-c", &script]),
            &dir.path().join("smbd.out"),
        );
        server.wait_ready(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        let client_conf = dir.path().join("client.conf");
        write(&client_conf, "[global]\n\tclient min protocol = SMB3\n");
        let smbclient = |share: &str, user: &User, commands: &str| {
            Command::new("smbclient")
                .arg("-s")
                .arg(&client_conf)
                .args(["-p", &port.to_string(), &format!("//127.0.0.1/{share}")])
                .args([
                    "-U",
                    &format!("{}%{}", user.name, user.password),
                    "-m",
                    "SMB3",
                    "--client-protection=encrypt",
                ])
                .args(["-c", commands])
                .current_dir(dir.path())
                .output()
                .unwrap()
        };
        write(&dir.path().join("upload.txt"), "written over SMB3\n");
        for (i, u) in users.iter().enumerate() {
            let out = smbclient(&u.name, u, "put upload.txt from-owner.txt; ls");
            let listing = text(&out);
            assert!(
                out.status.success() && listing.contains("from-owner.txt"),
                "tenant {}: {} cannot write and list its own share:\n{listing}",
                f.name,
                u.name
            );
            let written = dir
                .path()
                .join("shares")
                .join(&u.name)
                .join("from-owner.txt");
            assert_eq!(
                std::fs::metadata(&written).map(|m| m.uid()).ok(),
                Some(u.uid),
                "tenant {}: the file is written as the share's user",
                f.name
            );
            if users.len() > 1 {
                let other = &users[(i + 1) % users.len()];
                let out = smbclient(&u.name, other, "ls");
                let refusal = text(&out);
                assert!(
                    !out.status.success()
                        && (refusal.contains("NT_STATUS_ACCESS_DENIED")
                            || refusal.contains("NT_STATUS_LOGON_FAILURE")),
                    "tenant {}: {} reached {}'s share:\n{refusal}",
                    f.name,
                    other.name,
                    u.name
                );
            }
        }
        let wrong = User {
            name: users[0].name.clone(),
            uid: 0,
            password: "not-the-password".into(),
        };
        let out = smbclient(&users[0].name, &wrong, "ls");
        assert!(
            !out.status.success() && text(&out).contains("NT_STATUS_LOGON_FAILURE"),
            "tenant {}: a wrong password is not refused:\n{}",
            f.name,
            text(&out)
        );
        drop(server);
        tenants += 1;
    }
    assert!(tenants >= 4, "only {tenants} tenants have a NAS");
}
