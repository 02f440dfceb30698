//! The real kubectl against the development cluster: apply --server-side with default
//! validation, get (columns, -A, -o wide, -o yaml, -l, --show-labels), describe with events,
//! wait, get -w, delete with finalizers and of a namespace, patch, label, edit.

mod common;

use common::{TENANT_CRD, start};
use devcluster::Config;
use std::time::Duration;

const TENANT: &str = "apiVersion: example.io/v1\nkind: Tenant\nmetadata:\n  name: x\n  namespace: default\n  labels: {app: x, tier: web}\nspec:\n  plan: gold\n  members: 8\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_get_describe_wait_delete() {
    let env = start(Config::default()).await;
    let out = env.ok(&["get", "namespaces"]).await;
    assert!(out.contains("default") && out.contains("Active"), "{out}");

    let out = env.apply(TENANT_CRD).await;
    assert!(
        out.contains(
            "customresourcedefinition.apiextensions.k8s.io/tenants.example.io serverside-applied"
        ),
        "{out}"
    );
    env.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/tenants.example.io",
        "--timeout=10s",
    ])
    .await;
    let out = env.apply(TENANT).await;
    assert!(
        out.contains("tenant.example.io/x serverside-applied"),
        "{out}"
    );

    // Printer columns, with the date column rendered as an age.
    let out = env.ok(&["get", "tenants"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0]
            .split_whitespace()
            .eq(["NAME", "PLAN", "READY", "AGE"]),
        "{out}"
    );
    assert!(
        lines[1].starts_with("x ")
            && lines[1].contains("gold")
            && lines[1].trim_end().ends_with('s'),
        "{out}"
    );
    let out = env.ok(&["get", "tn", "x", "-o", "wide"]).await;
    assert!(out.contains("MEMBERS") && out.contains(" 8 "), "{out}");
    let out = env.ok(&["get", "tenants", "-A"]).await;
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("default ")),
        "namespace column filled: {out}"
    );
    let out = env.ok(&["get", "tenants", "--show-labels"]).await;
    assert!(out.contains("app=x,tier=web"), "{out}");
    let out = env.ok(&["get", "tenants", "-l", "app=x,tier!=db"]).await;
    assert!(out.contains("gold"), "{out}");
    let out = env
        .kubectl(&["get", "tenants", "-l", "tier in (db)"], None)
        .await;
    assert!(out.stderr.contains("No resources found"), "{}", out.stderr);
    let out = env.ok(&["get", "tenant", "x", "-o", "yaml"]).await;
    assert!(
        out.contains("plan: gold") && out.contains("generation: 1") && out.contains("uid: "),
        "{out}"
    );

    // Re-applying the same manifest changes nothing (no new resource version).
    let rv = env.cluster.resource_version();
    env.apply(TENANT).await;
    assert_eq!(env.cluster.resource_version(), rv);

    // wait: times out first, then sees the condition once a status write lands.
    let out = env
        .kubectl(
            &["wait", "--for=condition=Ready", "tenant/x", "--timeout=1s"],
            None,
        )
        .await;
    assert_ne!(out.code, 0);
    let status = r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Reconciled","message":"ok","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#;
    let waiter = env.kubectl(
        &["wait", "--for=condition=Ready", "tenant/x", "--timeout=20s"],
        None,
    );
    let patcher = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        env.ok(&[
            "patch",
            "tenant",
            "x",
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ])
        .await
    };
    let (w, _) = tokio::join!(waiter, patcher);
    assert_eq!(w.code, 0, "{} {}", w.stdout, w.stderr);
    assert!(w.stdout.contains("condition met"));
    let out = env.ok(&["get", "tenants"]).await;
    assert!(out.lines().nth(1).unwrap().contains("True"), "{out}");

    let out = env.ok(&["describe", "tenant", "x"]).await;
    assert!(
        out.contains("Name:         x")
            && out
                .lines()
                .any(|l| l.trim().starts_with("Plan:") && l.ends_with("gold")),
        "{out}"
    );

    // Finalizer: delete waits until it is removed.
    env.ok(&[
        "patch",
        "tenant",
        "x",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.io/cleanup"]}}"#,
    ])
    .await;
    let out = env.ok(&["delete", "tenant", "x", "--wait=false"]).await;
    assert!(out.contains("tenant.example.io \"x\" deleted"), "{out}");
    let out = env
        .ok(&[
            "get",
            "tenant",
            "x",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])
        .await;
    assert!(!out.is_empty(), "terminating");
    let waiter = env.kubectl(&["wait", "--for=delete", "tenant/x", "--timeout=20s"], None);
    let patcher = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        env.ok(&[
            "patch",
            "tenant",
            "x",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        ])
        .await
    };
    let (w, _) = tokio::join!(waiter, patcher);
    assert_eq!(w.code, 0, "{} {}", w.stdout, w.stderr);
    let out = env.kubectl(&["get", "tenant", "x"], None).await;
    assert!(out.stderr.contains("NotFound"), "{}", out.stderr);

    // Moving from client-side to server-side apply: fields the client-side apply set are taken
    // over without a conflict (the apiserver's last-applied handling).
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: moved}\ndata: {k: one}\n";
    let o = env.kubectl(&["apply", "-f", "-"], Some(cm)).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    env.apply(&cm.replace("one", "two")).await;
    let out = env
        .ok(&["get", "cm", "moved", "-o", "jsonpath={.data.k}"])
        .await;
    assert_eq!(out, "two");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_render_like_a_real_server() {
    let env = start(Config::default()).await;
    env.apply(TENANT_CRD).await;
    let bad = TENANT.replace("plan: gold", "plan: bad");
    let out = env
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(&bad))
        .await;
    assert_ne!(out.code, 0);
    // The CRD has CEL rules: as a real server, the enum error keeps them from running and a
    // second cause says so.
    assert!(
        out.stderr.contains("The Tenant \"x\" is invalid: \n")
            && out
                .stderr
                .contains("* spec.plan: Unsupported value: \"bad\"")
            && out.stderr.contains(
                "* <nil>: Invalid value: \"null\": some validation rules were not checked"
            ),
        "{}",
        out.stderr
    );

    let unknown = TENANT.replace("members: 8", "members: 8\n  colour: blue");
    let out = env
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(&unknown))
        .await;
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("unknown field \"spec.colour\""),
        "{}",
        out.stderr
    );

    // CEL rules of the CRD, including a transition rule.
    let many = TENANT.replace("members: 8", "members: 101");
    let out = env
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(&many))
        .await;
    assert!(
        out.stderr.contains(
            "The Tenant \"x\" is invalid: spec: Invalid value: \"object\": at most 100 members"
        ),
        "{}",
        out.stderr
    );
    env.apply(TENANT).await;
    let fewer = TENANT.replace("members: 8", "members: 7");
    let out = env
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(&fewer))
        .await;
    assert!(
        out.stderr.contains("members cannot decrease"),
        "{}",
        out.stderr
    );

    // Another manager owns .spec.plan: kubectl's apply conflicts until forced.
    env.apply(TENANT).await;
    let other = TENANT.replace("plan: gold", "plan: silver");
    let o = env
        .kubectl(
            &[
                "apply",
                "--server-side",
                "--field-manager=tenant-controller",
                "--force-conflicts",
                "-f",
                "-",
            ],
            Some(&other),
        )
        .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let out = env
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(TENANT))
        .await;
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("conflict with \"tenant-controller\"")
            && out.stderr.contains(".spec.plan"),
        "{}",
        out.stderr
    );
    let out = env
        .kubectl(
            &["apply", "--server-side", "--force-conflicts", "-f", "-"],
            Some(TENANT),
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    let out = env.kubectl(&["get", "nonsense"], None).await;
    assert!(
        out.stderr
            .contains("doesn't have a resource type \"nonsense\""),
        "{}",
        out.stderr
    );
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n";
    let out = env.kubectl(&["create", "-f", "-"], Some(cm)).await;
    assert!(
        out.stderr.contains("is invalid") && out.stderr.contains("RFC 1123"),
        "{}",
        out.stderr
    );
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: missing}\n";
    let out = env.kubectl(&["create", "-f", "-"], Some(cm)).await;
    assert!(
        out.stderr.contains("namespaces \"missing\" not found"),
        "{}",
        out.stderr
    );
}

