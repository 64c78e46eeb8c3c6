//! A line diff for `compare` and `config diff`: unified-style, `-` running,
//! `+` candidate, context lines as `  `, `...` between hunks.
//!
//! Myers' algorithm (the `similar` crate) in memory linear in the lines, with
//! a deadline after which it settles for a longer but correct diff: a large
//! config on a 256 MiB board must not cost lines x lines (the LCS table this
//! replaced took 374 MB for 9,600 lines). What is printed is bounded too; a
//! summary line always says how much changed.

use similar::{Algorithm, ChangeTag, TextDiff};
use std::borrow::Cow;
use std::fmt::Write;
use std::time::Duration;

/// At most this many lines of diff are printed (the summary says the rest).
pub const MAX_LINES: usize = 2000;

/// How long the diff may look for the shortest edit before it approximates.
const DEADLINE: Duration = Duration::from_secs(1);

/// Lines only in `a` are `-`, only in `b` are `+`; common lines are shown
/// as context within `context` lines of a change. Empty when equal.
pub fn diff(a: &str, b: &str, context: usize) -> String {
    diff_bounded(a, b, context, MAX_LINES)
}

/// [`diff`] printing at most `max_lines` lines of changes and context.
pub fn diff_bounded(a: &str, b: &str, context: usize, max_lines: usize) -> String {
    diff_with(a, b, context, max_lines, Some(DEADLINE))
}

/// The diff, with or without a deadline (tests want the exact answer however
/// slow the machine: under qemu-user a second is not much).
fn diff_with(a: &str, b: &str, context: usize, max_lines: usize, deadline: Option<Duration>) -> String {
    // A last line without its newline is the same line as with it.
    let with_nl =
        |s: &str| -> String { if s.is_empty() || s.ends_with('\n') { s.to_string() } else { format!("{s}\n") } };
    let (a, b): (Cow<str>, Cow<str>) = (with_nl(a).into(), with_nl(b).into());
    // Patience anchors on the lines that occur once on each side (addresses,
    // names): a config's diff then costs about its length, where plain Myers
    // costs length x changes.
    let mut config = TextDiff::configure();
    config.algorithm(Algorithm::Patience);
    if let Some(d) = deadline {
        config.timeout(d);
    }
    let d = config.diff_lines(&*a, &*b);
    let (mut removed, mut added, mut shown, mut hidden) = (0usize, 0usize, 0usize, 0usize);
    let mut out = String::new();
    for (g, group) in d.grouped_ops(context).iter().enumerate() {
        if g > 0 && shown < max_lines {
            out.push_str("...\n");
        }
        for op in group {
            for change in d.iter_changes(op) {
                let sign = match change.tag() {
                    ChangeTag::Equal => ' ',
                    ChangeTag::Delete => {
                        removed += 1;
                        '-'
                    }
                    ChangeTag::Insert => {
                        added += 1;
                        '+'
                    }
                };
                if shown >= max_lines {
                    hidden += 1;
                    continue;
                }
                shown += 1;
                let line = change.value();
                let _ = writeln!(out, "{sign} {}", line.strip_suffix('\n').unwrap_or(line));
            }
        }
    }
    if removed + added == 0 {
        return String::new();
    }
    if hidden > 0 {
        let _ = writeln!(out, "... {hidden} more lines of the diff not shown");
    }
    let _ = writeln!(out, "({} removed, {} added)", plural(removed, "line"), plural(added, "line"));
    out
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_changes_with_context() {
        let a = "a\nb\nc\nd\ne\nf\ng\n";
        let b = "a\nb\nC\nd\ne\nf\ng\nh\n";
        assert_eq!(diff(a, b, 1), "  b\n- c\n+ C\n  d\n...\n  g\n+ h\n(1 line removed, 2 lines added)\n");
        assert_eq!(diff(a, a, 3), "");
        // A last line without its newline is the same line.
        assert_eq!(diff("a\nb", "a\nb\n", 3), "");
    }

    #[test]
    fn output_is_bounded_and_summed_up() {
        let a: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
        let b: String = (0..10_000).map(|i| format!("line {}\n", if i % 2 == 0 { i } else { i + 100_000 })).collect();
        let d = diff_with(&a, &b, 3, 100, None);
        assert_eq!(d.lines().count(), 100 + 2, "{d}");
        assert!(
            d.ends_with("... 14900 more lines of the diff not shown\n(5000 lines removed, 5000 lines added)\n"),
            "{d}"
        );
    }

    #[test]
    fn a_large_config_is_diffed_in_linear_memory() {
        // 20,000 lines each side, one in ten changed: an LCS table would be
        // 20,000 x 20,000 cells (1.6 GB); this needs a few MB.
        let a: String = (0..20_000)
            .map(|i| format!("    real_server 10.{}.{}.{} 80\n", i / 65536, i / 256 % 256, i % 256))
            .collect();
        let b = a.replace("0 80\n", "0 8080\n");
        let changed = a.lines().filter(|l| l.ends_with("0 80")).count();
        assert!(changed > 2000);
        let d = diff_with(&a, &b, 3, MAX_LINES, None);
        let summary = format!("({changed} lines removed, {changed} lines added)\n");
        assert!(d.ends_with(&summary), "{}", &d[d.len() - 200..]);
    }
}
