//! Collaboration: the `nextcloud-config` ConfigMap's Apache files under Debian's Apache (the
//! Nextcloud image's base) with `apache2 -t`, its PHP through `php`, its hook script through
//! `sh`, and the Nextcloud containers' mounts against what the image's entrypoint writes.

use std::collections::BTreeMap;
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
        // The image's apache-limits.conf, fed the pod's APACHE_BODY_LIMIT (bytes).
        write(
            &conf_dir.join("conf-enabled/apache-limits.conf"),
            "LimitRequestBody ${APACHE_BODY_LIMIT}\n",
        );
        let body_limit = environment(f, "Deployment/nextcloud", container)
            .remove("APACHE_BODY_LIMIT")
            .expect("APACHE_BODY_LIMIT");
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
                .env("APACHE_BODY_LIMIT", &body_limit)
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

/// The variables of `container`: plain values only (a Secret must come as a file).
fn environment(f: &Fixture, object: &str, container: &Container) -> BTreeMap<String, String> {
    container
        .env
        .iter()
        .flatten()
        .map(|e| {
            assert!(
                e.value_from.is_none(),
                "tenant {}, {object}: {} comes from valueFrom; mount the Secret as a file",
                f.name,
                e.name
            );
            (e.name.clone(), e.value.clone().unwrap_or_default())
        })
        .collect()
}

/// What the image's `config/redis.config.php`, `smtp.config.php` and `reverse-proxy.config.php`
/// and its PHP ini (`upload_max_filesize=${PHP_UPLOAD_LIMIT}`) make of the variables, with
/// the `*_FILE` paths pointing at the pod's mounted Secret files.
const READ_SETTINGS: &str = r#"
$file = fn ($v) => getenv($v) ? trim(file_get_contents(getenv($v))) : null;
echo json_encode([
  'redis' => [getenv('REDIS_HOST'), (int) getenv('REDIS_HOST_PORT'), $file('REDIS_HOST_PASSWORD_FILE')],
  'smtp' => getenv('SMTP_HOST') ? [getenv('SMTP_HOST'), (int) getenv('SMTP_PORT'), getenv('SMTP_SECURE') ?: '', getenv('SMTP_NAME'), $file('SMTP_PASSWORD_FILE')] : null,
  'from' => getenv('MAIL_FROM_ADDRESS') . '@' . getenv('MAIL_DOMAIN'),
  'db' => $file('POSTGRES_PASSWORD_FILE'),
  'admin' => $file('NEXTCLOUD_ADMIN_PASSWORD_FILE'),
  'cli_url' => getenv('OVERWRITECLIURL'),
  'trusted_proxies' => array_values(array_filter(array_map('trim', explode(' ', (string) getenv('TRUSTED_PROXIES'))))),
  'upload' => ini_parse_quantity(getenv('PHP_UPLOAD_LIMIT')),
]);
"#;

#[test]
fn php_reads_the_settings_and_secret_files_the_image_variables_name() {
    if !require("collaboration php", &["php"]) {
        return;
    }
    let mut pods = 0;
    for f in fixtures() {
        for (object, pod) in nextcloud_pods(f) {
            check_pod_settings(f, &object, pod);
            pods += 1;
        }
    }
    assert!(pods >= 8, "only {pods} Nextcloud pods");
}