const DEPLOY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: team}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulation_namespaces_label_edit_watch() {
    let env = start(Config {
        ready_delay: Duration::from_millis(300),
        ..Config::default()
    })
    .await;
    env.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n")
        .await;
    env.apply(DEPLOY).await;
    env.apply("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: team}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 250Gi}}\n").await;
    env.ok(&[
        "wait",
        "-n",
        "team",
        "--for=condition=Available",
        "deploy/web",
        "--timeout=20s",
    ])
    .await;
    let out = env.ok(&["get", "deploy", "-n", "team"]).await;
    assert!(out.contains("2/2"), "{out}");
    let out = env
        .ok(&[
            "get",
            "pvc",
            "-n",
            "team",
            "data",
            "-o",
            "jsonpath={.status.phase} {.status.capacity.storage}",
        ])
        .await;
    assert_eq!(out, "Bound 250Gi");

    // A failing workload never becomes ready; removing the annotation recovers it.
    env.ok(&[
        "annotate",
        "-n",
        "team",
        "deploy/web",
        "devcluster.mutualis.io/fail=true",
    ])
    .await;
    env.ok(&[
        "patch",
        "-n",
        "team",
        "deploy/web",
        "-p",
        r#"{"spec":{"replicas":3}}"#,
    ])
    .await;
    let o = env
        .kubectl(
            &[
                "wait",
                "-n",
                "team",
                "--for=condition=Available",
                "deploy/web",
                "--timeout=1s",
            ],
            None,
        )
        .await;
    assert_ne!(o.code, 0, "failing deployment must not be available");
    env.ok(&[
        "annotate",
        "-n",
        "team",
        "deploy/web",
        "devcluster.mutualis.io/fail-",
    ])
    .await;
    env.ok(&[
        "wait",
        "-n",
        "team",
        "--for=jsonpath={.status.readyReplicas}=3",
        "deploy/web",
        "--timeout=20s",
    ])
    .await;

    // label (merge patch) and edit (strategic merge patch) through kubectl.
    env.ok(&["label", "-n", "team", "deploy/web", "tier=front"])
        .await;
    let out = env
        .ok(&[
            "get",
            "deploy",
            "-n",
            "team",
            "-l",
            "tier=front",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(out.trim(), "deployment.apps/web");
    let editor = env.dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/image: nginx/image: nginx:1.27/' \"$1\"\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&editor)
        .status()
        .unwrap();
    let mut cmd = std::process::Command::new("kubectl");
    cmd.args([
        "--kubeconfig",
        env.kubeconfig.to_str().unwrap(),
        "-n",
        "team",
        "edit",
        "deploy/web",
    ])
    .env("KUBE_EDITOR", &editor);
    let o = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = env
        .ok(&[
            "get",
            "deploy",
            "-n",
            "team",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image} {.metadata.generation}",
        ])
        .await;
    assert_eq!(out, "nginx:1.27 3");

    // get -w shows updates as table rows. The writer keeps scaling for a while so that the
    // watch sees some of it however long kubectl takes to start on a loaded machine.
    let watcher = env.kubectl(
        &["get", "deploy", "-n", "team", "-w", "--request-timeout=6s"],
        None,
    );
    let writer = async {
        for i in 0..8 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let replicas = format!("--replicas={}", if i % 2 == 0 { 2 } else { 1 });
            env.ok(&["scale", "-n", "team", "deploy/web", &replicas])
                .await;
        }
    };
    let (w, _) = tokio::join!(watcher, writer);
    assert!(
        w.stdout.lines().filter(|l| l.starts_with("web ")).count() >= 2,
        "{}",
        w.stdout
    );
    assert!(
        w.stdout.lines().next().unwrap().contains("READY"),
        "{}",
        w.stdout
    );

    let out = env
        .ok(&[
            "get",
            "deploy",
            "-n",
            "team",
            "web",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
        .await;
    assert_eq!(out, "1", "kubectl scale went through the scale subresource");

    // kubectl's typed generators send protobuf.
    env.ok(&["create", "namespace", "made"]).await;
    env.ok(&[
        "create",
        "configmap",
        "c",
        "-n",
        "made",
        "--from-literal=k=v",
    ])
    .await;
    env.ok(&[
        "create",
        "secret",
        "generic",
        "s",
        "-n",
        "made",
        "--from-literal=password=hunter2",
    ])
    .await;
    env.ok(&["create", "serviceaccount", "sa", "-n", "made"])
        .await;
    let out = env
        .ok(&[
            "get",
            "secret",
            "s",
            "-n",
            "made",
            "-o",
            "jsonpath={.data.password} {.type}",
        ])
        .await;
    assert_eq!(out, "aHVudGVyMg== Opaque");
    let out = env
        .ok(&["get", "cm", "c", "-n", "made", "-o", "jsonpath={.data.k}"])
        .await;
    assert_eq!(out, "v");

    // Deleting a namespace deletes what is in it.
    let out = env
        .ok(&["delete", "namespace", "team", "--timeout=20s"])
        .await;
    assert!(out.contains("namespace \"team\" deleted"), "{out}");
    let o = env
        .kubectl(&["get", "deploy,pvc", "-n", "team"], None)
        .await;
    assert!(o.stdout.trim().is_empty(), "{}", o.stdout);
    let o = env.kubectl(&["delete", "namespace", "default"], None).await;
    assert!(o.stderr.contains("may not be deleted"), "{}", o.stderr);
}
