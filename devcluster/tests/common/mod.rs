//! Shared helpers of the integration tests: a running cluster, a kubeconfig and kubectl.
#![allow(dead_code)]

use devcluster::{Config, DevCluster};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub const TENANT_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: tenants.example.io
spec:
  group: example.io
  names: {kind: Tenant, plural: tenants, singular: tenant, shortNames: [tn]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Plan, type: string, jsonPath: .spec.plan}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Members, type: integer, jsonPath: .spec.members, priority: 1}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [plan]
            x-kubernetes-validations:
            - {rule: "self.members <= 100", message: "at most 100 members"}
            - {rule: "self.members >= oldSelf.members", message: "members cannot decrease"}
            properties:
              plan: {type: string, enum: [gold, silver]}
              members: {type: integer, minimum: 0, default: 0}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"#;

pub struct Env {
    pub cluster: DevCluster,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

pub async fn start(config: Config) -> Env {
    let cluster = DevCluster::start(config).await.expect("start devcluster");
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    cluster.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    Env {
        cluster,
        dir,
        kubeconfig,
    }
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Env {
    /// Runs kubectl against this cluster with its own discovery cache.
    pub async fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args);
        {
            let (k, v) = ("KUBECTL_INTERACTIVE_DELETE", "false");
            cmd.env(k, v);
        }
        let input = stdin.map(String::from);
        let run = move || -> Out {
            use std::io::Write;
            cmd.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = cmd
                .spawn()
                .expect("kubectl on PATH (scripts/install-tools provides one)");
            if let Some(i) = input {
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(i.as_bytes())
                    .expect("write stdin");
            }
            drop(child.stdin.take());
            let o = child.wait_with_output().expect("kubectl output");
            Out {
                code: o.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&o.stdout).into(),
                stderr: String::from_utf8_lossy(&o.stderr).into(),
            }
        };
        tokio::time::timeout(Duration::from_secs(60), tokio::task::spawn_blocking(run))
            .await
            .expect("kubectl timed out")
            .expect("join")
    }

    /// kubectl that must succeed; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let o = self.kubectl(args, None).await;
        assert_eq!(
            o.code, 0,
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            o.stdout, o.stderr
        );
        o.stdout
    }

    pub async fn apply(&self, yaml: &str) -> String {
        let o = self
            .kubectl(&["apply", "--server-side", "-f", "-"], Some(yaml))
            .await;
        assert_eq!(
            o.code, 0,
            "apply failed:\nstdout: {}\nstderr: {}",
            o.stdout, o.stderr
        );
        o.stdout
    }
}

/// Polls until `f` is true or the timeout elapses.
pub async fn eventually<F: AsyncFnMut() -> bool>(timeout: Duration, mut f: F) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
