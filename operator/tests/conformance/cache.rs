//! Nextcloud's Redis: the container's start script run by `sh` with the pod's Secret file,
//! starting a real `redis-server` on loopback; its readiness probe, run as the kubelet would,
//! authenticates with the password from the file; the password is in neither the server's
//! arguments nor its environment, and a client without it is refused.

use std::net::TcpStream;
use std::process::Command;

use crate::support::{Fixture, Server, fixtures, free_port, require, rewrite, temp_dir, which};

const SECRETS: &str = "/run/secrets/mutualis";

fn redis_pods(f: &Fixture) -> Option<&k8s_openapi::api::core::v1::PodSpec> {
    f.deployment("redis")?.spec.as_ref()?.template.spec.as_ref()
}

#[test]
fn redis_starts_from_its_secret_file_and_its_probe_authenticates() {
    if !require("cache redis", &["redis-server", "redis-cli"]) {
        return;
    }
    let mut tenants = 0;
    for f in fixtures() {
        let Some(pod) = redis_pods(f) else { continue };
        let c = &pod.containers[0];
        let command = c.command.as_ref().unwrap();
        assert_eq!(&command[..2], ["/bin/sh", "-c"], "{}", f.name);
        let dir = temp_dir();
        let secrets = f.secret_mounts(pod, c, dir.path());
        let local_secrets = secrets[SECRETS].display().to_string();
        let port = free_port();
        let local = |text: &str, n: usize| {
            let text = rewrite(text, SECRETS, &local_secrets, n, &f.name);
            rewrite(&text, "6379", &port.to_string(), 1, &f.name)
        };
        let mut script = local(&command[2], 1);
        script = rewrite(
            &script,
            "/run/redis",
            &dir.path().display().to_string(),
            2,
            &f.name,
        );
        let mut server = Server::start(
            &format!("redis for {}", f.name),
            Command::new("/bin/sh")
                .args(["-c", &script])
                .current_dir(dir.path())
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin"),
            &dir.path().join("redis.log"),
        );
        server.wait_ready(|| TcpStream::connect(("127.0.0.1", port)).is_ok());
        let password = f.secret("nextcloud-redis", "password");
        for file in ["cmdline", "environ"] {
            let seen = std::fs::read(format!("/proc/{}/{file}", server.id())).unwrap();
            assert!(
                !String::from_utf8_lossy(&seen).contains(password),
                "tenant {}: the Redis password is in the server's {file}",
                f.name
            );
        }
        let probe = c.readiness_probe.as_ref().unwrap();
        let probe = probe.exec.as_ref().unwrap().command.as_ref().unwrap();
        assert_eq!(&probe[..2], ["/bin/sh", "-c"], "{}", f.name);
        let run_probe = |text: &str| {
            Command::new("/bin/sh")
                .args(["-c", text])
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .status()
                .unwrap()
                .success()
        };
        assert!(
            run_probe(&local(&probe[2], 1)),
            "tenant {}: the probe fails",
            f.name
        );
        // Without the password, or with another, Redis refuses.
        let cli = which("redis-cli").unwrap();
        let anonymous = Command::new(&cli)
            .args(["-p", &port.to_string(), "ping"])
            .env_clear()
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&anonymous.stdout).contains("NOAUTH"),
            "tenant {}: Redis answers without a password: {anonymous:?}",
            f.name
        );
        std::fs::write(secrets[SECRETS].join("redis-password"), "wrong").unwrap();
        assert!(
            !run_probe(&local(&probe[2], 1)),
            "tenant {}: the probe passes with a wrong password",
            f.name
        );
        tenants += 1;
    }
    assert!(tenants >= 4, "only {tenants} tenants have Redis");
}
