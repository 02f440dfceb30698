//! The end-to-end harness: a development cluster, the CRDs and the founding catalogue applied with
//! the real `kubectl`, and the real `mutualis` binary running against it as a child process.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use devcluster::{Config, DevCluster};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use mutualis::api::Tenant;
use tokio::process::{Child, Command};

/// The workspace root (where `crds/` and `examples/` are).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the operator crate sits in the workspace")
        .to_path_buf()
}

/// A tool from `scripts/install-tools`' folder, else from PATH.
pub fn tool(name: &str) -> PathBuf {
    let dirs = [
        std::env::var_os("MUTUALIS_TOOLS_BIN").map(PathBuf::from),
        Some(root().join(".tools/bin")),
    ];
    for dir in dirs.into_iter().flatten() {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    PathBuf::from(name)
}

/// Output of one command.
#[derive(Debug)]
pub struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Where tenants' zone ConfigMaps go (the catalogue's `spec.dns.zonesNamespace`).
pub const ZONES_NAMESPACE: &str = "mutualis-dns";

/// The ClusterIssuers the founding catalogue names (`spec.tls`).
pub const CLUSTER_ISSUERS: &str = "\
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: letsencrypt}
spec: {selfSigned: {}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: letsencrypt-dns01}
spec: {selfSigned: {}}
";

/// One development cluster with mutualis' CRDs and the founding catalogue installed.
pub struct Env {
    pub cluster: DevCluster,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub client: Client,
}

impl Env {
    pub async fn start() -> Env {
        Self::start_with(Duration::from_millis(200)).await
    }

    pub async fn start_with(ready_delay: Duration) -> Env {
        // Quota and LimitRange admission are on by default; pod security refuses, as
        // `mutualis dev` runs it.
        Self::start_config(Config {
            ready_delay,
            pod_security_strict: true,
            ..Config::default()
        })
        .await
    }

    pub async fn start_config(config: Config) -> Env {
        let cluster = DevCluster::start(config)
            .await
            .expect("the development cluster starts");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let kubeconfig = dir.path().join("kubeconfig");
        cluster
            .write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        let config = kube::Config::from_custom_kubeconfig(
            Kubeconfig::from_yaml(&cluster.kubeconfig_yaml()).expect("a valid kubeconfig"),
            &KubeConfigOptions::default(),
        )
        .await
        .expect("a client configuration");
        let client = Client::try_from(config).expect("a client");
        let env = Env {
            cluster,
            dir,
            kubeconfig,
            client,
        };
        let crds = root().join("crds");
        env.kubectl_ok(&["apply", "--server-side", "-f", crds.to_str().unwrap()])
            .await;
        env.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            "crd/tenants.mutualis.io",
            "crd/servicecatalogs.mutualis.io",
        ])
        .await;
        let catalog = root().join("examples/catalog.yaml");
        env.kubectl_ok(&["apply", "--server-side", "-f", catalog.to_str().unwrap()])
            .await;
        // The shared name servers' namespace, which the chart creates with `dns.enabled`.
        env.kubectl_ok(&["create", "namespace", ZONES_NAMESPACE])
            .await;
        // cert-manager, a prerequisite of the chart: its CRDs (the copy in third_party/) and
        // the catalogue's ClusterIssuers; the development cluster issues the Certificates.
        let cert_manager = root().join("third_party/cert-manager");
        env.kubectl_ok(&[
            "apply",
            "--server-side",
            "-f",
            cert_manager.to_str().unwrap(),
        ])
        .await;
        env.apply_ok(CLUSTER_ISSUERS).await;
        // The S3 credentials the catalogue's backup target names, as the syndicate creates them.
        super::backups::backup_credentials(&env).await;
        env
    }

    /// Runs `kubectl` against this cluster.
    pub async fn kubectl(&self, args: &[&str]) -> Out {
        self.kubectl_stdin(args, None).await
    }

    pub async fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let mut cmd = Command::new(tool("kubectl"));
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl runs (scripts/install-tools)");
        if let Some(input) = stdin {
            use tokio::io::AsyncWriteExt;
            let mut pipe = child.stdin.take().expect("stdin piped");
            pipe.write_all(input.as_bytes())
                .await
                .expect("stdin written");
        }
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("kubectl finished within a minute")
            .expect("kubectl ran");
        Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `kubectl` and fails the test when it fails.
    pub async fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert!(out.ok, "kubectl {args:?} failed: {}", out.stderr);
        out.stdout
    }

    /// Applies a YAML document with `kubectl apply --server-side`.
    pub async fn apply(&self, yaml: &str) -> Out {
        self.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(yaml))
            .await
    }

    pub async fn apply_ok(&self, yaml: &str) {
        let out = self.apply(yaml).await;
        assert!(out.ok, "kubectl apply failed: {}\n{yaml}", out.stderr);
    }

    /// Starts `mutualis run` against this cluster.
    pub fn operator(&self, identity: &str, extra: &[&str]) -> Operator {
        self.operator_with_env(identity, extra, &[])
    }

    /// Starts `mutualis run` with extra environment variables (e.g. the test hooks).
    pub fn operator_with_env(
        &self,
        identity: &str,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Operator {
        let http = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mutualis"));
        cmd.arg("run")
            .arg("--http-addr")
            .arg(http.to_string())
            .arg("--identity")
            .arg(identity)
            .arg("--debounce-ms")
            .arg("50")
            .args(extra)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", "info,kube=warn,mutualis::reconcile=debug")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(self.dir.path().join(format!("{identity}.log")))
                    .expect("log file"),
            ))
            .kill_on_drop(true);
        let child = cmd.spawn().expect("the mutualis binary starts");
        Operator {
            child,
            http,
            log: self.dir.path().join(format!("{identity}.log")),
        }
    }

    pub fn tenants(&self) -> Api<Tenant> {
        Api::all(self.client.clone())
    }

    /// Polls the tenant until `pred` holds; fails after `timeout` with the last state seen.
    pub async fn wait_tenant(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Tenant) -> bool,
    ) -> Tenant {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.tenants().get_opt(name).await.expect("tenant get");
            if let Some(t) = &last
                && pred(t)
            {
                return t.clone();
            }
            assert!(
                Instant::now() < deadline,
                "tenant {name}: timed out waiting for {what}; last seen status: {}\n{}",
                serde_json::to_string_pretty(&last.and_then(|t| t.status)).unwrap(),
                self.operator_logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The tail of every operator log of this environment, for failure messages.
    pub fn operator_logs(&self) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(40)..];
                out.push_str(&format!(
                    "--- {} (last {} lines)\n{}\n",
                    path.display(),
                    tail.len(),
                    tail.join("\n")
                ));
            }
        }
        out
    }

    /// Polls until `check` returns `Some`.
    pub async fn eventually<T, F, Fut>(&self, timeout: Duration, what: &str, check: F) -> T
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A running operator process; killed when dropped.
pub struct Operator {
    pub child: Child,
    pub http: SocketAddr,
    pub log: PathBuf,
}

