//! The install guide as the tests read it: its fenced code blocks and shell lines.

use mutualis_tests::workspace_root;

/// The install guide: README.md's "Install" section once the README has one, else docs/install.md.
pub(crate) fn install_guide() -> String {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap_or_default();
    if let Some(start) = readme.find("\n## Install") {
        let section = &readme[start + 1..];
        let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 4);
        return section[..end].to_owned();
    }
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
