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

/// Bounds on keepalived.conf input, checked while the text is read, before
/// any work that grows with it: a refusal names the bound and where it was
/// crossed. The defaults hold the largest configs vigil supports (5,000
/// virtual servers of 10 real servers is about 700,000 words) with room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Blocks nested in blocks, includes counted (keepalived's deepest real
    /// nesting is 4: virtual_server, real_server, HTTP_GET, url).
    pub depth: usize,
    /// Bytes in one line.
    pub line_bytes: usize,
    /// Words in all files together.
    pub words: usize,
    /// Bytes of text in all files together.
    pub bytes: usize,
    /// Files read by `include`, in all (globs and nesting multiply).
    pub files: usize,
    /// `include`s nested in included files.
    pub include_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { depth: 16, line_bytes: 4096, words: 1_000_000, bytes: 16 << 20, files: 256, include_depth: 8 }
    }
}

/// Where `include` finds files: the filesystem, or a map in tests and for
/// text pasted at the console (which has no includes).
pub trait Source {
    /// The file's bytes; a file larger than `max` bytes is refused unread.
    fn read(&self, path: &str, max: usize) -> Result<Vec<u8>, String>;
    /// Paths matching a glob (`*`, `?` in the last component), sorted.
    fn glob(&self, pattern: &str) -> Result<Vec<String>, String>;
}

/// The filesystem.
pub struct Files;

impl Source for Files {
    fn read(&self, path: &str, max: usize) -> Result<Vec<u8>, String> {
        use std::io::Read;
        let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        // One byte past the bound tells "too large" without reading it all.
        f.take(max as u64 + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        if bytes.len() > max {
            return Err(format!("more than {max} bytes"));
        }
        Ok(bytes)
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

fn too_large(max: usize) -> String {
    format!("larger than {} MiB, the limit for all config text together", max >> 20)
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

/// Text from bytes: UTF-8 without a byte-order mark, no NUL bytes. Bytes
/// that are not UTF-8 are taken in comments (configs written in Latin-1
/// editors: `# Serveur câblé`), where they are dropped with the comment;
/// anywhere else an error names the line and column of the first.
fn text_of<'a>(file: &std::sync::Arc<str>, bytes: &'a [u8]) -> Result<std::borrow::Cow<'a, str>, SyntaxError> {
    let at = |offset: usize, message: String| {
        let before = &bytes[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
        let col = (offset - before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)) as u32 + 1;
        SyntaxError { pos: Pos { file: file.clone(), line, col }, message }
    };
    if let Some(i) = bytes.iter().position(|&b| b == 0) {
        return Err(at(i, "a NUL byte: this is not a text file".into()));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len());
            let mut offset = 0;
            for line in bytes.split_inclusive(|&b| b == b'\n') {
                match std::str::from_utf8(line) {
                    Ok(l) => out.push_str(l),
                    Err(e) => {
                        let bad = e.valid_up_to();
                        match comment_start(line).filter(|&c| c <= bad) {
                            // The comment goes (it would be dropped anyway).
                            Some(c) => {
                                out.push_str(std::str::from_utf8(&line[..c]).unwrap_or_default());
                                out.push('\n');
                            }
                            None => {
                                return Err(at(
                                    offset + bad,
                                    format!(
                                        "byte 0x{:02x} is not UTF-8 text (is this a keepalived.conf? such bytes are only taken in comments)",
                                        line[bad]
                                    ),
                                ));
                            }
                        }
                    }
                }
                offset += line.len();
            }
            std::borrow::Cow::Owned(out)
        }
    };
    // Editors on Windows start files with a byte-order mark; it is no word.
    Ok(match text {
        std::borrow::Cow::Borrowed(t) => std::borrow::Cow::Borrowed(t.strip_prefix('\u{feff}').unwrap_or(t)),
        std::borrow::Cow::Owned(t) => std::borrow::Cow::Owned(t.strip_prefix('\u{feff}').unwrap_or(&t).to_string()),
    })
}

/// Where a line's comment starts: the first `#` or `!` outside quotes that
/// starts a word (as the lexer reads them).
fn comment_start(line: &[u8]) -> Option<usize> {
    let mut quoted = false;
    let mut prev_space = true;
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'#' | b'!' if !quoted && prev_space => return Some(i),
            _ => {}
        }
        prev_space = line[i].is_ascii_whitespace() || matches!(line[i], b'{' | b'}');
        i += 1;
    }
    None
}

/// What is left of the [`Limits`] while files are read.
struct Budget {
    limits: Limits,
    words: usize,
    bytes: usize,
    files: usize,
    /// keepalived's config id (`-i ID`, by default the host name): lines
    /// that start `@ID` are read only on that node, `@^ID` everywhere else.
    instance: Option<String>,
    /// `$NAME=value` definitions so far (in all files: keepalived's are
    /// global), their values already substituted.
    params: std::collections::HashMap<String, String>,
}

