//! keepalived.conf syntax: statements of words, one per line, some opening a
//! `{ ... }` block; `#` and `!` start comments; `"..."` quotes a word with
//! spaces; `include GLOB` splices other files in. Every word keeps its
//! file:line:column so errors can point at it.

use std::fmt;

/// A position in a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    pub file: std::sync::Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub pos: Pos,
}

/// One statement: `keyword args... [{ children }]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stmt {
    pub keyword: Word,
    pub args: Vec<Word>,
    pub block: Option<Vec<Stmt>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// Where `include` finds files: the filesystem, or a map in tests and for
/// text pasted at the console (which has no includes).
pub trait Source {
    fn read(&self, path: &str) -> Result<String, String>;
    /// Paths matching a glob (`*`, `?` in the last component), sorted.
    fn glob(&self, pattern: &str) -> Result<Vec<String>, String>;
}

/// The filesystem.
pub struct Files;

impl Source for Files {
    fn read(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }

    fn glob(&self, pattern: &str) -> Result<Vec<String>, String> {
        let (dir, name) = match pattern.rsplit_once('/') {
            Some((d, n)) => (if d.is_empty() { "/" } else { d }, n),
            None => (".", pattern),
        };
        if !name.contains(['*', '?']) {
            return Ok(vec![pattern.to_string()]);
        }
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).map_err(|e| format!("{dir}: {e}"))? {
            let e = e.map_err(|e| e.to_string())?;
            if let Some(n) = e.file_name().to_str()
                && wildcard(name, n)
            {
                out.push(format!("{}/{n}", dir.trim_end_matches('/')));
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Shell-style `*` and `?` matching (no character classes).
pub fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(Word),
    Open(Pos),
    Close(Pos),
    Newline,
}

fn lex(file: &std::sync::Arc<str>, text: &str) -> Result<Vec<Tok>, SyntaxError> {
    let mut toks = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let chars: Vec<(usize, char)> = line.char_indices().collect();
        let pos = |i: usize| Pos { file: file.clone(), line: ln as u32 + 1, col: i as u32 + 1 };
        let mut i = 0;
        while i < chars.len() {
            let (_, c) = chars[i];
            match c {
                c if c.is_whitespace() => i += 1,
                '#' | '!' => break,
                '{' => {
                    toks.push(Tok::Open(pos(i)));
                    i += 1;
                }
                '}' => {
                    toks.push(Tok::Close(pos(i)));
                    i += 1;
                }
                '"' => {
                    let start = i;
                    let mut s = String::new();
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => {
                                return Err(SyntaxError {
                                    pos: pos(start),
                                    message: "unterminated quoted string".into(),
                                });
                            }
                            Some((_, '"')) => {
                                i += 1;
                                break;
                            }
                            Some((_, '\\')) if chars.get(i + 1).is_some() => {
                                s.push(chars[i + 1].1);
                                i += 2;
                            }
                            Some((_, ch)) => {
                                s.push(*ch);
                                i += 1;
                            }
                        }
                    }
                    toks.push(Tok::Word(Word { text: s, pos: pos(start) }));
                }
                _ => {
                    let start = i;
                    let mut s = String::new();
                    while let Some(&(_, ch)) = chars.get(i) {
                        if ch.is_whitespace()
                            || matches!(ch, '{' | '}' | '"')
                            || (ch == '#' || ch == '!') && s.is_empty()
                        {
                            break;
                        }
                        s.push(ch);
                        i += 1;
                    }
                    toks.push(Tok::Word(Word { text: s, pos: pos(start) }));
                }
            }
        }
        toks.push(Tok::Newline);
    }
    Ok(toks)
}

const MAX_INCLUDE_DEPTH: usize = 8;

/// Parses a file, following `include`s through `src`.
pub fn parse_file(src: &dyn Source, path: &str) -> Result<Vec<Stmt>, SyntaxError> {
    let text = src.read(path).map_err(|e| SyntaxError {
        pos: Pos { file: path.into(), line: 0, col: 0 },
        message: format!("cannot read: {e}"),
    })?;
    let mut stack = vec![path.to_string()];
    parse_text_in(src, path, &text, &mut stack)
}