fn check_pod_settings(f: &Fixture, object: &str, pod: &PodSpec) {
    let dir = temp_dir();
    let container = &pod.containers[0];
    let mut env = environment(f, object, container);
    let secrets = f.secret_mounts(pod, container, dir.path());
    for value in env.values_mut() {
        for (path, local) in &secrets {
            if let Some(file) = value.strip_prefix(&format!("{path}/")) {
                *value = local.join(file).display().to_string();
            }
        }
    }
    let what = format!("tenant {}, {object}", f.name);
    let out = run(
        Command::new("php")
            .arg("-r")
            .arg(READ_SETTINGS)
            .env_clear()
            .envs(&env),
        &format!("{what}: php reading the settings"),
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let redis = f.secret("nextcloud-redis", "password");
    assert_eq!(
        got["redis"],
        serde_json::json!(["redis", 6379, redis]),
        "{what}"
    );
    assert_eq!(
        got["cli_url"].as_str(),
        f.plan.endpoints.collaboration.as_deref(),
        "{what}"
    );
    assert!(
        got["trusted_proxies"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "{what}"
    );
    let web = object.starts_with("Deployment/");
    let secret_or_null = |secret: &str| match web {
        true => serde_json::json!(f.secret(secret, "password")),
        false => serde_json::Value::Null,
    };
    assert_eq!(got["db"], secret_or_null("nextcloud-db"), "{what}");
    assert_eq!(got["admin"], secret_or_null("nextcloud-admin"), "{what}");
    assert_smtp(f, &what, &got);
    if web {
        let limit = env["APACHE_BODY_LIMIT"].parse::<u64>().unwrap();
        assert_eq!(
            got["upload"], limit,
            "{what}: PHP's upload limit is Apache's"
        );
        assert_eq!(
            ingress_body_size(f),
            limit,
            "{what}: the ingress's body size"
        );
    }
}

/// With mail: submission (587, STARTTLS) to the tenant's mail Service as the postmaster, with
/// its password; without: no SMTP settings at all.
fn assert_smtp(f: &Fixture, what: &str, got: &serde_json::Value) {
    if !f.tenant.spec.services.mail {
        assert_eq!(
            got["smtp"],
            serde_json::Value::Null,
            "{what}: SMTP with mail off"
        );
        return;
    }
    let mail_host = f.plan.endpoints.mail_host.as_deref().unwrap();
    let domain = mail_host.strip_prefix("mail.").unwrap();
    let postmaster = format!("postmaster@{domain}");
    let password = f.secret("mail-postmaster", "password");
    assert_eq!(
        got["smtp"],
        serde_json::json!(["mail", 587, "", postmaster, password]),
        "{what}"
    );
    assert_eq!(got["from"], postmaster, "{what}");
    let submission = f.plan.objects.iter().any(|o| match o {
        Object::Service(s) if o.name() == "mail" => s
            .spec
            .iter()
            .flat_map(|s| s.ports.iter().flatten())
            .any(|p| p.port == 587),
        _ => false,
    });
    assert!(submission, "{what}: no mail Service with port 587");
}

/// The Nextcloud Ingress's `proxy-body-size` in bytes (nginx: `k`, `m`, `g` are powers of 1024).
fn ingress_body_size(f: &Fixture) -> u64 {
    let size = f
        .plan
        .objects
        .iter()
        .find_map(|o| match o {
            Object::Ingress(i) if o.name() == "nextcloud" => i
                .metadata
                .annotations
                .as_ref()?
                .get("nginx.ingress.kubernetes.io/proxy-body-size")
                .cloned(),
            _ => None,
        })
        .expect("a proxy-body-size on the nextcloud Ingress");
    let (digits, unit) = size.split_at(size.len() - 1);
    let shift = match unit {
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => panic!("proxy-body-size {size}: not a k/m/g size"),
    };
    digits.parse::<u64>().unwrap() << shift
}

/// Runs a hook with a stand-in `php` that records its arguments; returns one call per run of
/// php, its arguments in order.
fn occ_calls(what: &str, script: &str) -> Vec<Vec<String>> {
    let dir = temp_dir();
    let hook = dir.path().join("hook.sh");
    write(&hook, script);
    run(
        Command::new("sh").arg("-n").arg(&hook),
        &format!("{what}: sh -n"),
    );
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
        what,
    );
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    calls
        .split("\n\n")
        .filter(|c| !c.trim().is_empty())
        .map(|c| c.lines().map(str::to_owned).collect())
        .collect()
}

#[test]
fn the_settings_hook_sets_what_no_image_variable_covers() {
    for (f, data) in with_config_map(CONFIG_MAP) {
        let what = format!("tenant {}: mutualis-settings.sh", f.name);
        let calls = occ_calls(&what, &data["mutualis-settings.sh"]);
        let set = |key: &[&str], value: &str| {
            let mut call = vec!["/var/www/html/occ", "config:system:set"];
            call.extend_from_slice(key);
            calls.iter().any(|c| {
                c.len() > call.len()
                    && c.iter().zip(&call).all(|(a, b)| a == b)
                    && c.windows(2).any(|w| w[0] == "--value" && w[1] == value)
            })
        };
        assert!(set(&["default_phone_region"], "FR"), "{what}: {calls:?}");
        assert!(set(&["maintenance_window_start"], "1"), "{what}: {calls:?}");
        assert!(
            set(&["memcache.local"], "\\OC\\Memcache\\APCu"),
            "{what}: {calls:?}"
        );
        assert!(
            set(&["trusted_domains", "1"], &cloud_host(f)),
            "{what}: {calls:?}"
        );
        if f.tenant.spec.services.mail {
            let mail_host = f.plan.endpoints.mail_host.clone().unwrap();
            assert!(
                set(&["mail_smtpstreamoptions", "ssl", "peer_name"], &mail_host),
                "{what}: the mail certificate's name: {calls:?}"
            );
        }
    }
}

#[test]
fn the_member_groups_hook_adds_a_group_per_member_with_its_display_name() {
    for (f, data) in with_config_map(CONFIG_MAP) {
        let what = format!("tenant {}: member-groups.sh", f.name);
        let calls = occ_calls(&what, &data["member-groups.sh"]);
        let members = &f.tenant.spec.members;
        assert_eq!(
            calls.len(),
            members.len(),
            "{what}: one occ call per member"
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
                "{what}"
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