impl Budget {
    fn new(limits: Limits) -> Self {
        Budget { limits, words: 0, bytes: 0, files: 0, instance: None, params: Default::default() }
    }
}

/// Definitions a config may make (each value is at most a line).
const PARAMS: usize = 1024;

fn param_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// `$NAME` and `${NAME}` replaced by their definitions; a name with no
/// definition stays as it is (keepalived leaves it too: a `$` may be part
/// of a password). One pass over the line: values were substituted when
/// they were defined, so nothing an input controls recurses.
fn substitute(line: &str, params: &std::collections::HashMap<String, String>) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, used) = match after.strip_prefix('{') {
            Some(b) => match b.find('}') {
                Some(end) => (&b[..end], end + 2),
                None => ("", 0),
            },
            None => {
                let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
                (&after[..end], end)
            }
        };
        match params.get(name) {
            Some(v) if used > 0 => {
                out.push_str(v);
                rest = &after[used..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A line's `@ID` / `@^ID` condition: the rest of the line (from where it
/// starts), or None when the line is not for this node. Lines without one
/// are for every node.
fn condition<'a>(line: &'a str, instance: Option<&str>) -> Option<(usize, &'a str)> {
    let start = line.len() - line.trim_start().len();
    let Some(cond) = line[start..].strip_prefix('@') else {
        return Some((0, line));
    };
    let end = cond.find(char::is_whitespace).unwrap_or(cond.len());
    let (id, negated) = match cond[..end].strip_prefix('^') {
        Some(id) => (id, true),
        None => (&cond[..end], false),
    };
    let ours = instance == Some(id);
    (ours != negated).then(|| (start + 1 + end, &cond[end..]))
}

/// The tokens of a file, a line at a time as the parser asks for them: a
/// config's tokens are never all in memory at once (for a 50,000 real
/// server config they were the import's largest allocation). Consecutive
/// line ends are one [`Tok::Newline`] (a blank line means nothing more), so
/// what is looked ahead at is at most a line's tokens and one line end.
struct Lexer {
    file: std::sync::Arc<str>,
    text: String,
    /// Where the next line starts in `text`, and its number (from 0).
    at: usize,
    ln: usize,
    ahead: std::collections::VecDeque<Tok>,
}

impl Lexer {
    fn new(file: std::sync::Arc<str>, text: String) -> Self {
        Lexer { file, text, at: 0, ln: 0, ahead: Default::default() }
    }

    /// Lexes lines until at least `n` tokens are ahead, or the text ends.
    fn fill(&mut self, n: usize, budget: &mut Budget) -> Result<(), SyntaxError> {
        while self.ahead.len() < n {
            if self.at >= self.text.len() {
                return Ok(());
            }
            // As str::lines: split at \n, a \r before it dropped.
            let rest = &self.text[self.at..];
            let end = rest.find('\n').unwrap_or(rest.len());
            let line = rest[..end].strip_suffix('\r').unwrap_or(&rest[..end]);
            let ln = self.ln;
            self.at += end + 1;
            self.ln += 1;
            lex_line(&self.file, &mut self.ahead, ln, line, budget)?;
        }
        Ok(())
    }

    fn peek(&mut self, budget: &mut Budget) -> Result<Option<&Tok>, SyntaxError> {
        self.fill(1, budget)?;
        Ok(self.ahead.front())
    }

    /// The token after the line end at the front (there is only one).
    fn peek_after_newline(&mut self, budget: &mut Budget) -> Result<Option<&Tok>, SyntaxError> {
        self.fill(2, budget)?;
        Ok(self.ahead.get(1))
    }

    fn next(&mut self, budget: &mut Budget) -> Result<Option<Tok>, SyntaxError> {
        self.fill(1, budget)?;
        Ok(self.ahead.pop_front())
    }
}

/// A line end, unless one is the last token already.
fn newline(toks: &mut std::collections::VecDeque<Tok>) {
    if !matches!(toks.back(), Some(Tok::Newline)) {
        toks.push_back(Tok::Newline);
    }
}

/// One line's tokens, and its end.
fn lex_line(
    file: &std::sync::Arc<str>,
    toks: &mut std::collections::VecDeque<Tok>,
    ln: usize,
    line: &str,
    budget: &mut Budget,
) -> Result<(), SyntaxError> {
    // Columns count from the line's start, the condition included.
    let Some((skip, line)) = condition(line, budget.instance.as_deref()) else {
        newline(toks);
        return Ok(());
    };
    let pos = |i: usize| Pos { file: file.clone(), line: ln as u32 + 1, col: (skip + i) as u32 + 1 };
    // Parameters: `$NAME=value` defines, `$NAME` / `${NAME}` uses
    // (columns after a substitution are those of the line as expanded).
    let expanded;
    let line = if line.contains('$') {
        let t = line.trim_start();
        if let Some((name, value)) = t.strip_prefix('$').and_then(|d| d.split_once('='))
            && param_name(name)
        {
            let value = substitute(value.trim(), &budget.params);
            if budget.params.len() >= PARAMS && !budget.params.contains_key(name) {
                return Err(SyntaxError {
                    pos: pos(0),
                    message: format!("more than {PARAMS} $NAME=value definitions, the limit"),
                });
            }
            if value.len() > budget.limits.line_bytes {
                return Err(SyntaxError {
                    pos: pos(0),
                    message: format!("${name} is {} bytes long; the limit is a line", value.len()),
                });
            }
            budget.params.insert(name.to_string(), value);
            newline(toks);
            return Ok(());
        }
        expanded = substitute(line, &budget.params);
        expanded.as_str()
    } else {
        line
    };
    if line.len() > budget.limits.line_bytes {
        return Err(SyntaxError {
            pos: pos(0),
            message: format!(
                "this line is {} bytes long; the limit is {} bytes a line",
                line.len(),
                budget.limits.line_bytes
            ),
        });
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        if budget.words >= budget.limits.words && !chars[i].1.is_whitespace() && !matches!(chars[i].1, '#' | '!') {
            return Err(SyntaxError {
                pos: pos(i),
                message: format!("more than {} words in the config, the limit", budget.limits.words),
            });
        }
        let (_, c) = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '#' | '!' => break,
            '{' => {
                toks.push_back(Tok::Open(pos(i)));
                budget.words += 1;
                i += 1;
            }
            '}' => {
                toks.push_back(Tok::Close(pos(i)));
                budget.words += 1;
                i += 1;
            }
            '"' => {
                let start = i;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(SyntaxError { pos: pos(start), message: "unterminated quoted string".into() });
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
                // Words stay for the whole import: no spare capacity.
                s.shrink_to_fit();
                toks.push_back(Tok::Word(Word { text: s, pos: pos(start) }));
                budget.words += 1;
            }
            _ => {
                let start = i;
                let mut s = String::new();
                while let Some(&(_, ch)) = chars.get(i) {
                    if ch.is_whitespace() || matches!(ch, '{' | '}' | '"') || (ch == '#' || ch == '!') && s.is_empty() {
                        break;
                    }
                    s.push(ch);
                    i += 1;
                }
                // Words stay for the whole import: no spare capacity.
                s.shrink_to_fit();
                toks.push_back(Tok::Word(Word { text: s, pos: pos(start) }));
                budget.words += 1;
            }
        }
    }
    newline(toks);
    Ok(())
}

/// Parses a file, following `include`s through `src`, within the default
/// [`Limits`].
pub fn parse_file(src: &dyn Source, path: &str) -> Result<Vec<Stmt>, SyntaxError> {
    parse_file_within(src, path, Limits::default())
}

/// Parses a file within `limits`.
pub fn parse_file_within(src: &dyn Source, path: &str, limits: Limits) -> Result<Vec<Stmt>, SyntaxError> {
    parse_file_as(src, path, limits, None)
}

/// Parses a file within `limits` for the node whose config id is
/// `instance` (keepalived's `-i`, by default its host name): `@ID` lines
/// are read when ID is this id, `@^ID` lines when it is not.
pub fn parse_file_as(
    src: &dyn Source,
    path: &str,
    limits: Limits,
    instance: Option<&str>,
) -> Result<Vec<Stmt>, SyntaxError> {
    Statements::file(src, path, limits, instance)?.collect()
}

/// Parses text that has no file (e.g. pasted at the console) under a name.
pub fn parse_str(name: &str, text: &str) -> Result<Vec<Stmt>, SyntaxError> {
    parse_str_within(name, text, Limits::default())
}

/// Parses text that has no file within `limits`.
pub fn parse_str_within(name: &str, text: &str, limits: Limits) -> Result<Vec<Stmt>, SyntaxError> {
    parse_str_as(name, text, limits, None)
}

/// Parses text that has no file, for the node whose config id is `instance`
/// (see [`parse_file_as`]).
pub fn parse_str_as(name: &str, text: &str, limits: Limits, instance: Option<&str>) -> Result<Vec<Stmt>, SyntaxError> {
    Statements::text(name, text, limits, instance)?.collect()
}

/// Text has no files to include.
struct NoFiles;

impl Source for NoFiles {
    fn read(&self, path: &str, _: usize) -> Result<Vec<u8>, String> {
        Err(format!("{path}: include is not available here"))
    }
    fn glob(&self, p: &str) -> Result<Vec<String>, String> {
        Ok(vec![p.to_string()])
    }
}

/// What reading files shares: where includes come from, the chain of files
/// being read (for loops), and what is left of the limits.
struct Ctx<'s> {
    src: &'s dyn Source,
    stack: Vec<String>,
    budget: Budget,
}

