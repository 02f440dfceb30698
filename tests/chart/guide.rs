//! The install guide as the tests read it: its fenced code blocks and shell lines.

use mutualis_tests::workspace_root;

/// The install guide, `docs/install.md` (the README points to it rather than repeating it, so
/// that the commands the tests run are the ones people read).
pub(crate) fn install_guide() -> String {
    std::fs::read_to_string(workspace_root().join("docs/install.md")).expect("docs/install.md")
}

/// Fenced code blocks of a Markdown text: (info string, body).
pub(crate) fn code_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) => current = Some((info.trim().to_owned(), String::new())),
            (Some(_), Some(_)) => blocks.push(current.take().unwrap()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

/// Lines of the guide's shell blocks that start with `tool `.
pub(crate) fn shell_lines(guide: &str, tool: &str) -> Vec<String> {
    code_blocks(guide)
        .into_iter()
        .filter(|(info, _)| info == "sh" || info == "bash" || info == "shell")
        .flat_map(|(_, body)| {
            body.lines()
                .map(|l| l.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|l| l.starts_with(&format!("{tool} ")))
        .collect()
}

/// The README's install commands are the guide's, which the install test runs against the
/// development cluster: the README cannot show a command that was not exercised.
#[test]
fn the_readme_install_commands_are_the_tested_guide_commands() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let readme_lines = shell_lines(&readme, "helm");
    assert!(
        !readme_lines.is_empty(),
        "the README shows how to install with helm"
    );
    let guide_lines = shell_lines(&install_guide(), "helm");
    for line in &readme_lines {
        assert!(
            guide_lines.contains(line),
            "README command {line:?} is not one of docs/install.md's tested commands {guide_lines:?}"
        );
    }
}
