//! nginx configuration text, built rather than formatted: blocks of directives in order, with
//! quoting done in one place, so a domain or a path can never break the syntax.

/// One `name args...;` directive, a `name args... { ... }` block, or a comment line.
enum Item {
    Directive(String, Vec<String>),
    Block(Block),
    Comment(String),
}

/// A block (`server`, `location = /healthz`) or the file itself (no head).
pub struct Block {
    head: Vec<String>,
    items: Vec<Item>,
}

/// An argument as nginx reads it: bare when it is a plain token, double-quoted otherwise.
fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| !c.is_whitespace() && !matches!(c, ';' | '{' | '}' | '"' | '\'' | '\\' | '#'));
    if plain {
        arg.to_owned()
    } else {
        let mut q = String::with_capacity(arg.len() + 2);
        q.push('"');
        for c in arg.chars() {
            match c {
                '"' | '\\' => {
                    q.push('\\');
                    q.push(c);
                }
                '\n' => q.push_str("\\n"),
                c => q.push(c),
            }
        }
        q.push('"');
        q
    }
}

impl Block {
    /// The whole file.
    pub fn file() -> Block {
        Block {
            head: Vec::new(),
            items: Vec::new(),
        }
    }

    /// A block headed `name args...`.
    pub fn new(name: &str, args: &[&str]) -> Block {
        Block {
            head: std::iter::once(name)
                .chain(args.iter().copied())
                .map(quote)
                .collect(),
            items: Vec::new(),
        }
    }

    pub fn directive(mut self, name: &str, args: &[&str]) -> Block {
        self.items.push(Item::Directive(
            name.to_owned(),
            args.iter().map(|a| quote(a)).collect(),
        ));
        self
    }

    pub fn block(mut self, block: Block) -> Block {
        self.items.push(Item::Block(block));
        self
    }

    /// A comment line (newlines folded: a comment never ends early).
    pub fn comment(mut self, text: &str) -> Block {
        self.items
            .push(Item::Comment(text.replace(['\n', '\r'], " ")));
        self
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, item) in self.items.iter().enumerate() {
            // Top-level blocks are separated by a blank line, for people; a comment stays on
            // the block it introduces.
            let after_comment = i > 0 && matches!(self.items[i - 1], Item::Comment(_));
            if i > 0 && !after_comment && matches!(item, Item::Block(_) | Item::Comment(_)) {
                out.push('\n');
            }
            render_item(item, 0, &mut out);
        }
        out
    }
}

fn render_item(item: &Item, depth: usize, out: &mut String) {
    let pad = "    ".repeat(depth);
    match item {
        Item::Comment(text) => {
            out.push_str(&pad);
            out.push_str("# ");
            out.push_str(text);
            out.push('\n');
        }
        Item::Directive(name, args) => {
            out.push_str(&pad);
            out.push_str(name);
            for a in args {
                out.push(' ');
                out.push_str(a);
            }
            out.push_str(";\n");
        }
        Item::Block(b) => {
            out.push_str(&pad);
            out.push_str(&b.head.join(" "));
            out.push_str(" {\n");
            for i in &b.items {
                render_item(i, depth + 1, out);
            }
            out.push_str(&pad);
            out.push_str("}\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_nest_and_odd_arguments_are_quoted() {
        let conf = Block::file()
            .comment("made\nby hand")
            .block(
                Block::new("server", &[])
                    .directive("listen", &["8080"])
                    .block(
                        Block::new("location", &["=", "/healthz"])
                            .directive("return", &["200", "ok\n"]),
                    )
                    .directive("add_header", &["X-A", "a b;c"]),
            )
            .render();
        assert_eq!(
            conf,
            "# made by hand\nserver {\n    listen 8080;\n    location = /healthz {\n        return 200 \"ok\\n\";\n    }\n    add_header X-A \"a b;c\";\n}\n"
        );
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
    }
}