/// The top-level statements of a config, one at a time, as they are read:
/// an importer that takes each as it comes holds one block's tree at a
/// time, not the whole file's (the file's text stays; what an `include`
/// at the top brings is read whole, then handed out one by one).
pub struct Statements<'s> {
    cx: Ctx<'s>,
    parser: Parser,
    included: std::vec::IntoIter<Stmt>,
    done: bool,
}

impl<'s> Statements<'s> {
    /// A file, following `include`s through `src`.
    pub fn file(src: &'s dyn Source, path: &str, limits: Limits, instance: Option<&str>) -> Result<Self, SyntaxError> {
        let bytes = src.read(path, limits.bytes).map_err(|e| SyntaxError {
            pos: Pos { file: path.into(), line: 1, col: 1 },
            message: format!("cannot read: {e}"),
        })?;
        Self::start(src, path, &bytes, limits, instance)
    }

    /// Text that has no file, under a name.
    pub fn text(
        name: &str,
        text: &str,
        limits: Limits,
        instance: Option<&str>,
    ) -> Result<Statements<'static>, SyntaxError> {
        if text.len() > limits.bytes {
            return Err(SyntaxError {
                pos: Pos { file: name.into(), line: 1, col: 1 },
                message: too_large(limits.bytes),
            });
        }
        Statements::start(&NoFiles, name, text.as_bytes(), limits, instance)
    }

    fn start(
        src: &'s dyn Source,
        name: &str,
        bytes: &[u8],
        limits: Limits,
        instance: Option<&str>,
    ) -> Result<Self, SyntaxError> {
        let mut budget = Budget::new(limits);
        budget.instance = instance.map(str::to_string);
        let mut cx = Ctx { src, stack: vec![name.to_string()], budget };
        let parser = Parser::new(&mut cx, name, bytes)?;
        Ok(Statements { cx, parser, included: Vec::new().into_iter(), done: false })
    }
}