/// Parses text that has no file (e.g. pasted at the console) under a name.
pub fn parse_str(name: &str, text: &str) -> Result<Vec<Stmt>, SyntaxError> {
    struct NoFiles;
    impl Source for NoFiles {
        fn read(&self, path: &str) -> Result<String, String> {
            Err(format!("{path}: include is not available here"))
        }
        fn glob(&self, p: &str) -> Result<Vec<String>, String> {
            Ok(vec![p.to_string()])
        }
    }
    parse_text_in(&NoFiles, name, text, &mut vec![name.to_string()])
}

fn parse_text_in(src: &dyn Source, name: &str, text: &str, stack: &mut Vec<String>) -> Result<Vec<Stmt>, SyntaxError> {
    let file: std::sync::Arc<str> = name.into();
    let toks = lex(&file, text)?;
    let mut p = Parser { toks: &toks, i: 0, src, stack, dir: dir_of(name) };
    let stmts = p.block(None)?;
    Ok(stmts)
}

fn dir_of(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((d, _)) if !d.is_empty() => d.to_string(),
        Some(_) => "/".into(),
        None => ".".into(),
    }
}

struct Parser<'a> {
    toks: &'a [Tok],
    i: usize,
    src: &'a dyn Source,
    stack: &'a mut Vec<String>,
    dir: String,
}

