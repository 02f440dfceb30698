//! `mutualis dev`: the quick start on a machine with no cluster. Starts the development cluster,
//! installs the CRDs, applies the founding catalogue and the example tenants (or the paths
//! given), runs the operator against it, and prints the tenants once they are ready.

use std::io::{Cursor, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, ResourceExt};

use super::error::CliError;
use super::input;
use crate::api::{Tenant, conditions};
use crate::reconcile::controller::{self, RunConfig};
use crate::telemetry::{self, LogFormat, Telemetry};

/// The examples the binary carries: the founding catalogue and its subscribers.
const EMBEDDED_EXAMPLES: &[&str] = &[
    include_str!("../../../examples/catalog.yaml"),
    include_str!("../../../examples/coteaux-bordelais.yaml"),
    include_str!("../../../examples/saint-emilion.yaml"),
    include_str!("../../../examples/minimal.yaml"),
];

#[derive(Args, Debug, Clone)]
pub struct DevArgs {
    /// Manifests to apply (files, directories, `-` for stdin); the embedded examples when none.
    #[arg(short = 'f', long = "filename")]
    pub paths: Vec<PathBuf>,
    /// Port of the development cluster on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 6443)]
    pub port: u16,
    /// Where to write the kubeconfig for kubectl.
    #[arg(long, default_value_os_t = std::env::temp_dir().join("mutualis-dev.kubeconfig"))]
    pub kubeconfig: PathBuf,
    /// Exit once every tenant is Ready (for scripts) instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit_when_ready: bool,
    /// Seconds to wait for the tenants to become Ready.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Milliseconds the simulated workloads take to become ready.
    #[arg(long, default_value_t = 500)]
    pub ready_delay_ms: u64,
    /// Log filter, in RUST_LOG syntax.
    #[arg(long, default_value = "warn")]
    pub log_level: String,
    /// Faults the development cluster injects into requests, to watch the operator cope
    /// (devcluster/README.md, Fault injection).
    #[arg(long, env = "DEVCLUSTER_FAULTS", default_value = "")]
    pub faults: devcluster::FaultPlan,
}

