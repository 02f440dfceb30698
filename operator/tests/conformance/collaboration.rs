//! Collaboration: the `nextcloud-config` ConfigMap's Apache files under Debian's Apache (the
//! Nextcloud image's base) with `apache2 -t`, its PHP through `php`, its hook script through
//! `sh`, and the Nextcloud containers' mounts against what the image's entrypoint writes.

use std::process::Command;

use k8s_openapi::api::core::v1::{Container, PodSpec, Volume};
use mutualis::plan::Object;

use crate::support::{Fixture, fixtures, require, run, temp_dir, text, with_config_map, write};

const CONFIG_MAP: &str = "nextcloud-config";

/// The Nextcloud pod specs of a plan (the web Deployment and the cron job), by object name.
fn nextcloud_pods(f: &Fixture) -> Vec<(String, &PodSpec)> {
    f.plan
        .objects
        .iter()
        .filter_map(|o| match o {
            Object::Deployment(d) if o.name() == "nextcloud" => Some((
                format!("Deployment/{}", o.name()),
                d.spec.as_ref()?.template.spec.as_ref()?,
            )),
            Object::CronJob(c) => Some((
                format!("CronJob/{}", o.name()),
                c.spec
                    .as_ref()?
                    .job_template
                    .spec
                    .as_ref()?
                    .template
                    .spec
                    .as_ref()?,
            )),
            _ => None,
        })
        .collect()
}

/// Files of the ConfigMap mounted one by one into `container`: (mount path, key).
fn config_files<'a>(pod: &'a PodSpec, container: &'a Container) -> Vec<(&'a str, &'a str)> {
    let config_volumes: Vec<&str> = pod
        .volumes
        .iter()
        .flatten()
        .filter(|v| v.config_map.as_ref().is_some_and(|c| c.name == CONFIG_MAP))
        .map(|v| v.name.as_str())
        .collect();
    container
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| config_volumes.contains(&m.name.as_str()))
        .filter_map(|m| Some((m.mount_path.as_str(), m.sub_path.as_deref()?)))
        .collect()
}

fn cloud_host(f: &Fixture) -> String {
    let url = f.plan.endpoints.collaboration.as_ref().unwrap();
    url.trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned()
}