impl Iterator for Statements<'_> {
    type Item = Result<Stmt, SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(s) = self.included.next() {
                return Some(Ok(s));
            }
            if self.done {
                return None;
            }
            match self.parser.next_top(&mut self.cx, 0) {
                Ok(Some(Top::One(s))) => return Some(Ok(s)),
                Ok(Some(Top::Included(v))) => self.included = v.into_iter(),
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// What one step at a file's top brings: a statement, or what an
/// `include` there read.
enum Top {
    One(Stmt),
    Included(Vec<Stmt>),
}

fn dir_of(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((d, _)) if !d.is_empty() => d.to_string(),
        Some(_) => "/".into(),
        None => ".".into(),
    }
}

/// One file being read.
struct Parser {
    lex: Lexer,
    dir: String,
}

/// A block being read: the statement that opened it and what it holds so far.
struct Open {
    brace: Pos,
    keyword: Word,
    args: Vec<Word>,
    body: Vec<Stmt>,
}

impl Parser {
    /// A file's bytes, counted against the budget, as text.
    fn new(cx: &mut Ctx, name: &str, bytes: &[u8]) -> Result<Parser, SyntaxError> {
        let file: std::sync::Arc<str> = name.into();
        cx.budget.bytes += bytes.len();
        if cx.budget.bytes > cx.budget.limits.bytes {
            return Err(SyntaxError { pos: Pos { file, line: 1, col: 1 }, message: too_large(cx.budget.limits.bytes) });
        }
        let text = text_of(&file, bytes)?.into_owned();
        Ok(Parser { lex: Lexer::new(file, text), dir: dir_of(name) })
    }

    /// Every statement of the file (an included one: `depth` blocks are
    /// open around it).
    fn statements(&mut self, cx: &mut Ctx, depth: usize) -> Result<Vec<Stmt>, SyntaxError> {
        let mut all = Vec::new();
        while let Some(t) = self.next_top(cx, depth)? {
            match t {
                Top::One(s) => all.push(s),
                Top::Included(v) => all.extend(v),
            }
        }
        Ok(all)
    }