impl Operator {
    /// Kills the process at once (no graceful shutdown: a crash).
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Asks for a graceful shutdown (SIGTERM) and waits for the exit.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the operator stops within 20 s of SIGTERM")
            .expect("exit status")
    }

    /// GETs a path of the health and metrics server; `None` if it does not answer.
    pub async fn http_get(&self, path: &str) -> Option<(u16, String)> {
        Self::probe(self.http, path).await
    }

    /// GETs `path` of a health and metrics server at `http`.
    pub async fn probe(http: SocketAddr, path: &str) -> Option<(u16, String)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(http).await.ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let code = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
        Some((code, body))
    }

    /// The value of a counter family summed over its labels, from `/metrics`.
    pub async fn metric_sum(&self, name: &str) -> Option<f64> {
        let (_, body) = self.http_get("/metrics").await?;
        Some(
            body.lines()
                .filter(|l| l.starts_with(name) && !l.starts_with('#'))
                .filter(|l| l[name.len()..].starts_with(['{', ' ']))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum(),
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

/// A condition's status on a tenant.
pub fn condition<'a>(
    t: &'a Tenant,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    t.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

pub fn is_true(t: &Tenant, type_: &str) -> bool {
    condition(t, type_).is_some_and(|c| c.status == "True")
}

/// Fails unless the chart's RBAC (rendered with default values by the real helm) allows every
/// request the operator made to this cluster: a verb missing from the chart is a failure here.
pub fn assert_rbac_covers(env: &Env) {
    use mutualis_tests::rbac::{Request, uncovered};
    let grants = mutualis_tests::chart::operator_grants()
        .expect("helm is installed (scripts/install-tools)");
    let requests: Vec<Request> = env
        .cluster
        .requests()
        .iter()
        .filter(|r| r.user_agent.starts_with("mutualis/"))
        .map(Request::from)
        .collect();
    assert!(
        !requests.is_empty(),
        "no request of the operator was recorded"
    );
    let missing = uncovered(&grants, &requests);
    let mut lines: Vec<String> = missing.iter().map(|r| r.to_string()).collect();
    lines.sort();
    lines.dedup();
    assert!(
        lines.is_empty(),
        "the chart's RBAC does not allow:\n{}",
        lines.join("\n")
    );
}
