//! Locating the workspace and the external tools (helm, kubectl, kubernetes-validate), and
//! running them with a deadline so that a hung tool fails its test instead of stalling CI.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Set by `scripts/test` to the directory `scripts/install-tools` filled.
pub const TOOLS_BIN_ENV: &str = "MUTUALIS_TOOLS_BIN";

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace")
        .to_path_buf()
}

/// True under CI (`CI` set to anything but empty, `0` or `false`): missing tools are then a
/// failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Finds an executable: in `$MUTUALIS_TOOLS_BIN`, then `<root>/.tools/bin`, then on `PATH`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os(TOOLS_BIN_ENV).filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(workspace_root().join(".tools").join("bin"));
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter()
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    // metadata() follows symlinks (kubernetes-validate is a link into a virtualenv).
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The tool's path, or `None` after saying why, so that the calling test can return early on a
/// developer's machine. Under CI a missing tool panics: a skipped check must not look green.
pub fn require_tool(name: &str) -> Option<PathBuf> {
    required(name, find_tool(name), in_ci())
}

fn required(name: &str, found: Option<PathBuf>, ci: bool) -> Option<PathBuf> {
    if found.is_some() {
        return found;
    }
    let why = format!(
        "`{name}` not found in ${TOOLS_BIN_ENV}, .tools/bin or PATH; run scripts/install-tools"
    );
    assert!(!ci, "{why} (CI is set: the test cannot be skipped)");
    eprintln!("SKIPPED: {why}");
    None
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics with everything the command printed unless it succeeded.
    #[track_caller]
    pub fn expect_success(self) -> Output {
        assert!(
            self.success(),
            "{} failed ({}):\n{}",
            self.command,
            self.status,
            self.printed()
        );
        self
    }

    /// Panics unless the command failed, returning its output for assertions on the message.
    #[track_caller]
    pub fn expect_failure(self) -> Output {
        assert!(
            !self.success(),
            "{} should have failed but succeeded:\n{}",
            self.command,
            self.printed()
        );
        self
    }

    /// stdout and stderr together, labelled.
    pub fn printed(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }
}

/// Runs a command to completion (2 minutes at most) and captures its output.
pub fn run(command: &mut Command) -> Output {
    run_with_timeout(command, Duration::from_secs(120))
}

/// Runs a command, killing it and panicking with what it printed if it outlives `timeout`.
pub fn run_with_timeout(command: &mut Command, timeout: Duration) -> Output {
    let line = describe(command);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {line}: {e}"));
    // Drain both pipes on threads: a full pipe would block the child forever.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let (out, err) = (
                    stdout.join().unwrap_or_default(),
                    stderr.join().unwrap_or_default(),
                );
                panic!("{line} timed out after {timeout:?}:\n--- stdout\n{out}\n--- stderr\n{err}");
            }
            Err(e) => panic!("waiting for {line}: {e}"),
        }
    };
    Output {
        command: line,
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

fn describe(command: &Command) -> String {
    let mut parts = vec![command.get_program().to_string_lossy().into_owned()];
    parts.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_skips_on_a_workstation() {
        assert_eq!(required("no-such-tool", None, false), None);
        let found = Some(PathBuf::from("/bin/sh"));
        assert_eq!(required("sh", found.clone(), true), found);
    }

    #[test]
    #[should_panic(expected = "CI is set: the test cannot be skipped")]
    fn a_missing_tool_fails_under_ci() {
        required("no-such-tool", None, true);
    }

    #[test]
    fn tools_are_found_on_path_and_commands_captured() {
        let sh = find_tool("sh").expect("sh on PATH");
        let output = run(Command::new(sh).args(["-c", "echo out; echo err >&2; exit 3"]));
        assert_eq!(
            (output.stdout.as_str(), output.stderr.as_str()),
            ("out\n", "err\n")
        );
        assert_eq!(output.status.code(), Some(3));
        assert!(find_tool("no-such-tool-anywhere").is_none());
    }

    #[test]
    #[should_panic(expected = "timed out")]
    fn a_hung_command_is_killed() {
        run_with_timeout(Command::new("sleep").arg("10"), Duration::from_millis(200));
    }
}