/// Errors of `mutualis dev`.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("cannot start the development cluster: {0}")]
    Cluster(#[from] devcluster::Error),
    #[error("cannot talk to the development cluster: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot write the kubeconfig to {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Input(#[from] CliError),
    #[error("not Ready after {seconds} s: {not_ready}")]
    NotReady { seconds: u64, not_ready: String },
    #[error(transparent)]
    Run(#[from] controller::RunError),
}

async fn client_for(cluster: &devcluster::DevCluster) -> Result<Client, DevError> {
    let kubeconfig =
        Kubeconfig::from_yaml(&cluster.kubeconfig_yaml()).map_err(kube::Error::from)?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(kube::Error::from)?;
    Ok(controller::client(config)?)
}

fn read_manifests(paths: &[PathBuf]) -> Result<input::Manifests, CliError> {
    if !paths.is_empty() {
        return input::read(paths, &mut std::io::stdin().lock());
    }
    let joined = EMBEDDED_EXAMPLES.join("\n---\n");
    input::read(&[PathBuf::from("-")], &mut Cursor::new(joined.into_bytes()))
}

/// Installs the CRDs and applies the catalogues and tenants, as `kubectl apply --server-side`
/// would, saying each step as it is done.
async fn install(client: &Client, manifests: &input::Manifests) -> Result<Vec<String>, DevError> {
    let params = PatchParams::apply("mutualis-dev").force();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut crd_names = Vec::new();
    for crd in crate::api::crds() {
        crds.patch(&crd.name_any(), &params, &Patch::Apply(&crd))
            .await?;
        crd_names.push(crd.name_any());
    }
    progress(&format!("CRDs installed ({})", crd_names.join(", ")));
    let catalogs: Api<crate::api::ServiceCatalog> = Api::all(client.clone());
    for (_, catalog, _) in &manifests.catalogs {
        catalogs
            .patch(&catalog.name_any(), &params, &Patch::Apply(catalog))
            .await?;
        progress(&format!("catalogue {} applied", catalog.name_any()));
    }
    let catalogs: Vec<&crate::api::ServiceCatalog> =
        manifests.catalogs.iter().map(|(_, c, _)| c).collect();
    let installed = install_prerequisites(client, &catalogs).await?;
    progress(&format!(
        "stand-ins for the cluster's prerequisites: {}",
        installed.join(", ")
    ));
    let tenants: Api<Tenant> = Api::all(client.clone());
    let mut names = Vec::new();
    for (_, tenant, _) in &manifests.tenants {
        let mut tenant = tenant.clone();
        tenant.status = None;
        tenants
            .patch(&tenant.name_any(), &params, &Patch::Apply(&tenant))
            .await?;
        names.push(tenant.name_any());
    }
    progress(&format!(
        "{} tenant(s) applied: {}",
        names.len(),
        names.join(", ")
    ));
    Ok(names)
}

/// cert-manager's CRDs (a copy kept in `third_party/cert-manager/`), which the development
/// cluster simulates.
const CERT_MANAGER_CRDS: &[&str] = &[
    include_str!("../../../third_party/cert-manager/certificates.yaml"),
    include_str!("../../../third_party/cert-manager/clusterissuers.yaml"),
];

/// What a real cluster provides before the chart is installed, given to the development
/// cluster: cert-manager's CRDs and the ClusterIssuers the catalogues name (self-signed
/// stand-ins; the development cluster issues placeholders), and the shared name servers'
/// namespace the chart creates (`dns.namespace`), where the tenants' zone ConfigMaps go, and
/// placeholder credentials for the catalogues' backup targets.
/// Returns what it installed, to say so.
pub async fn install_prerequisites(
    client: &Client,
    catalogs: &[&crate::api::ServiceCatalog],
) -> Result<Vec<String>, kube::Error> {
    let params = PatchParams::apply("mutualis-dev").force();
    let mut installed = Vec::new();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for yaml in CERT_MANAGER_CRDS {
        let crd: CustomResourceDefinition =
            serde_saphyr::from_str(yaml).expect("the embedded cert-manager CRDs parse");
        crds.patch(&crd.name_any(), &params, &Patch::Apply(&crd))
            .await?;
        installed.push(format!("CRD {}", crd.name_any()));
    }
    let issuers: Api<kube::api::DynamicObject> = Api::all_with(
        client.clone(),
        &kube::api::ApiResource {
            group: "cert-manager.io".into(),
            version: "v1".into(),
            api_version: "cert-manager.io/v1".into(),
            kind: "ClusterIssuer".into(),
            plural: "clusterissuers".into(),
        },
    );
    let mut names = std::collections::BTreeSet::new();
    for catalog in catalogs {
        if let Some(tls) = &catalog.spec.tls {
            names.insert(tls.cluster_issuer.clone());
            names.extend(tls.mail.iter().map(|m| m.cluster_issuer.clone()));
        }
    }
    for name in names {
        let issuer = serde_json::json!({
            "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
            "metadata": {"name": name}, "spec": {"selfSigned": {}},
        });
        issuers
            .patch(&name, &params, &Patch::Apply(&issuer))
            .await?;
        installed.push(format!("ClusterIssuer {name}"));
    }
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    for catalog in catalogs {
        let name = &catalog.spec.dns.zones_namespace;
        let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        namespaces.patch(name, &params, &Patch::Apply(&ns)).await?;
        installed.push(format!("namespace {name}"));
    }
    // The backup target's credentials, as the syndicate would create them: placeholders here
    // (the development cluster's K8up runs no restic and reaches no bucket). Only when absent.
    for catalog in catalogs {
        let Some(backup) = &catalog.spec.backup else {
            continue;
        };
        let r = &backup.s3.credentials_secret_ref;
        let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": r.namespace}});
        namespaces
            .patch(&r.namespace, &params, &Patch::Apply(&ns))
            .await?;
        let secrets: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(client.clone(), &r.namespace);
        if secrets.get_opt(&r.name).await?.is_none() {
            let secret = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": r.name, "namespace": r.namespace},
                "stringData": {crate::plan::backup::ACCESS_KEY_ID: "devcluster-placeholder",
                               crate::plan::backup::SECRET_ACCESS_KEY: "devcluster-placeholder"}});
            secrets
                .patch(&r.name, &params, &Patch::Apply(&secret))
                .await?;
            installed.push(format!(
                "placeholder backup credentials {}/{}",
                r.namespace, r.name
            ));
        }
    }
    Ok(installed)
}

/// One line of progress on standard error, as it happens (stdout keeps the final table).
fn progress(line: &str) {
    eprintln!("mutualis dev: {line}");
}

/// `(ready, enabled)` services of a tenant, from its per-service conditions; `None` before the
/// operator reported any.
pub fn services_ready(t: &Tenant) -> Option<(usize, usize)> {
    let conditions = &t.status.as_ref()?.conditions;
    // The services' own conditions, not Ready, Valid or Progressing.
    let services: Vec<_> = conditions
        .iter()
        .filter(|c| {
            crate::api::Service::ALL
                .iter()
                .any(|s| s.ready_condition() == c.type_)
                && c.reason != conditions::reasons::DISABLED
        })
        .collect();
    if services.is_empty() {
        return None;
    }
    let ready = services.iter().filter(|c| c.status == "True").count();
    Some((ready, services.len()))
}

fn ready(t: &Tenant) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    t.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == conditions::READY)
}

