//! The JSONPath subset CRD printer columns use: `.a.b`, `.a[0]`, `.a[*].b`,
//! `.a[?(@.type=="Ready")].status`, and bracketed names (`.metadata.labels['app']`).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    Filter(Vec<String>, String),
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let p = path.trim().trim_start_matches('{').trim_end_matches('}');
    let p = p.strip_prefix('$').unwrap_or(p);
    let chars: Vec<char> = p.chars().collect();
    let (mut i, mut steps) = (0, Vec::new());
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                i = start;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if !name.is_empty() {
                    steps.push(Step::Field(name));
                }
            }
            '[' => {
                let mut depth = 0;
                let start = i + 1;
                while i < chars.len() {
                    match chars[i] {
                        '[' => depth += 1,
                        ']' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                let inner: String = chars[start..i.min(chars.len())].iter().collect();
                i += 1;
                let inner = inner.trim();
                if inner == "*" {
                    steps.push(Step::All);
                } else if let Ok(n) = inner.parse::<usize>() {
                    steps.push(Step::Index(n));
                } else if let Some(f) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
                    let (lhs, rhs) = f.split_once("==")?;
                    let lhs = lhs.trim().strip_prefix("@.")?;
                    let rhs = rhs.trim().trim_matches(|c| c == '"' || c == '\'');
                    steps.push(Step::Filter(
                        lhs.split('.').map(String::from).collect(),
                        rhs.to_string(),
                    ));
                } else {
                    steps.push(Step::Field(
                        inner.trim_matches(|c| c == '"' || c == '\'').to_string(),
                    ));
                }
            }
            _ => return None,
        }
    }
    Some(steps)
}

/// All values the path selects.
pub fn select(v: &Value, path: &str) -> Vec<Value> {
    let Some(steps) = parse(path) else {
        return vec![];
    };
    let mut cur = vec![v.clone()];
    for s in &steps {
        let mut next = Vec::new();
        for c in &cur {
            match s {
                Step::Field(f) => next.extend(c.get(f).cloned()),
                Step::Index(n) => next.extend(c.get(*n).cloned()),
                Step::All => next.extend(c.as_array().cloned().unwrap_or_default()),
                Step::Filter(lhs, rhs) => {
                    for item in c.as_array().into_iter().flatten() {
                        let mut x = item;
                        for f in lhs {
                            x = &x[f.as_str()];
                        }
                        let text = match x {
                            Value::String(s) => s.clone(),
                            Value::Null => continue,
                            other => other.to_string(),
                        };
                        if text == *rhs {
                            next.push(item.clone());
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn printer_column_paths() {
        let obj = json!({"spec": {"plan": "gold", "members": [{"name": "a"}, {"name": "b"}]},
            "metadata": {"labels": {"app.kubernetes.io/name": "x"}},
            "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        assert_eq!(select(&obj, ".spec.plan"), vec![json!("gold")]);
        assert_eq!(
            select(&obj, ".status.conditions[?(@.type==\"Ready\")].status"),
            vec![json!("True")]
        );
        assert_eq!(
            select(&obj, ".status.conditions[?(@.type=='Ready')].status"),
            vec![json!("True")]
        );
        assert_eq!(
            select(&obj, ".spec.members[*].name"),
            vec![json!("a"), json!("b")]
        );
        assert_eq!(select(&obj, ".spec.members[1].name"), vec![json!("b")]);
        assert_eq!(
            select(&obj, ".metadata.labels['app.kubernetes.io/name']"),
            vec![json!("x")]
        );
        assert!(select(&obj, ".spec.nope").is_empty());
    }
}
