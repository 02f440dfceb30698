//! Credentials reach programs as mounted files, never as environment variables or
//! arguments; Nextcloud is configured through its image's variables and hooks.

use k8s_openapi::api::core::v1::PodSpec;
use serde_json::json;

use super::*;
use crate::plan::services::collaboration::settings;

/// Every pod spec of a plan, with its object's name.
fn pods(p: &Plan) -> Vec<(String, PodSpec)> {
    p.objects
        .iter()
        .filter_map(|o| {
            let spec = match o {
                Object::Deployment(d) => d.spec.as_ref()?.template.spec.clone(),
                Object::CronJob(c) => c
                    .spec
                    .as_ref()?
                    .job_template
                    .spec
                    .as_ref()?
                    .template
                    .spec
                    .clone(),
                _ => None,
            }?;
            Some((format!("{}/{}", o.kind(), o.name()), spec))
        })
        .collect()
}

#[test]
fn no_container_takes_a_secret_from_its_environment() {
    let p = plan_of(TENANT, &PlanInputs::default());
    let mut secret_volumes = 0;
    for (object, pod) in pods(&p) {
        for c in pod
            .containers
            .iter()
            .chain(pod.init_containers.iter().flatten())
        {
            for e in c.env.iter().flatten() {
                assert!(
                    e.value_from.is_none(),
                    "{object}, {}: {} from valueFrom",
                    c.name,
                    e.name
                );
            }
            let argv = [c.command.clone(), c.args.clone()]
                .into_iter()
                .flatten()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            // Kubernetes' `$(VAR)` expansion would put a variable's value into the arguments.
            let expands = argv
                .match_indices("$(")
                .any(|(i, _)| argv[i + 2..].starts_with(|ch: char| ch.is_ascii_uppercase()));
            assert!(!expands, "{object}, {}: {argv}", c.name);
            let mounts = c.volume_mounts.iter().flatten();
            for m in mounts {
                let v = pod
                    .volumes
                    .iter()
                    .flatten()
                    .find(|v| v.name == m.name)
                    .unwrap();
                let mode = match (&v.secret, &v.projected) {
                    (Some(s), _) => s.default_mode,
                    (None, Some(p)) => p.default_mode,
                    _ => continue,
                };
                assert_eq!(m.read_only, Some(true), "{object}: {} writable", m.name);
                // Read-only files; world-readable only for the DKIM key rspamd reads as itself.
                if v.name != "dkim" {
                    assert!(mode.is_some_and(|m| m & 0o007 == 0), "{object}: {}", v.name);
                }
                assert!(
                    mode.is_some_and(|m| m & 0o333 == 0),
                    "{object}: {} has mode {mode:?}",
                    v.name
                );
                secret_volumes += 1;
            }
        }
    }
    // Nextcloud, its cron job, PostgreSQL, Redis, the NAS init container, the mail accounts
    // init container, the SFTP users init container, and the mail server's DKIM and TLS keys.
    assert_eq!(secret_volumes, 9);
}

#[test]
fn redis_reads_its_password_from_the_secret_file_in_its_start_script_and_probe() {
    let p = plan_of(TENANT, &PlanInputs::default());
    let redis = find(&p, "Deployment", "redis").to_json();
    let c = &redis["spec"]["template"]["spec"]["containers"][0];
    let script = c["command"][2].as_str().unwrap();
    assert!(
        script.contains("requirepass %s")
            && script.contains("$(cat /run/secrets/mutualis/redis-password)")
            && script.ends_with("exec redis-server /run/redis/redis.conf\n"),
        "{script}"
    );
    let probe = c["readinessProbe"]["exec"]["command"].to_string();
    assert!(
        probe.contains("REDISCLI_AUTH=\\\"$(cat /run/secrets/mutualis/redis-password)\\\""),
        "{probe}"
    );
    assert!(c["env"].is_null() && c["args"].is_null(), "{c}");
}

/// `16G`-style quantities as PHP and nginx read them (powers of 1024).
fn bytes(size: &str) -> u64 {
    let (digits, unit) = size.split_at(size.len() - 1);
    let shift = match unit {
        "G" | "g" => 30,
        "M" | "m" => 20,
        _ => panic!("{size}"),
    };
    digits.parse::<u64>().unwrap() << shift
}