/// The tenants as `kubectl get tenants` shows them, plus why a tenant is not ready.
pub fn table(tenants: &[Tenant]) -> String {
    let mut rows = vec![[
        "NAME".to_owned(),
        "TIER".to_owned(),
        "MEMBERS".to_owned(),
        "CONTRIBUTION".to_owned(),
        "READY".to_owned(),
    ]];
    let mut notes = Vec::new();
    for t in tenants {
        let status = t.status.clone().unwrap_or_default();
        let ready = ready(t);
        rows.push([
            t.name_any(),
            t.spec.tier.clone(),
            status
                .member_count
                .map(|m| m.to_string())
                .unwrap_or_default(),
            status
                .annual_contribution
                .map(|c| c.to_string())
                .unwrap_or_default(),
            ready
                .map(|c| c.status.clone())
                .unwrap_or_else(|| "Unknown".into()),
        ]);
        if let Some(c) = ready.filter(|c| c.status != "True") {
            notes.push(format!("  {}: {} — {}", t.name_any(), c.reason, c.message));
        }
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    for n in notes {
        out.push_str(&n);
        out.push('\n');
    }
    out
}

async fn wait_ready(
    client: &Client,
    names: &[String],
    timeout: Duration,
) -> Result<Vec<Tenant>, DevError> {
    let api: Api<Tenant> = Api::all(client.clone());
    let deadline = Instant::now() + timeout;
    // What was last said of each tenant, so that a line appears only when something moved.
    let mut said: std::collections::HashMap<String, String> = Default::default();
    loop {
        let tenants: Vec<Tenant> = api
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|t| names.contains(&t.name_any()))
            .collect();
        let not_ready: Vec<String> = tenants
            .iter()
            .filter(|t| {
                ready(t).is_none_or(|c| {
                    c.status != "True" || c.observed_generation != t.metadata.generation
                })
            })
            .map(|t| t.name_any())
            .collect();
        for t in &tenants {
            let current = ready(t).is_some_and(|c| {
                c.status == "True" && c.observed_generation == t.metadata.generation
            });
            let line = match (current, services_ready(t)) {
                (true, _) => format!("{}: Ready", t.name_any()),
                (false, Some((n, of))) => format!("{}: {n}/{of} services ready", t.name_any()),
                (false, None) => continue,
            };
            if said.get(&t.name_any()) != Some(&line) {
                progress(&line);
                said.insert(t.name_any(), line);
            }
        }
        if not_ready.is_empty() && tenants.len() == names.len() {
            return Ok(tenants);
        }
        if Instant::now() > deadline {
            eprint!("{}", table(&tenants));
            return Err(DevError::NotReady {
                seconds: timeout.as_secs(),
                not_ready: not_ready.join(", "),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub async fn run(args: DevArgs) -> Result<(), DevError> {
    telemetry::init_logging(LogFormat::Text, &args.log_level);
    let manifests = read_manifests(&args.paths)?;
    if let Some(note) = manifests.skipped_note() {
        progress(&note);
    }
    // Admission as strict as a real cluster's, and stricter for pod security: a workload whose
    // pods the namespace's `enforce` level would refuse is refused outright (the development
    // cluster runs no pods), so the quick start proves the tenants are admissible.
    let cluster = devcluster::DevCluster::start(devcluster::Config {
        port: args.port,
        ready_delay: Duration::from_millis(args.ready_delay_ms),
        resource_quota: true,
        pod_security_strict: true,
        faults: args.faults.clone(),
        ..Default::default()
    })
    .await?;
    cluster
        .write_kubeconfig(&args.kubeconfig)
        .map_err(|e| DevError::Kubeconfig {
            path: args.kubeconfig.clone(),
            source: match e {
                devcluster::Error::Io(io) => io,
            },
        })?;
    progress(&format!(
        "development cluster up at {} (kubeconfig {})",
        cluster.url(),
        args.kubeconfig.display()
    ));
    let client = client_for(&cluster).await?;
    let names = install(&client, &manifests).await?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|s| *s).await;
    };
    let config = RunConfig {
        http_addr: ([127, 0, 0, 1], 0).into(),
        leader_election: false,
        identity: "mutualis-dev".into(),
        debounce: Duration::from_millis(100),
        ..RunConfig::default()
    };
    let operator = tokio::spawn(controller::run(
        client.clone(),
        config,
        Telemetry::new(),
        shutdown,
    ));
    progress("operator started; reconciling");

    let outcome = wait_ready(&client, &names, Duration::from_secs(args.timeout)).await;
    match &outcome {
        Ok(tenants) => {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{}", table(tenants));
            let _ = writeln!(
                out,
                "\nAll tenants are Ready. Look around with:\n  export KUBECONFIG={}\n  kubectl get tenants\n  kubectl describe tenant {}\n  kubectl get all -n {}",
                args.kubeconfig.display(),
                tenants.first().map(|t| t.name_any()).unwrap_or_default(),
                tenants
                    .first()
                    .and_then(|t| t.status.as_ref()?.namespace.clone())
                    .unwrap_or_default(),
            );
            let _ = out.flush();
        }
        Err(err) => eprintln!("mutualis dev: {err}"),
    }
    if outcome.is_ok() && !args.exit_when_ready {
        eprintln!("mutualis dev: serving until Ctrl-C");
        super::run::shutdown_signal().await;
    }
    stop_tx.send_replace(true);
    match tokio::time::timeout(Duration::from_secs(10), operator).await {
        Ok(Ok(Err(err))) => return Err(err.into()),
        // Reconcile panics are caught per tenant; one elsewhere is reported, not unwrapped.
        Ok(Err(join)) => eprintln!("mutualis dev: the operator task failed: {join}"),
        _ => {}
    }
    cluster.shutdown().await;
    outcome.map(|_| ())
}