#[test]
fn apache_accepts_the_configuration_mounted_into_debian_apache() {
    if !require("collaboration apache", &["apache2"]) {
        return;
    }
    let mut tenants = 0;
    for (f, data) in with_config_map(CONFIG_MAP) {
        let dir = temp_dir();
        let conf_dir = dir.path().join("apache2");
        run(
            Command::new("cp")
                .args(["-a", "/etc/apache2"])
                .arg(&conf_dir),
            "copy Debian's Apache configuration",
        );
        // The modules the image enables (`a2enmod headers rewrite remoteip`).
        for module in ["headers", "rewrite", "remoteip"] {
            let link = conf_dir.join(format!("mods-enabled/{module}.load"));
            if !link.exists() {
                std::os::unix::fs::symlink(format!("../mods-available/{module}.load"), link)
                    .unwrap();
            }
        }
        let (_, pod) = &nextcloud_pods(f)[0];
        let container = &pod.containers[0];
        let mut written = 0;
        for (path, key) in config_files(pod, container) {
            if let Some(rel) = path.strip_prefix("/etc/apache2/") {
                write(&conf_dir.join(rel), &data[key]);
                written += 1;
            }
        }
        assert!(
            written > 0,
            "tenant {}: no Apache file mounted; nothing for apache2 -t",
            f.name
        );
        for sub in ["run", "lock", "log"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let apache = |args: &[&str]| {
            let mut cmd = Command::new(crate::support::which("apache2").unwrap());
            cmd.arg("-d")
                .arg(&conf_dir)
                .arg("-f")
                .arg(conf_dir.join("apache2.conf"))
                .args(args)
                .env("APACHE_RUN_USER", "www-data")
                .env("APACHE_RUN_GROUP", "www-data")
                .env("APACHE_PID_FILE", dir.path().join("run/apache2.pid"))
                .env("APACHE_RUN_DIR", dir.path().join("run"))
                .env("APACHE_LOCK_DIR", dir.path().join("lock"))
                .env("APACHE_LOG_DIR", dir.path().join("log"));
            run(
                &mut cmd,
                &format!(
                    "tenant {}: apache2 {args:?} with nextcloud-config's files",
                    f.name
                ),
            )
        };
        let out = apache(&["-t"]);
        assert!(
            text(&out).contains("Syntax OK"),
            "tenant {}: {}",
            f.name,
            text(&out)
        );
        let vhosts = text(&apache(&["-t", "-D", "DUMP_VHOSTS"]));
        let port = container.ports.as_ref().unwrap()[0].container_port;
        assert!(
            vhosts.contains(&format!("*:{port}")) && vhosts.contains(&cloud_host(f)),
            "tenant {}: no virtual host {} on the container port {port}:\n{vhosts}",
            f.name,
            cloud_host(f)
        );
        tenants += 1;
    }
    assert!(tenants >= 4, "only {tenants} tenants have Nextcloud");
}

#[test]
fn php_files_lint_and_define_the_expected_settings() {
    if !require("collaboration php", &["php"]) {
        return;
    }
    for (f, data) in with_config_map(CONFIG_MAP) {
        let dir = temp_dir();
        let php_files: Vec<&String> = data.keys().filter(|k| k.ends_with(".php")).collect();
        assert!(!php_files.is_empty(), "tenant {}: no PHP file", f.name);
        for key in php_files {
            let file = dir.path().join(key);
            write(&file, &data[key]);
            run(
                Command::new("php").arg("-l").arg(&file),
                &format!("tenant {}: php -l {key}", f.name),
            );
        }
        // Nextcloud includes every config/*.config.php and merges its $CONFIG.
        let file = dir.path().join("mutualis.config.php");
        let redis_password = f.secret("nextcloud-redis", "password");
        let out = run(
            Command::new("php")
                .arg("-r")
                .arg(format!(
                    "include '{}'; echo json_encode($CONFIG);",
                    file.display()
                ))
                .env("REDIS_HOST_PASSWORD", redis_password),
            &format!("tenant {}: php include of mutualis.config.php", f.name),
        );
        let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let host = cloud_host(f);
        assert_eq!(
            config["trusted_domains"][0],
            host.as_str(),
            "tenant {}",
            f.name
        );
        assert_eq!(
            config["overwrite.cli.url"],
            format!("https://{host}"),
            "tenant {}",
            f.name
        );
        assert_eq!(
            config["redis"]["password"], redis_password,
            "tenant {}: redis password from the env",
            f.name
        );
        assert_eq!(
            config["memcache.locking"], "\\OC\\Memcache\\Redis",
            "tenant {}",
            f.name
        );
    }
}

#[test]
fn the_member_groups_hook_adds_a_group_per_member_with_its_display_name() {
    for (f, data) in with_config_map(CONFIG_MAP) {
        let dir = temp_dir();
        let hook = dir.path().join("member-groups.sh");
        write(&hook, &data["member-groups.sh"]);
        run(
            Command::new("sh").arg("-n").arg(&hook),
            &format!("tenant {}: sh -n member-groups.sh", f.name),
        );
        // A stand-in `php` records the occ calls, one argument per line.
        let log = dir.path().join("calls");
        write(
            &dir.path().join("bin/php"),
            &format!(
                "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> {}\necho >> {}\n",
                log.display(),
                log.display()
            ),
        );
        crate::support::set_mode(&dir.path().join("bin/php"), 0o755);
        run(
            Command::new("sh").arg(&hook).env(
                "PATH",
                format!("{}:/usr/bin:/bin", dir.path().join("bin").display()),
            ),
            &format!("tenant {}: member-groups.sh", f.name),
        );
        let calls = std::fs::read_to_string(&log).unwrap_or_default();
        let calls: Vec<Vec<&str>> = calls
            .split("\n\n")
            .filter(|c| !c.trim().is_empty())
            .map(|c| c.lines().collect())
            .collect();
        let members = &f.tenant.spec.members;
        assert_eq!(
            calls.len(),
            members.len(),
            "tenant {}: one occ call per member",
            f.name
        );
        for (call, m) in calls.iter().zip(members) {
            assert_eq!(
                &call[..4],
                [
                    "/var/www/html/occ",
                    "group:add",
                    "--display-name",
                    m.display_name.as_str()
                ],
                "tenant {}",
                f.name
            );
        }
    }
}

/// What the Nextcloud image's entrypoint (docker-entrypoint.sh, apache flavour) writes at
/// start: it rsyncs the application into /var/www/html with --delete (all but the
/// directories below), seeds each of those directories when it is empty, writes the Redis
/// session settings into PHP's conf.d and its app lists into /tmp.
const ENTRYPOINT_WRITES: [&str; 7] = [
    "/var/www/html",
    "/var/www/html/config",
    "/var/www/html/data",
    "/var/www/html/custom_apps",
    "/var/www/html/themes",
    "/usr/local/etc/php/conf.d",
    "/tmp",
];

fn volume<'a>(pod: &'a PodSpec, name: &str) -> &'a Volume {
    pod.volumes
        .iter()
        .flatten()
        .find(|v| v.name == name)
        .unwrap()
}

#[test]
#[ignore = "defect: mutualis.config.php is a read-only single-file mount inside /var/www/html/config, which the entrypoint seeds and Nextcloud writes; fixed by the services work"]
fn no_mount_shadows_a_path_the_nextcloud_entrypoint_writes() {
    let mut problems = Vec::new();
    for f in fixtures() {
        for (object, pod) in nextcloud_pods(f) {
            for c in pod
                .containers
                .iter()
                .chain(pod.init_containers.iter().flatten())
            {
                for m in c.volume_mounts.iter().flatten() {
                    let inside = ENTRYPOINT_WRITES.iter().find(|w| {
                        m.mount_path == **w || m.mount_path.starts_with(&format!("{w}/"))
                    });
                    let read_only = m.read_only == Some(true);
                    if let Some(w) = inside
                        && (m.sub_path.is_some() || read_only)
                    {
                        problems.push(format!(
                            "tenant {}, {object}, container {}: mount {} (volume {}, subPath {:?}, readOnly {read_only}) inside {w}, which the entrypoint writes",
                            f.name, c.name, m.mount_path, m.name, m.sub_path
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn entrypoint_hooks_are_executable() {
    for f in fixtures() {
        for (object, pod) in nextcloud_pods(f) {
            for c in &pod.containers {
                for m in c.volume_mounts.iter().flatten() {
                    if !m.mount_path.starts_with("/docker-entrypoint-hooks.d/") {
                        continue;
                    }
                    // The entrypoint skips a hook without the executable flag.
                    let mode = volume(pod, &m.name)
                        .config_map
                        .as_ref()
                        .and_then(|c| c.default_mode);
                    assert!(
                        mode.is_some_and(|m| m & 0o111 == 0o111),
                        "tenant {}, {object}: hook {} has mode {mode:?}, not executable",
                        f.name,
                        m.mount_path
                    );
                }
            }
        }
    }
}
