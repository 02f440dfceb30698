//! What every conformance check shares: the tenants under test and their plans, built the way
//! the operator builds them (credentials from the operator's own generator, the DKIM public key
//! and a mail load-balancer address fed back through `PlanInputs`), the programs they need,
//! servers that are always stopped, and free loopback ports.

use std::collections::BTreeMap;
use std::net::{IpAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use mutualis::api::{ServiceCatalog, Tenant};
use mutualis::plan::{DkimPublicKey, Object, Plan, PlanInputs, SecretKind, SecretRequest};
use mutualis::reconcile::credentials;

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
                SecretKind::Ed25519DkimKey { public_key } => {
                    let pair = credentials::dkim_key_pair();
                    data.insert(key.clone(), pair.private_pem);
                    data.insert(public_key.clone(), pair.public_base64.clone());
                    dkim = Some(DkimPublicKey {
                        algorithm: "ed25519".into(),
                        public_key_base64: pair.public_base64,
                        selector: mutualis::plan::secrets::DKIM_SELECTOR.into(),
                    });
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

/// A loopback port free for both TCP and UDP at the time of asking.
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no loopback port free for both TCP and UDP");
}

/// A server process, stopped (TERM, then KILL) when dropped, even when a check panics.
pub struct Server {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts `cmd` with its output in the file `log` (a pipe nobody reads could fill and block
    /// the server).
    pub fn start(name: &str, cmd: &mut Command, log: &Path) -> Server {
        use std::os::unix::process::CommandExt;
        let out = std::fs::File::create(log).unwrap();
        // Its own process group: smbd signals its whole group when it stops, which must not
        // include the test harness.
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start {cmd:?}: {e}"));
        Server {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
        }
    }

    /// Waits (bounded) until `ready` holds; panics with the server's output if it exited or
    /// never became ready.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn wait_ready(&mut self, ready: impl FnMut() -> bool) {
        self.wait_ready_within(20, ready);
    }

    pub fn wait_ready_within(&mut self, seconds: u64, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let output = self.output();
                panic!("{} exited ({status}):\n{output}", self.name);
            }
            if ready() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let output = self.output();
        panic!("{} not ready within {seconds} s:\n{output}", self.name);
    }

    fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// What the server printed so far (after it stopped).
    pub fn output(&mut self) -> String {
        self.stop();
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
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

/// Where a program runs: the machine's network, or a private network namespace that has only
/// its own loopback (for servers that would otherwise try to reach the Internet).
#[derive(Clone, Copy)]
pub enum Net {
    Host,
    Private(u32),
}

impl Net {
    pub fn command(self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match self {
            Net::Host => Command::new(program),
            Net::Private(holder) => {
                let mut cmd = Command::new("nsenter");
                cmd.args(["-t", &holder.to_string(), "-n", "--"])
                    .arg(program);
                cmd
            }
        }
    }
}

/// A private network namespace, kept by a sleeping process and gone with it.
pub struct PrivateNet {
    holder: Server,
    _dir: tempfile::TempDir,
}

impl PrivateNet {
    /// None (with a SKIPPED line naming `check`) where namespaces cannot be made.
    pub fn new(check: &str) -> Option<PrivateNet> {
        if !require_root(check) || !require(check, &["unshare", "nsenter", "ip"]) {
            return None;
        }
        let dir = temp_dir();
        let mut holder = Server::start(
            "network namespace holder",
            Command::new("unshare").args(["-n", "sleep", "600"]),
            &dir.path().join("holder.log"),
        );
        let ours = std::fs::read_link("/proc/self/ns/net").ok();
        let pid = holder.id();
        holder.wait_ready(|| {
            std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|n| Some(n) != ours)
        });
        let net = PrivateNet { holder, _dir: dir };
        run(
            net.net().command("ip").args(["link", "set", "lo", "up"]),
            "ip link set lo up in the private namespace",
        );
        Some(net)
    }

    pub fn net(&self) -> Net {
        Net::Private(self.holder.id())
    }
}