    /// The next statement at the file's top, whole. Blocks are kept on an
    /// explicit stack, bounded by `Limits::depth` (`depth` blocks are open
    /// already around an included file): no input can make this recurse.
    fn next_top(&mut self, cx: &mut Ctx, depth: usize) -> Result<Option<Top>, SyntaxError> {
        let mut open: Vec<Open> = Vec::new();
        loop {
            match self.lex.next(&mut cx.budget)? {
                None => {
                    return match open.last() {
                        Some(o) => {
                            Err(SyntaxError { pos: o.brace.clone(), message: "this '{' is never closed".into() })
                        }
                        None => Ok(None),
                    };
                }
                Some(Tok::Newline) => {}
                Some(Tok::Close(p)) => {
                    let Some(o) = open.pop() else {
                        return Err(SyntaxError { pos: p, message: "'}' without a matching '{'".into() });
                    };
                    let mut body = o.body;
                    body.shrink_to_fit();
                    let stmt = Stmt { keyword: o.keyword, args: o.args, block: Some(body) };
                    match open.last_mut() {
                        Some(o) => o.body.push(stmt),
                        None => return Ok(Some(Top::One(stmt))),
                    }
                }
                Some(Tok::Open(p)) => {
                    return Err(SyntaxError { pos: p, message: "'{' without a keyword before it".into() });
                }
                Some(Tok::Word(keyword)) => {
                    let mut args = Vec::new();
                    let mut brace = None;
                    loop {
                        match self.lex.peek(&mut cx.budget)? {
                            Some(Tok::Word(_)) => {
                                if let Some(Tok::Word(a)) = self.lex.next(&mut cx.budget)? {
                                    args.push(a);
                                }
                            }
                            Some(Tok::Open(p)) => {
                                brace = Some(p.clone());
                                self.lex.next(&mut cx.budget)?;
                                break;
                            }
                            Some(Tok::Newline) => {
                                // A block may open on the next line.
                                if let Some(Tok::Open(p)) = self.lex.peek_after_newline(&mut cx.budget)? {
                                    brace = Some(p.clone());
                                    self.lex.next(&mut cx.budget)?;
                                    self.lex.next(&mut cx.budget)?;
                                }
                                break;
                            }
                            Some(Tok::Close(_)) | None => break,
                        }
                    }
                    args.shrink_to_fit();
                    let level = depth + open.len();
                    match brace {
                        Some(brace) => {
                            if level >= cx.budget.limits.depth {
                                return Err(SyntaxError {
                                    pos: brace,
                                    message: format!(
                                        "blocks nested deeper than {}, the limit (keepalived.conf needs 4)",
                                        cx.budget.limits.depth
                                    ),
                                });
                            }
                            open.push(Open { brace, keyword, args, body: Vec::new() });
                        }
                        None if keyword.text == "include" => {
                            let included = self.include(cx, &keyword, &args, level)?;
                            match open.last_mut() {
                                Some(o) => o.body.extend(included),
                                None => return Ok(Some(Top::Included(included))),
                            }
                        }
                        None => {
                            let stmt = Stmt { keyword, args, block: None };
                            match open.last_mut() {
                                Some(o) => o.body.push(stmt),
                                None => return Ok(Some(Top::One(stmt))),
                            }
                        }
                    }
                }
            }
        }
    }