#[test]
fn the_upload_limit_is_one_value_for_php_apache_and_the_ingress() {
    let limit = settings::UPLOAD_LIMIT_GIB << 30;
    assert_eq!(bytes(&settings::php_upload_limit()), limit);
    assert_eq!(settings::apache_body_limit(), limit.to_string());
    assert_eq!(bytes(&settings::ingress_body_size()), limit);
    let p = plan_of(TENANT, &PlanInputs::default());
    let nextcloud = find(&p, "Deployment", "nextcloud").to_json();
    let env = &nextcloud["spec"]["template"]["spec"]["containers"][0]["env"];
    let var = |name: &str| {
        env.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(bytes(&var("PHP_UPLOAD_LIMIT")), limit);
    assert_eq!(var("APACHE_BODY_LIMIT"), limit.to_string());
    let ingress = find(&p, "Ingress", "nextcloud").to_json();
    let size = &ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"];
    assert_eq!(bytes(size.as_str().unwrap()), limit);
}

fn env_names(p: &Plan, kind: &str, name: &str) -> Vec<String> {
    let o = find(p, kind, name).to_json();
    let spec = match kind {
        "CronJob" => &o["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &o["spec"]["template"]["spec"],
    };
    spec["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn nextcloud_sends_mail_through_the_tenant_mail_server_only_when_mail_is_on() {
    let p = plan_of(TENANT, &PlanInputs::default());
    for (kind, name) in [("Deployment", "nextcloud"), ("CronJob", "nextcloud-cron")] {
        let names = env_names(&p, kind, name);
        assert!(
            names.contains(&"SMTP_PASSWORD_FILE".to_owned()),
            "{names:?}"
        );
        assert!(
            !names.contains(&"SMTP_SECURE".to_owned()),
            "STARTTLS on 587"
        );
    }
    // Nextcloud's policy ends with the way to the mail server (after HTTPS out); the cron
    // pods have a policy of their own with only that rule.
    for (policy, component, rule) in [
        ("allow-nextcloud", "nextcloud", 1),
        ("allow-nextcloud-cron-smtp", "cron", 0),
    ] {
        let np = find(&p, "NetworkPolicy", policy).to_json();
        assert_eq!(
            np["spec"]["podSelector"]["matchLabels"][labels::COMPONENT],
            component
        );
        let egress = np["spec"]["egress"].as_array().unwrap();
        assert_eq!(egress.len(), rule + 1, "{np}");
        assert_eq!(
            egress[rule],
            json!({
                "ports": [{"port": 587, "protocol": "TCP"}],
                "to": [{"podSelector": {"matchLabels": {
                    labels::COMPONENT: "mail", labels::SERVICE: "mail", labels::TENANT: "villages"
                }}}]
            })
        );
    }
    let hook = find(&p, "ConfigMap", "nextcloud-config").to_json()["data"]["mutualis-settings.sh"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        hook.contains("'peer_name' '--type' 'string' '--value' 'mail.villages.fr'"),
        "{hook}"
    );

    let no_mail = TENANT.replace("  admins:", "  services: {mail: false}\n  admins:");
    let p = plan_of(&no_mail, &PlanInputs::default());
    for (kind, name) in [("Deployment", "nextcloud"), ("CronJob", "nextcloud-cron")] {
        let names = env_names(&p, kind, name);
        assert!(
            !names
                .iter()
                .any(|n| n.starts_with("SMTP_") || n.starts_with("MAIL_")),
            "{names:?}"
        );
    }
    assert!(!p.objects.iter().any(|o| o.name().ends_with("-smtp")));
    assert!(
        p.notes.iter().any(|n| n.contains("sends no e-mail")),
        "{:?}",
        p.notes
    );
}

#[test]
fn nextcloud_mounts_nothing_into_the_directories_its_entrypoint_writes() {
    let p = plan_of(TENANT, &PlanInputs::default());
    for (object, pod) in pods(&p)
        .into_iter()
        .filter(|(o, _)| o.contains("nextcloud"))
    {
        for m in pod
            .containers
            .iter()
            .flat_map(|c| c.volume_mounts.iter().flatten())
        {
            let inside_config = m.mount_path.starts_with("/var/www/html/");
            assert!(
                !inside_config,
                "{object}: {} inside /var/www/html",
                m.mount_path
            );
        }
    }
    let cm = find(&p, "ConfigMap", "nextcloud-config").to_json();
    assert!(
        cm["data"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.ends_with(".php")),
        "{cm}"
    );
}
