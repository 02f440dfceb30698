//! The parser's messages in the user's terms: what is wrong, the value found, what is allowed.
//! serde and serde-saphyr speak Rust (`invalid u8`, `use Option<String>`, `DuplicateKeyPolicy`,
//! `budget breached: Depth { .. }`); a person editing a manifest needs neither types nor options
//! of a library. The echoed line is cut around the error, so a 40 KB line does not come back.

use serde_json::Value;

/// How much of a value or a line a message repeats.
const SHOWN: usize = 80;

/// A parse error as shown: the field path (when known) and the message.
pub struct Shown {
    pub field: Option<String>,
    pub message: String,
}

/// Rewrites serde-saphyr's `message` for the error at (`line`, `column`) of `doc`, whose path
/// there is `field`.
pub fn humanize(
    doc: &str,
    line: usize,
    column: usize,
    field: Option<String>,
    message: &str,
) -> Shown {
    let found = value_at(doc, line, column);
    let found_part = || {
        found
            .as_deref()
            .map(|v| format!("found {v}; "))
            .unwrap_or_default()
    };
    if let Some(missing) = message.strip_prefix("missing field ") {
        let missing = missing.trim_matches('`');
        // The error stands at the end of the mapping that lacks the field; the path there is
        // its last key's, so climb to the mapping that really lacks it.
        let owner = field.and_then(|f| mapping_without(doc, &f, missing));
        return Shown {
            field: owner.filter(|o| !o.is_empty()),
            message: format!("missing field {missing}, which is required here"),
        };
    }
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest);
        return Shown {
            field,
            message: format!("key {key} appears twice; a key may appear once in a mapping"),
        };
    }
    if message.starts_with("budget breached") || message.starts_with("recursion limit") {
        let what = if message.contains("Depth") || message.starts_with("recursion") {
            "nested too deeply (more than 64 levels)"
        } else {
            "too large for a manifest (too many nodes, aliases or bytes)"
        };
        return Shown {
            field: field.map(|f| shorten(&f)),
            message: format!(
                "the input is {what}; allowed: Kubernetes manifests, which need far fewer"
            ),
        };
    }
    if message.starts_with("cannot deserialize null") {
        return Shown {
            field,
            message: "no value (null or empty); allowed: a value of this field's type, or leave the field out if it is optional".into(),
        };
    }
    if let Some(allowed) = message.strip_prefix("invalid ").and_then(allowed_for) {
        return Shown {
            field,
            message: format!("{}allowed: {allowed}", found_part()),
        };
    }
    if let Some(kind) = message.strip_prefix("expected ") {
        let kind = kind.split(" scalar").next().unwrap_or(kind);
        let allowed = match kind {
            "string" => "a string".to_owned(),
            "mapping start" => "a mapping (key: value lines)".to_owned(),
            "sequence start" => "a list (- item lines)".to_owned(),
            other => allowed_for(other).unwrap_or_else(|| shorten(other)),
        };
        return Shown {
            field,
            message: format!("{}allowed: {allowed}", found_part()),
        };
    }
    if message.starts_with("unknown variant") {
        // "unknown variant `Keep`, expected one of Retain, Delete": already in the user's terms.
        return Shown {
            field,
            message: shorten(&message.replace('`', "\"")),
        };
    }
    Shown {
        field,
        message: shorten(message),
    }
}

/// What a Rust scalar type accepts, in words.
fn allowed_for(kind: &str) -> Option<String> {
    let range = |lo: i128, hi: i128| Some(format!("a whole number from {lo} to {hi}"));
    match kind.trim() {
        "u8" => range(0, u8::MAX.into()),
        "u16" => range(0, u16::MAX.into()),
        "u32" => range(0, u32::MAX.into()),
        "u64" => range(0, u64::MAX.into()),
        "i8" => range(i8::MIN.into(), i8::MAX.into()),
        "i16" => range(i16::MIN.into(), i16::MAX.into()),
        "i32" => range(i32::MIN.into(), i32::MAX.into()),
        "i64" => range(i64::MIN.into(), i64::MAX.into()),
        "boolean" | "bool" => Some("true or false".into()),
        "f32" | "f64" | "float" => Some("a number".into()),
        _ => None,
    }
}

