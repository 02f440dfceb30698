//! Server-side dry runs with the real kubectl (`mutualis diff` depends on them): a dry-run apply
//! or create answers as if written but stores nothing, emits no watch event and bumps no
//! resourceVersion. And server-side apply keeps a Service's 53/UDP and 53/TCP ports apart.

mod common;

use common::start;
use devcluster::Config;

const MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: zone\n  namespace: default\ndata:\n  serial: \"1\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_runs_answer_as_if_written_and_store_nothing() {
    let env = start(Config::default()).await;
    let args = ["apply", "--server-side", "--dry-run=server", "-f", "-"];
    let out = env.kubectl(&args, Some(MAP)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("configmap/zone serverside-applied (server dry run)"),
        "{}",
        out.stdout
    );
    let missing = env.kubectl(&["get", "configmap", "zone"], None).await;
    assert_ne!(missing.code, 0, "a dry-run apply stored nothing");
    assert!(missing.stderr.contains("NotFound"), "{}", missing.stderr);
    let created = env
        .kubectl(
            &["create", "--dry-run=server", "-f", "-", "-o", "yaml"],
            Some(MAP),
        )
        .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert!(
        created.stdout.contains("serial: \"1\""),
        "answers with the object: {}",
        created.stdout
    );
    assert_ne!(
        env.kubectl(&["get", "configmap", "zone"], None).await.code,
        0,
        "a dry-run create stored nothing"
    );

    env.apply(MAP).await;
    let rv = || async {
        env.ok(&[
            "get",
            "configmap",
            "zone",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .await
    };
    let before = rv().await;
    // A watch from the current version sees no event for a dry-run change.
    let mut watch = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args([
            "get",
            "configmap",
            "zone",
            "--watch-only",
            "-o",
            "jsonpath={.data.serial}{\"\\n\"}",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let changed = MAP.replace("serial: \"1\"", "serial: \"2\"");
    let out = env.kubectl(&args, Some(&changed)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let answer = env
        .kubectl(
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "-f",
                "-",
                "-o",
                "jsonpath={.data.serial}",
            ],
            Some(&changed),
        )
        .await;
    assert_eq!(
        answer.stdout, "2",
        "the answer is the object as it would be"
    );
    assert_eq!(
        env.ok(&["get", "configmap", "zone", "-o", "jsonpath={.data.serial}"])
            .await,
        "1"
    );
    assert_eq!(rv().await, before, "no new resourceVersion");
    // A real change afterwards is the first thing the watch sees.
    env.apply(&MAP.replace("serial: \"1\"", "serial: \"3\""))
        .await;
    let stdout = watch.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout);
    let mut first = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tokio::io::AsyncBufReadExt::read_line(&mut lines, &mut first),
    )
    .await
    .expect("the watch sees the real change")
    .unwrap();
    assert_eq!(first.trim(), "3", "the dry runs emitted no event");
}

const DNS: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: dns\n  namespace: default\nspec:\n  selector: {app: dns}\n  ports:\n  - {name: dns-udp, port: 53, protocol: UDP, targetPort: 1053}\n  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 1053}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_keeps_ports_of_one_number_and_two_protocols_apart() {
    let env = start(Config::default()).await;
    env.apply(DNS).await;
    let ports = || async {
        env.ok(&[
            "get",
            "service",
            "dns",
            "-o",
            "jsonpath={range .spec.ports[*]}{.name}/{.protocol} {end}",
        ])
        .await
    };
    assert_eq!(ports().await.trim(), "dns-udp/UDP dns-tcp/TCP");
    // Re-applied with a change elsewhere: the merge must not fold the two ports into one.
    env.apply(&DNS.replace("app: dns", "app: coredns")).await;
    assert_eq!(ports().await.trim(), "dns-udp/UDP dns-tcp/TCP");
    let dry = env
        .kubectl(
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "-f",
                "-",
                "-o",
                "jsonpath={range .spec.ports[*]}{.name}/{.protocol} {end}",
            ],
            Some(DNS),
        )
        .await;
    assert_eq!(
        dry.stdout.trim(),
        "dns-udp/UDP dns-tcp/TCP",
        "{}",
        dry.stderr
    );
}
