//! Command lines as keepalived splits them for the programs it runs
//! (`vrrp_script`'s `script`, `notify*`, `misc_path`): no shell; words are
//! separated by spaces; '...' quotes a word as it is, "..." quotes a word
//! in which a backslash escapes `"` and `\`; outside quotes a backslash
//! escapes the next character.

/// The program and its arguments, or what is wrong with the line.
pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                words.extend(word.take());
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("a ' is never closed".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err("a \" is never closed".into()),
                        },
                        Some(c) => w.push(c),
                        None => return Err("a \" is never closed".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err("a \\ at the end of the line escapes nothing".into()),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    if words.is_empty() {
        return Err("no program to run".into());
    }
    Ok(words)
}

/// Words written back as one command line that [`split`] reads as them.
pub fn join(words: &[String]) -> String {
    let quoted: Vec<String> = words
        .iter()
        .map(|w| {
            if !w.is_empty() && !w.contains(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '\\')) {
                w.clone()
            } else if !w.contains('\'') {
                format!("'{w}'")
            } else {
                let mut q = String::from("\"");
                for c in w.chars() {
                    if c == '"' || c == '\\' {
                        q.push('\\');
                    }
                    q.push(c);
                }
                q.push('"');
                q
            }
        })
        .collect();
    quoted.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(line: &str) -> Vec<String> {
        split(line).unwrap()
    }

    #[test]
    fn words_quotes_and_escapes() {
        assert_eq!(s("killall -0 haproxy"), ["killall", "-0", "haproxy"]);
        assert_eq!(s("  /bin/test   -f\t/tmp/x  "), ["/bin/test", "-f", "/tmp/x"]);
        assert_eq!(s("/bin/test -f '/tmp/a b'"), ["/bin/test", "-f", "/tmp/a b"]);
        assert_eq!(s(r#"/bin/echo "say \"hi\"" 'it''s'"#), ["/bin/echo", "say \"hi\"", "its"]);
        assert_eq!(s(r"/bin/echo a\ b \'"), ["/bin/echo", "a b", "'"]);
        assert_eq!(s("/bin/x ''"), ["/bin/x", ""]);
        assert_eq!(s(r#"/bin/x "C:\path""#), ["/bin/x", r"C:\path"]);
    }

    #[test]
    fn what_is_wrong_is_said() {
        assert_eq!(split("/bin/x 'a").unwrap_err(), "a ' is never closed");
        assert_eq!(split("/bin/x \"a").unwrap_err(), "a \" is never closed");
        assert_eq!(split("/bin/x \\").unwrap_err(), "a \\ at the end of the line escapes nothing");
        assert_eq!(split("   ").unwrap_err(), "no program to run");
    }

    #[test]
    fn join_is_read_back_as_the_same_words() {
        let cases: &[&[&str]] =
            &[&["/bin/x"], &["/bin/x", "a b", ""], &["/bin/x", "it's", "\"q\"", "back\\slash"], &["/bin/x", "'"]];
        for words in cases {
            let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            assert_eq!(split(&join(&words)).unwrap(), words, "{}", join(&words));
        }
    }
}
