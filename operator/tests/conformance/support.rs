//! What every conformance check shares: the tenants under test and their plans, built the way
//! the operator builds them (credentials from the operator's own generator, the DKIM public key
//! and a mail load-balancer address fed back through `PlanInputs`), the programs they need and
//! small file and process helpers.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, PodSpec};
use mutualis::api::{ServiceCatalog, Tenant};
use mutualis::plan::{DkimPublicKey, Object, Plan, PlanInputs, SecretKind, SecretRequest};
use mutualis::reconcile::credentials;

pub use crate::servers::{Net, PrivateNet, Server, free_port};

/// The mail LoadBalancer's address the tests pretend the cloud gave (documentation ranges).
pub const MAIL_ADDRESSES: [&str; 2] = ["192.0.2.25", "2001:db8::25"];

/// Member domains in Unicode: the ligature œ, hyphens, an accent.
const IDNA_TENANT: &str = "\
apiVersion: mutualis.io/v1alpha1
kind: Tenant
metadata:
  name: entre-deux-mers
spec:
  catalogRef: gironde-numerique
  tier: 250gb
  displayName: Communauté de communes de l'Entre-Deux-Mers
  domain: entre-deux-mers.fr
  members:
  - {displayName: Sallebœuf, domain: sallebœuf.fr}
  - {displayName: Fargues-Saint-Hilaire, domain: fargues-saint-hilaire.fr}
  - {displayName: Carignan-de-Bordeaux, domain: carignan-de-bordeaux.fr}
  - {displayName: Léognan, domain: léognan.fr}
";

const ALL_OFF_TENANT: &str = "\
apiVersion: mutualis.io/v1alpha1
kind: Tenant
metadata:
  name: tout-eteint
spec:
  catalogRef: gironde-numerique
  tier: 250gb
  displayName: Commune sans service
  domain: sans-service.fr
  services: {mail: false, website: false, dns: false, collaboration: false, nas: false}
";

/// One tenant under test.
pub struct Fixture {
    pub name: String,
    pub tenant: Tenant,
    catalog: ServiceCatalog,
    /// The plan as the operator builds it once its Secrets exist and the mail LB has an address.
    pub plan: Plan,
    /// The plan as `mutualis render` builds it offline (no DKIM key, no mail address).
    pub offline: Plan,
    /// Secret name → key → generated value, as `ensure_secrets` would store them.
    pub secrets: BTreeMap<String, BTreeMap<String, String>>,
}

impl Fixture {
    /// The catalogue the tenant was planned with.
    pub fn catalog(&self) -> &ServiceCatalog {
        &self.catalog
    }

    /// The data of the ConfigMap `name`, if the plan has one.
    pub fn config_map(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.plan.objects.iter().find_map(|o| match o {
            Object::ConfigMap(cm) if o.name() == name => cm.data.as_ref(),
            _ => None,
        })
    }

    pub fn deployment(&self, name: &str) -> Option<&Deployment> {
        self.plan.objects.iter().find_map(|o| match o {
            Object::Deployment(d) if o.name() == name => Some(&**d),
            _ => None,
        })
    }

    /// The Secret files `container` of `pod` mounts (Secret and projected volumes), written
    /// under `dir` with their generated values: mount path → the local directory.
    pub fn secret_mounts(
        &self,
        pod: &PodSpec,
        container: &Container,
        dir: &Path,
    ) -> BTreeMap<String, PathBuf> {
        let mut mounts = BTreeMap::new();
        for m in container.volume_mounts.iter().flatten() {
            let Some(v) = pod.volumes.iter().flatten().find(|v| v.name == m.name) else {
                continue;
            };
            // (Secret, key, file name) of each file the volume holds.
            let mut files: Vec<(String, String, String)> = Vec::new();
            if let Some(secret) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
                for key in self.secrets.get(&secret).into_iter().flat_map(|k| k.keys()) {
                    files.push((secret.clone(), key.clone(), key.clone()));
                }
            }
            for source in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
                let Some(s) = &source.secret else { continue };
                for item in s.items.iter().flatten() {
                    files.push((s.name.clone(), item.key.clone(), item.path.clone()));
                }
            }
            if files.is_empty() {
                continue;
            }
            let local = dir.join(format!("secret-{}", v.name));
            for (secret, key, path) in files {
                write(&local.join(path), self.secret(&secret, &key));
            }
            mounts.insert(m.mount_path.clone(), local);
        }
        mounts
    }

    /// The generated value of `key` in Secret `secret`.
    pub fn secret(&self, secret: &str, key: &str) -> &str {
        self.secrets
            .get(secret)
            .and_then(|s| s.get(key))
            .unwrap_or_else(|| panic!("{}: no generated Secret {secret}/{key}", self.name))
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Every tenant under test: the examples, the IDNA tenant and the all-off tenant, planned once.
pub fn fixtures() -> &'static [Fixture] {
    static FIXTURES: OnceLock<Vec<Fixture>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let read = |f: &str| std::fs::read_to_string(root().join("examples").join(f)).unwrap();
        let catalog: ServiceCatalog = serde_saphyr::from_str(&read("catalog.yaml")).unwrap();
        let mut sources: Vec<String> = ["coteaux-bordelais", "saint-emilion", "minimal"]
            .iter()
            .map(|n| read(&format!("{n}.yaml")))
            .collect();
        sources.push(IDNA_TENANT.to_owned());
        sources.push(ALL_OFF_TENANT.to_owned());
        sources
            .iter()
            .map(|yaml| {
                let tenant: Tenant = serde_saphyr::from_str(yaml).unwrap();
                fixture(&tenant, &catalog)
            })
            .collect()
    })
}

