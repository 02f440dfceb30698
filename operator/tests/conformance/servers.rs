//! Servers under test: free loopback ports, processes that are always stopped, and private
//! network namespaces for servers that would otherwise try to reach the Internet.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{require, require_root, run, temp_dir};

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