    /// The statements of the files an `include` names, spliced in where it
    /// stands (`depth` blocks are open around it). Nesting is bounded by
    /// `Limits::include_depth`, the files read in all by `Limits::files`.
    fn include(&mut self, cx: &mut Ctx, kw: &Word, args: &[Word], depth: usize) -> Result<Vec<Stmt>, SyntaxError> {
        let err = |m: String| SyntaxError { pos: kw.pos.clone(), message: m };
        let [pattern] = args else {
            return Err(err("include takes one path".into()));
        };
        let limits = cx.budget.limits;
        if cx.stack.len() > limits.include_depth {
            return Err(err(format!("includes nested deeper than {}, the limit", limits.include_depth)));
        }
        let pattern =
            if pattern.text.starts_with('/') { pattern.text.clone() } else { format!("{}/{}", self.dir, pattern.text) };
        let mut out = Vec::new();
        for path in cx.src.glob(&pattern).map_err(|e| err(format!("include {pattern}: {e}")))? {
            if cx.stack.contains(&path) {
                return Err(err(format!("include loop: {} -> {path}", cx.stack.join(" -> "))));
            }
            cx.budget.files += 1;
            if cx.budget.files > limits.files {
                return Err(err(format!("more than {} included files in all, the limit (at {path})", limits.files)));
            }
            let left = limits.bytes.saturating_sub(cx.budget.bytes);
            let bytes = cx.src.read(&path, left).map_err(|e| {
                if e.starts_with("more than ") {
                    err(format!("include {path}: the config text would be {}", too_large(limits.bytes)))
                } else {
                    err(format!("include {path}: {e}"))
                }
            })?;
            cx.stack.push(path.clone());
            let r = Parser::new(cx, &path, &bytes).and_then(|mut p| p.statements(cx, depth));
            cx.stack.pop();
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
        fn read(&self, path: &str, max: usize) -> Result<Vec<u8>, String> {
            let text = self.0.get(path).ok_or_else(|| "No such file or directory".to_string())?;
            if text.len() > max {
                return Err(format!("more than {max} bytes"));
            }
            Ok(text.as_bytes().to_vec())
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
    fn nesting_is_bounded_without_recursion() {
        // 60,000 (and 1,000,000) open blocks used to overflow the stack.
        let e = parse_str("deep.conf", &"a {\n".repeat(60_000)).unwrap_err().to_string();
        assert_eq!(e, "deep.conf:17:3: blocks nested deeper than 16, the limit (keepalived.conf needs 4)");
        // A million stops at the same place: the file is read a line at a
        // time as it is parsed, and the rest is never looked at.
        let e = parse_str("deep.conf", &"a {\n".repeat(1_000_000)).unwrap_err().to_string();
        assert_eq!(e, "deep.conf:17:3: blocks nested deeper than 16, the limit (keepalived.conf needs 4)");
        // The word bound still holds for flat files.
        let e = parse_str("wide.conf", &"a b\n".repeat(500_001)).unwrap_err().to_string();
        assert_eq!(e, "wide.conf:500001:1: more than 1000000 words in the config, the limit");
        // At the limit it parses, and closing braces on one line work too.
        let text = format!("{}x 1\n{}", "a {\n".repeat(16), "}".repeat(16));
        let mut s = parse_str("ok.conf", &text).unwrap();
        for _ in 0..16 {
            let b = s.pop().unwrap().block.unwrap();
            s = b;
        }
        assert_eq!(s[0].keyword.text, "x");
    }

    #[test]
    fn nesting_counts_the_blocks_around_an_include() {
        let inner = Box::leak(format!("{}{}", "b {\n".repeat(11), "}\n".repeat(11)).into_boxed_str());
        let m = Mem(BTreeMap::from([
            ("/k/main.conf", "a {\n a {\n a {\n a {\n a {\n a {\n include inner.conf\n}\n}\n}\n}\n}\n}\n"),
            ("/k/inner.conf", &*inner),
        ]));
        let e = parse_file(&m, "/k/main.conf").unwrap_err().to_string();
        assert!(e.starts_with("/k/inner.conf:11:3: blocks nested deeper than 16"), "{e}");
    }

    #[test]
    fn a_long_line_is_refused_with_its_length() {
        let text = format!("global_defs {{\n router_id {}\n}}\n", "x".repeat(5000));
        let e = parse_str("long.conf", &text).unwrap_err().to_string();
        assert_eq!(e, "long.conf:2:1: this line is 5011 bytes long; the limit is 4096 bytes a line");
        let ok = format!("a {}\n", "x".repeat(4094));
        parse_str("ok.conf", &ok).unwrap();
    }

    #[test]
    fn words_and_bytes_are_bounded_across_files() {
        let limits = Limits { words: 10, ..Limits::default() };
        let e = parse_str_within("w.conf", "a b c\nd e f\ng h i\nj k l\n", limits).unwrap_err().to_string();
        assert_eq!(e, "w.conf:4:3: more than 10 words in the config, the limit");
        // Comments and blank space are not words.
        parse_str_within("w.conf", "a b c # d e f g h i j k l m\n\n\nd e f\n", limits).unwrap();

        let limits = Limits { bytes: 1 << 20, ..Limits::default() };
        let big = "a b\n".repeat(300_000);
        let e = parse_str_within("b.conf", &big, limits).unwrap_err().to_string();
        assert_eq!(e, "b.conf:1:1: larger than 1 MiB, the limit for all config text together");

        // Two files that are each under the bound, but not together.
        let half = Box::leak("a b\n".repeat(150_000).into_boxed_str());
        let m = Mem(BTreeMap::from([
            ("/k/main.conf", "include x/*.conf\n"),
            ("/k/x/1.conf", &*half),
            ("/k/x/2.conf", &*half),
        ]));
        let e = parse_file_within(&m, "/k/main.conf", limits).unwrap_err().to_string();
        assert_eq!(
            e,
            "/k/main.conf:1:1: include /k/x/2.conf: the config text would be larger than 1 MiB, the limit for all config text together"
        );
    }

    #[test]
    fn include_expansion_is_bounded() {
        // Each level includes ten files of the next: 10^6 expansions at depth 6.
        let mut files = BTreeMap::new();
        for level in 0..6 {
            for i in 0..10 {
                let text: &'static str = Box::leak(format!("include /k/l{}/*.conf\n", level + 1).into_boxed_str());
                files.insert(&*Box::leak(format!("/k/l{level}/{i}.conf").into_boxed_str()), text);
            }
        }
        files.insert("/k/main.conf", "include l0/*.conf\n");
        let m = Mem(files);
        let e = parse_file(&m, "/k/main.conf").unwrap_err().to_string();
        assert!(e.contains("more than 256 included files in all, the limit"), "{e}");

        let deep = Mem(BTreeMap::from_iter((0..12).map(|i| {
            let name: &'static str = Box::leak(format!("/k/{i}.conf").into_boxed_str());
            let text: &'static str = Box::leak(format!("include {}.conf\n", i + 1).into_boxed_str());
            (name, text)
        })));
        let e = parse_file(&deep, "/k/0.conf").unwrap_err().to_string();
        assert!(e.contains("includes nested deeper than 8, the limit"), "{e}");
    }

    #[test]
    fn a_byte_order_mark_is_no_word_and_binary_is_refused_with_where() {
        let s = parse_str("bom.conf", "\u{feff}vrrp_instance VI_1 {\n}\n").unwrap();
        assert_eq!(s[0].keyword.text, "vrrp_instance");
        assert_eq!(s[0].keyword.pos.to_string(), "bom.conf:1:1");

        let e = parse_str("nul.conf", &"\0".repeat(100)).unwrap_err().to_string();
        assert_eq!(e, "nul.conf:1:1: a NUL byte: this is not a text file");
        let e = parse_str("nul.conf", "a b\nc \0d\n").unwrap_err().to_string();
        assert_eq!(e, "nul.conf:2:3: a NUL byte: this is not a text file");

        let m = Mem(BTreeMap::new());
        struct Latin1;
        impl Source for Latin1 {
            fn read(&self, _: &str, _: usize) -> Result<Vec<u8>, String> {
                Ok(b"global_defs {\n  router_id caf\xe9\n}\n".to_vec())
            }
            fn glob(&self, p: &str) -> Result<Vec<String>, String> {
                Ok(vec![p.to_string()])
            }
        }
        let e = parse_file(&Latin1, "l1.conf").unwrap_err().to_string();
        assert_eq!(
            e,
            "l1.conf:2:16: byte 0xe9 is not UTF-8 text (is this a keepalived.conf? such bytes are only taken in comments)"
        );
        let e = parse_file(&m, "/nope.conf").unwrap_err().to_string();
        assert_eq!(e, "/nope.conf:1:1: cannot read: No such file or directory");
    }

    /// Each bound, exactly at its limit (parsed) and one past it (refused,
    /// naming the bound), with the default limits where the input is cheap
    /// to build and scaled-down ones where it is not.
    #[test]
    fn every_bound_takes_its_limit_and_refuses_one_more() {
        let d = Limits::default();
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        // Depth: 16 open blocks parse, 17 do not.
        let nest = |n: usize| format!("{}x 1\n{}", "a {\n".repeat(n), "}\n".repeat(n));
        parse_str("d.conf", &nest(d.depth)).unwrap();
        let e = parse_str("d.conf", &nest(d.depth + 1)).unwrap_err().to_string();
        assert!(e.contains("blocks nested deeper than 16, the limit"), "{e}");
        // Line length: 4096 bytes parse, 4097 do not.
        let line = |n: usize| format!("a {}\n", "x".repeat(n - 2));
        parse_str("l.conf", &line(d.line_bytes)).unwrap();
        let e = parse_str("l.conf", &line(d.line_bytes + 1)).unwrap_err().to_string();
        assert!(e.ends_with("this line is 4097 bytes long; the limit is 4096 bytes a line"), "{e}");
        // Words: a million parse, one more does not (braces count).
        let words = |n: usize| "w\n".repeat(n);
        assert_eq!(parse_str("w.conf", &words(d.words)).unwrap().len(), d.words);
        let e = parse_str("w.conf", &words(d.words + 1)).unwrap_err().to_string();
        assert_eq!(e, "w.conf:1000001:1: more than 1000000 words in the config, the limit");
        // Bytes: 16 MiB of text parse (in many files: one line is bounded),
        // one byte more does not.
        let chunk = "w\n".repeat(1 << 18); // 512 KiB, 262,144 words
        let files = d.bytes / chunk.len(); // 32
        let mut m = BTreeMap::from([("/k/main.conf", "include x/*.conf\n")]);
        for i in 0..files {
            m.insert(leak(format!("/k/x/{i:02}.conf")), leak(chunk.clone()));
        }
        let within = Limits { words: usize::MAX, ..d };
        let main_len = "include x/*.conf\n".len();
        // The main file counts too: trim the last file by as much.
        m.insert("/k/x/31.conf", leak(chunk[main_len..].to_string()));
        parse_file_within(&Mem(m.clone()), "/k/main.conf", within).unwrap();
        m.insert("/k/x/31.conf", leak(chunk[main_len - 1..].to_string()));
        let e = parse_file_within(&Mem(m), "/k/main.conf", within).unwrap_err().to_string();
        assert!(e.ends_with("would be larger than 16 MiB, the limit for all config text together"), "{e}");
        // Files: 256 included files parse, 257 do not.
        let many = |n: usize| {
            let mut m = BTreeMap::from([("/k/main.conf", "include x/*.conf\n")]);
            for i in 0..n {
                m.insert(leak(format!("/k/x/{i:03}.conf")), "w\n");
            }
            Mem(m)
        };
        assert_eq!(parse_file(&many(d.files), "/k/main.conf").unwrap().len(), d.files);
        let e = parse_file(&many(d.files + 1), "/k/main.conf").unwrap_err().to_string();
        assert!(e.contains("more than 256 included files in all, the limit"), "{e}");
        // Include depth: a chain of 8 includes parses, 9 do not.
        let chain = |n: usize| {
            Mem(BTreeMap::from_iter((0..=n).map(|i| {
                let text = if i < n { leak(format!("include {}.conf\n", i + 1)) } else { "w\n" };
                (leak(format!("/k/{i}.conf")), text)
            })))
        };
        assert_eq!(parse_file(&chain(d.include_depth), "/k/0.conf").unwrap().len(), 1);
        let e = parse_file(&chain(d.include_depth + 1), "/k/0.conf").unwrap_err().to_string();
        assert!(e.contains("includes nested deeper than 8, the limit"), "{e}");
    }

    #[test]
    fn conditional_lines_are_for_their_node() {
        let text = "a {\n@high  x 1\n@low x 2\n  @^high y 3\n z 4\n}\n@high\n";
        let words = |id: Option<&str>| -> Vec<String> {
            let s = parse_str_as("c.conf", text, Limits::default(), id).unwrap();
            s[0].block.as_ref().unwrap().iter().map(|s| format!("{}@{}", s.keyword.text, s.keyword.pos)).collect()
        };
        assert_eq!(words(Some("high")), ["x@c.conf:2:8", "z@c.conf:5:2"]);
        assert_eq!(words(Some("low")), ["x@c.conf:3:6", "y@c.conf:4:10", "z@c.conf:5:2"]);
        // No id: only the negated lines and the plain ones.
        assert_eq!(words(None), ["y@c.conf:4:10", "z@c.conf:5:2"]);
    }

    #[test]
    fn latin1_comments_and_crlf_lines_are_taken() {
        struct Bytes(&'static [u8]);
        impl Source for Bytes {
            fn read(&self, _: &str, _: usize) -> Result<Vec<u8>, String> {
                Ok(self.0.to_vec())
            }
            fn glob(&self, p: &str) -> Result<Vec<String>, String> {
                Ok(vec![p.to_string()])
            }
        }
        let text: &[u8] = b"# Serveur c\xe2bl\xe9\r\nglobal_defs { ! r\xe9seau\r\n  router_id R1 # caf\xe9\r\n}\r\n";
        let s = parse_file(&Bytes(text), "l1.conf").unwrap();
        let g = s[0].block.as_ref().unwrap();
        assert_eq!((g[0].keyword.text.as_str(), g[0].args[0].text.as_str()), ("router_id", "R1"));
        assert_eq!(g[0].args[0].pos.to_string(), "l1.conf:3:13");
        // A '#' inside quotes is no comment: the byte after it is refused.
        let e = parse_file(&Bytes(b"a \"x #\xe9\"\n"), "q.conf").unwrap_err().to_string();
        assert!(e.starts_with("q.conf:1:7: byte 0xe9"), "{e}");
    }

    #[test]
    fn parameters_are_defined_and_substituted() {
        let text = "$IF=eth0\n$NET=10.0.0\n$VIP=${NET}.100/24 dev $IF\n@high $PRIO=150\n@^high $PRIO=100\nv {\n interface $IF\n priority ${PRIO}\n ip $VIP\n pass a$b$\n}\n";
        let s = parse_str_as("p.conf", text, Limits::default(), Some("high")).unwrap();
        let b = s[0].block.as_ref().unwrap();
        let line = |i: usize| -> Vec<&str> {
            std::iter::once(b[i].keyword.text.as_str()).chain(b[i].args.iter().map(|a| a.text.as_str())).collect()
        };
        assert_eq!(line(0), ["interface", "eth0"]);
        assert_eq!(line(1), ["priority", "150"]);
        assert_eq!(line(2), ["ip", "10.0.0.100/24", "dev", "eth0"]);
        // Not defined: left as written.
        assert_eq!(line(3), ["pass", "a$b$"]);
        let s = parse_str_as("p.conf", text, Limits::default(), Some("low")).unwrap();
        assert_eq!(s[0].block.as_ref().unwrap()[1].args[0].text, "100");
        // A definition that doubles itself is bounded by the line length.
        let bomb = format!("$A=0123456789\n{}", "$A=$A$A\n".repeat(12));
        let e = parse_str("b.conf", &bomb).unwrap_err().to_string();
        assert!(e.contains("$A is 5120 bytes long; the limit is a line"), "{e}");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*.conf", "a.conf"));
        assert!(!wildcard("*.conf", "a.conf.bak"));
        assert!(wildcard("a?c*", "abcdef"));
        assert!(!wildcard("a?c", "ac"));
    }
}
