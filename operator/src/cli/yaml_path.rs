//! Field paths ↔ lines of a block-style YAML document, so an error can say both
//! "spec.members[2].domain" and "line 14". A light indentation walk, not a parser: it serves
//! messages only, and Kubernetes manifests are block style in practice.

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Walks `text` line by line, calling `visit(line_number, path)` after each line with content.
/// Stops early when `visit` returns true.
fn walk(text: &str, mut visit: impl FnMut(usize, &[(usize, Segment)]) -> bool) {
    // (indent, segment); `open` marks the last key when its value is a block below it, where
    // a sequence may start at the key's own indentation.
    let mut stack: Vec<(usize, Segment)> = Vec::new();
    let mut open = false;
    for (n, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if raw.starts_with("---") || raw.starts_with("...") {
            stack.clear();
            continue;
        }
        let mut indent = raw.len() - trimmed.len();
        let mut rest = trimmed;
        // Sequence items, possibly nested on one line ("- - a").
        while rest == "-" || rest.starts_with("- ") {
            while stack.last().is_some_and(|(i, s)| {
                *i > indent || (*i == indent && matches!(s, Segment::Key(_)) && !open)
            }) {
                stack.pop();
            }
            open = false;
            match stack.last_mut() {
                Some((i, Segment::Index(k))) if *i == indent => *k += 1,
                _ => stack.push((indent, Segment::Index(0))),
            }
            let after = rest[1..].trim_start();
            indent += rest.len() - after.len();
            rest = after;
        }
        if let Some(key) = key_of(rest) {
            while stack.last().is_some_and(|(i, _)| *i >= indent) {
                stack.pop();
            }
            stack.push((indent, Segment::Key(key)));
            open = rest.trim_end().ends_with(':');
        }
        if visit(n + 1, &stack) {
            return;
        }
    }
}

fn key_of(content: &str) -> Option<String> {
    let content = content.trim_end();
    let colon = content
        .find(": ")
        .or_else(|| content.ends_with(':').then(|| content.len() - 1))?;
    let key = content[..colon]
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    (!key.is_empty() && !key.starts_with('{') && !key.starts_with('[')).then(|| key.to_owned())
}

fn render(stack: &[(usize, Segment)]) -> String {
    let mut out = String::new();
    for (_, s) in stack {
        match s {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The field path at `line` (1-based), e.g. `spec.members[0].domain`.
pub fn path_at(text: &str, line: usize) -> Option<String> {
    let mut found = None;
    walk(text, |n, stack| {
        if n >= line {
            if n == line && !stack.is_empty() {
                found = Some(render(stack));
            }
            return true;
        }
        false
    });
    found
}

/// The first line (1-based) of `path` or of anything under it; when `path` itself is not
/// written (a defaulted or derived field), the nearest enclosing path that is.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    let mut target = path;
    loop {
        if let Some(line) = first_line_under(text, target) {
            return Some(line);
        }
        target = &target[..target.rfind(['.', '['])?];
    }
}

fn first_line_under(text: &str, path: &str) -> Option<usize> {
    let mut found = None;
    walk(text, |n, stack| {
        let here = render(stack);
        let under = here
            .strip_prefix(path)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']));
        if under {
            found = Some(n);
            return true;
        }
        false
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "apiVersion: mutualis.io/v1alpha1\nkind: Tenant\nmetadata:\n  name: x\nspec:\n  tier: 1tb\n  members:\n  - displayName: A\n    domain: a.fr\n  - name: b\n    domain: b.fr\n  services:\n    mail: false\n";

    #[test]
    fn paths_follow_indentation_and_sequences() {
        assert_eq!(path_at(DOC, 4).as_deref(), Some("metadata.name"));
        assert_eq!(path_at(DOC, 6).as_deref(), Some("spec.tier"));
        assert_eq!(path_at(DOC, 9).as_deref(), Some("spec.members[0].domain"));
        assert_eq!(path_at(DOC, 10).as_deref(), Some("spec.members[1].name"));
        assert_eq!(path_at(DOC, 13).as_deref(), Some("spec.services.mail"));
    }

    #[test]
    fn lines_are_found_from_paths() {
        assert_eq!(line_of(DOC, "spec.members[1].domain"), Some(11));
        assert_eq!(line_of(DOC, "spec.tier"), Some(6));
        assert_eq!(
            line_of(DOC, "spec.members[0].name"),
            Some(8),
            "derived: the member's first line"
        );
        assert_eq!(line_of(DOC, "spec.nothing"), Some(5), "absent: its parent");
        assert_eq!(line_of(DOC, "other"), None);
    }
}