/// The fixtures whose plan holds a ConfigMap `name`, with its data.
pub fn with_config_map(
    name: &'static str,
) -> impl Iterator<Item = (&'static Fixture, &'static BTreeMap<String, String>)> {
    fixtures()
        .iter()
        .filter_map(move |f| f.config_map(name).map(|d| (f, d)))
}

/// What the reconciler does: a first plan names the Secrets, they are generated, and the plan
/// is built again with the DKIM public key and the mail address.
fn fixture(tenant: &Tenant, catalog: &ServiceCatalog) -> Fixture {
    let name = tenant.metadata.name.clone().unwrap();
    let offline = mutualis::plan::plan(tenant, catalog, &PlanInputs::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let (secrets, dkim) = generate(&offline.secrets);
    let inputs = PlanInputs {
        dkim,
        mail_addresses: MAIL_ADDRESSES
            .iter()
            .map(|a| a.parse::<IpAddr>().unwrap())
            .collect(),
        ..PlanInputs::default()
    };
    let plan = mutualis::plan::plan(tenant, catalog, &inputs).unwrap();
    Fixture {
        name,
        tenant: tenant.clone(),
        catalog: catalog.clone(),
        plan,
        offline,
        secrets,
    }
}

impl Fixture {
    /// The same tenant with another DKIM key in its Secret and zones (a control for the checks
    /// of the operator's key).
    pub fn with_dkim_key(&self, public: DkimPublicKey, private_pem: String) -> Fixture {
        let inputs = PlanInputs {
            dkim: Some(public),
            mail_addresses: MAIL_ADDRESSES.iter().map(|a| a.parse().unwrap()).collect(),
            ..PlanInputs::default()
        };
        let mut secrets = self.secrets.clone();
        let dkim = secrets
            .get_mut(mutualis::plan::secrets::DKIM_SECRET)
            .unwrap();
        dkim.insert(
            mutualis::plan::secrets::DKIM_PRIVATE_KEY.to_owned(),
            private_pem,
        );
        Fixture {
            name: format!("{} (control key)", self.name),
            tenant: self.tenant.clone(),
            catalog: self.catalog.clone(),
            plan: mutualis::plan::plan(&self.tenant, &self.catalog, &inputs).unwrap(),
            offline: self.offline.clone(),
            secrets,
        }
    }
}

/// `reconcile::inputs::ensure_secrets` without the API server: the same generator per kind.
fn generate(
    requests: &[SecretRequest],
) -> (
    BTreeMap<String, BTreeMap<String, String>>,
    Option<DkimPublicKey>,
) {
    let mut out = BTreeMap::new();
    let mut dkim = None;
    for request in requests {
        let mut data = BTreeMap::new();
        for (key, kind) in &request.keys {
            match kind {
                SecretKind::Password { length } => {
                    data.insert(key.clone(), credentials::password(usize::from(*length)));
                }
                SecretKind::RsaDkimKey { public_key } => {
                    let pair = credentials::dkim_key_pair();
                    data.insert(key.clone(), pair.private_pem);
                    data.insert(public_key.clone(), pair.public_base64.clone());
                    dkim = Some(DkimPublicKey {
                        algorithm: "rsa".into(),
                        public_key_base64: pair.public_base64,
                        selector: mutualis::plan::secrets::DKIM_SELECTOR.into(),
                    });
                }
                // The syndicate's relay credentials: any value does for configuration checks.
                SecretKind::CopiedFrom { key: source, .. } => {
                    data.insert(key.clone(), format!("relay-{source}"));
                }
            }
        }
        out.insert(request.name.clone(), data);
    }
    (out, dkim)
}

/// The path of `program` on PATH or in the sbin directories (where Debian puts daemons).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The project's Python tools (`scripts/install-tools`): `.tools/venv/bin/<program>`.
pub fn tool(program: &str) -> Option<PathBuf> {
    let p = root().join(".tools/venv/bin").join(program);
    p.is_file().then_some(p)
}

/// True when every program is there; otherwise says which check is skipped and why.
pub fn require(check: &str, programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| which(p).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    eprintln!(
        "conformance: SKIPPED {check}: {} not installed (run scripts/install-tools as root)",
        missing.join(", ")
    );
    false
}

/// True when running as root; otherwise says which check is skipped and why.
pub fn require_root(check: &str) -> bool {
    if is_root() {
        return true;
    }
    eprintln!("conformance: SKIPPED {check}: needs root (private namespaces, file owners)");
    false
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().next())
            == Some("0")
    })
}

/// Runs `cmd`, panicking with `what`, the command and its output when it fails.
pub fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {cmd:?} failed:\n{}",
        text(&out)
    );
    out
}

/// stdout and stderr of `out`, for messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A temporary directory others can traverse: servers that drop privileges read from it.
pub fn temp_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o755);
    dir
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn write(path: &Path, content: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, content).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Replaces every `from` by `to` in `text`, insisting it occurs `count` times: a test-only
/// rewrite (a path into a temporary directory, a free port) must not silently miss.
pub fn rewrite(text: &str, from: &str, to: &str, count: usize, what: &str) -> String {
    let found = text.matches(from).count();
    assert_eq!(
        found, count,
        "{what}: expected {count} occurrence(s) of {from:?} to rewrite for the test, found {found}"
    );
    text.replace(from, to)
}