/// The token at (`line`, `column`) of `doc`, quoted and shortened.
fn value_at(doc: &str, line: usize, column: usize) -> Option<String> {
    let text = doc.lines().nth(line.checked_sub(1)?)?;
    let start = text
        .char_indices()
        .nth(column.saturating_sub(1))
        .map(|(i, _)| i)?;
    let rest = &text[start..];
    if rest.starts_with('[') {
        return Some("a list".into());
    }
    if rest.starts_with('{') {
        return Some("a mapping".into());
    }
    let token: String = rest
        .split([',', '}', ']', '#'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    (!token.is_empty()).then(|| format!("{:?}", shorten(&token)))
}

/// The longest prefix of `path` that names a mapping of `doc` without `key`.
fn mapping_without(doc: &str, path: &str, key: &str) -> Option<String> {
    let root: Value = serde_saphyr::from_str(doc).ok()?;
    let mut prefix = path.to_owned();
    loop {
        if let Some(Value::Object(map)) = lookup(&root, &prefix)
            && !map.contains_key(key)
        {
            return Some(prefix);
        }
        if prefix.is_empty() {
            return None;
        }
        prefix.truncate(prefix.rfind(['.', '[']).unwrap_or(0));
    }
}

/// The value at a path such as `spec.members[2].domain`.
fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut here = root;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, indexes) = part.split_once('[').map_or((part, ""), |(k, i)| (k, i));
        here = here.get(key)?;
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            here = here.get(index.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(here)
}

/// `value` cut to its first 80 characters, with an ellipsis.
pub fn shorten(value: &str) -> String {
    crate::plan::domain::shorten(value)
}

/// The offending line with a caret under `column`, cut to a window around the column.
pub fn snippet(file_line: usize, text: &str, column: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let col = column.saturating_sub(1).min(chars.len());
    let start = col.saturating_sub(SHOWN / 2);
    let end = (start + SHOWN).min(chars.len());
    let mut shown: String = chars[start..end].iter().collect();
    let mut caret = col - start + 1;
    if start > 0 {
        shown.insert(0, '…');
        caret += 1;
    }
    if end < chars.len() {
        shown.push('…');
    }
    format!("{file_line:>5} | {shown}\n      | {:>caret$}", "^")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_around_the_column() {
        let line = "x".repeat(40_000);
        let s = snippet(5, &line, 20_000);
        assert!(s.len() < 300, "{}", s.len());
        let (text, caret) = s.split_once('\n').unwrap();
        let text_col = text.chars().position(|c| c == '…').unwrap();
        assert!(caret.ends_with('^') && text_col < caret.len());
        assert_eq!(snippet(1, "a: 1", 4), "    1 | a: 1\n      |    ^");
    }

    #[test]
    fn missing_fields_name_the_mapping_that_lacks_them() {
        let doc = "spec:\n  tier: x\n  domain: x.fr\n";
        let s = humanize(
            doc,
            3,
            3,
            Some("spec.domain".into()),
            "missing field `catalogRef`",
        );
        assert_eq!(s.field.as_deref(), Some("spec"));
        assert_eq!(
            s.message,
            "missing field catalogRef, which is required here"
        );
    }

    #[test]
    fn rust_types_become_ranges() {
        let doc = "split: {mail: 300, website: 10}\n";
        let s = humanize(doc, 1, 15, Some("split".into()), "invalid u8");
        assert_eq!(
            s.message,
            "found \"300\"; allowed: a whole number from 0 to 255"
        );
        let s = humanize(
            "a: ~\n",
            1,
            4,
            None,
            "cannot deserialize null into string; use Option<String>",
        );
        assert!(!s.message.contains("Option"), "{}", s.message);
        let s = humanize(
            "a: 1\n",
            1,
            1,
            None,
            "duplicate mapping key: a, set DuplicateKeyPolicy in Options if acceptable",
        );
        assert_eq!(
            s.message,
            "key a appears twice; a key may appear once in a mapping"
        );
        let s = humanize("a: 1\n", 1, 1, None, "budget breached: Depth { depth: 65 }");
        assert!(
            s.message.contains("64 levels") && !s.message.contains('{'),
            "{}",
            s.message
        );
        let s = humanize("a: 1\n", 1, 1, None, "recursion limit exceeded");
        assert!(s.message.contains("nested too deeply"), "{}", s.message);
    }
}