impl Parser<'_> {
    /// Statements until the `}` matching `open` (or the end of input when
    /// `open` is None).
    fn block(&mut self, open: Option<&Pos>) -> Result<Vec<Stmt>, SyntaxError> {
        let mut out = Vec::new();
        loop {
            match self.toks.get(self.i) {
                None => {
                    return match open {
                        Some(p) => Err(SyntaxError { pos: p.clone(), message: "this '{' is never closed".into() }),
                        None => Ok(out),
                    };
                }
                Some(Tok::Newline) => self.i += 1,
                Some(Tok::Close(p)) => {
                    if open.is_none() {
                        return Err(SyntaxError { pos: p.clone(), message: "'}' without a matching '{'".into() });
                    }
                    self.i += 1;
                    return Ok(out);
                }
                Some(Tok::Open(p)) => {
                    return Err(SyntaxError { pos: p.clone(), message: "'{' without a keyword before it".into() });
                }
                Some(Tok::Word(w)) => {
                    let keyword = w.clone();
                    self.i += 1;
                    let mut args = Vec::new();
                    let mut block = None;
                    loop {
                        match self.toks.get(self.i) {
                            Some(Tok::Word(a)) => {
                                args.push(a.clone());
                                self.i += 1;
                            }
                            Some(Tok::Open(p)) => {
                                let p = p.clone();
                                self.i += 1;
                                block = Some(self.block(Some(&p))?);
                                break;
                            }
                            Some(Tok::Newline) => {
                                // A block may open on the next line.
                                if let Some(Tok::Open(p)) = self.next_non_newline() {
                                    let p = p.clone();
                                    while !matches!(self.toks.get(self.i), Some(Tok::Open(_))) {
                                        self.i += 1;
                                    }
                                    self.i += 1;
                                    block = Some(self.block(Some(&p))?);
                                }
                                break;
                            }
                            Some(Tok::Close(_)) | None => break,
                        }
                    }
                    if keyword.text == "include" && block.is_none() {
                        out.extend(self.include(&keyword, &args)?);
                    } else {
                        out.push(Stmt { keyword, args, block });
                    }
                }
            }
        }
    }

    fn next_non_newline(&self) -> Option<&Tok> {
        self.toks[self.i..].iter().find(|t| !matches!(t, Tok::Newline))
    }

    fn include(&mut self, kw: &Word, args: &[Word]) -> Result<Vec<Stmt>, SyntaxError> {
        let err = |m: String| SyntaxError { pos: kw.pos.clone(), message: m };
        let [pattern] = args else {
            return Err(err("include takes one path".into()));
        };
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            return Err(err(format!("includes nested deeper than {MAX_INCLUDE_DEPTH}")));
        }
        let pattern =
            if pattern.text.starts_with('/') { pattern.text.clone() } else { format!("{}/{}", self.dir, pattern.text) };
        let mut out = Vec::new();
        for path in self.src.glob(&pattern).map_err(|e| err(format!("include {pattern}: {e}")))? {
            if self.stack.contains(&path) {
                return Err(err(format!("include loop: {} -> {path}", self.stack.join(" -> "))));
            }
            let text = self.src.read(&path).map_err(|e| err(format!("include {path}: {e}")))?;
            self.stack.push(path.clone());
            let r = parse_text_in(self.src, &path, &text, self.stack);
            self.stack.pop();
            out.extend(r?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Files in memory (a fake filesystem for include tests).
    struct Mem(BTreeMap<&'static str, &'static str>);
    impl Source for Mem {
        fn read(&self, path: &str) -> Result<String, String> {
            self.0.get(path).map(|s| s.to_string()).ok_or_else(|| "No such file or directory".into())
        }
        fn glob(&self, pattern: &str) -> Result<Vec<String>, String> {
            Ok(self.0.keys().filter(|k| wildcard(pattern, k)).map(|k| k.to_string()).collect())
        }
    }

    #[test]
    fn statements_blocks_comments_and_quotes() {
        let text = "! comment\nglobal_defs {\n  router_id LVS_1 # trailing\n}\nvrrp_instance VI_1\n{\n notify \"/bin/x a b\"\n virtual_ipaddress { 10.0.0.1/24 dev eth0 }\n}\n";
        let s = parse_str("k.conf", text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].keyword.text, "global_defs");
        let g = s[0].block.as_ref().unwrap();
        assert_eq!(g[0].keyword.text, "router_id");
        assert_eq!(g[0].args[0].text, "LVS_1");
        assert_eq!(g[0].args[0].pos.to_string(), "k.conf:3:13");
        let vi = s[1].block.as_ref().unwrap();
        assert_eq!(vi[0].args[0].text, "/bin/x a b");
        let vip = vi[1].block.as_ref().unwrap();
        assert_eq!(vip[0].keyword.text, "10.0.0.1/24");
        assert_eq!(vip[0].args.iter().map(|a| a.text.as_str()).collect::<Vec<_>>(), ["dev", "eth0"]);
    }

    #[test]
    fn syntax_errors_carry_file_line_column() {
        assert_eq!(parse_str("a.conf", "x {\n y 1\n").unwrap_err().to_string(), "a.conf:1:3: this '{' is never closed");
        assert_eq!(
            parse_str("a.conf", "x 1\n  }\n").unwrap_err().to_string(),
            "a.conf:2:3: '}' without a matching '{'"
        );
        assert_eq!(parse_str("a.conf", "x \"abc\n").unwrap_err().to_string(), "a.conf:1:3: unterminated quoted string");
    }

    #[test]
    fn includes_glob_and_loops() {
        let m = Mem(BTreeMap::from([
            ("/etc/k/main.conf", "include conf.d/*.conf\nglobal_defs {\n}\n"),
            ("/etc/k/conf.d/a.conf", "vrrp_instance A {\n}\n"),
            ("/etc/k/conf.d/b.conf", "vrrp_instance B {\n}\n"),
            ("/etc/k/loop.conf", "include loop.conf\n"),
        ]));
        let s = parse_file(&m, "/etc/k/main.conf").unwrap();
        let names: Vec<String> =
            s.iter().map(|s| format!("{} {}", s.keyword.text, s.args.first().map_or("", |a| &a.text))).collect();
        assert_eq!(names, ["vrrp_instance A", "vrrp_instance B", "global_defs "]);
        assert_eq!(s[1].keyword.pos.to_string(), "/etc/k/conf.d/b.conf:1:1");
        let e = parse_file(&m, "/etc/k/loop.conf").unwrap_err().to_string();
        assert!(e.contains("include loop"), "{e}");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*.conf", "a.conf"));
        assert!(!wildcard("*.conf", "a.conf.bak"));
        assert!(wildcard("a?c*", "abcdef"));
        assert!(!wildcard("a?c", "ac"));
    }
}
