//! A line editor, sans-IO: bytes from the terminal go in, edit events and the
//! bytes that redraw the line come out. VT100/ANSI: arrows, Home/End,
//! Delete, Backspace, Ctrl-A/E/B/F/U/K/W/C/D/L, Tab, history.
//!
//! Every key costs a bounded amount, whatever came before: a line holds at
//! most [`MAX_LINE`] characters (more are dropped and Enter reports it), an
//! insert or delete mid-line is drawn with the terminal's insert/delete
//! character sequences (ICH/DCH) instead of redrawing the rest of the line,
//! and escape sequences are parsed as ECMA-48 says (CSI with parameters) with
//! bounded state; a lone ESC is dropped, never the key after it, and an
//! escape sequence left unfinished for [`ESC_TIMEOUT`] is abandoned (the
//! caller holds the clock: [`Editor::in_escape`], [`Editor::abandon_escape`]).

/// What a key did, for the shell to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Enter: a complete line (already added to history if not empty).
    Line(String),
    /// Tab: the shell completes the text before the cursor.
    Complete,
    /// `?`: help for the text before the cursor (the `?` is not inserted).
    Help,
    /// Ctrl-C: the line was abandoned.
    Interrupt,
    /// Ctrl-D on an empty line.
    Eof,
    /// Enter on a line that was longer than [`MAX_LINE`]: it is not run;
    /// `dropped` characters past the limit were not kept.
    Overlong { dropped: usize },
}

/// The longest line, in characters (the same bound as the config parser's).
pub const MAX_LINE: usize = 4096;

/// A terminal sends an escape sequence in one write; an ESC that nothing
/// follows within this was the Escape key (readline's `keyseq-timeout`).
pub const ESC_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// An escape sequence being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    None,
    /// ESC seen.
    Start,
    /// `ESC [`: parameters (at most two numbers) until a final byte.
    Csi {
        params: [u16; 2],
        n: u8,
    },
    /// `ESC O`: one final byte (SS3: keypad arrows, Home, End).
    Ss3,
}

pub struct Editor {
    buf: Vec<char>,
    cursor: usize,
    history: Vec<String>,
    /// Position while browsing history; None: editing a new line.
    browsing: Option<usize>,
    /// The new line being edited when history browsing started.
    stash: Vec<char>,
    esc: Esc,
    /// Bytes to send to the terminal.
    out: Vec<u8>,
    prompt: String,
    /// Echo typed characters (off while reading a password).
    pub echo: bool,
    /// Whether the previous byte was CR (so a following LF is not a 2nd Enter).
    last_cr: bool,
    utf8: Vec<u8>,
    /// Characters typed past [`MAX_LINE`] on this line.
    dropped: usize,
}

const HISTORY: usize = 100;

impl Editor {
    pub fn new(prompt: &str) -> Editor {
        Editor {
            buf: Vec::new(),
            cursor: 0,
            history: Vec::new(),
            browsing: None,
            stash: Vec::new(),
            esc: Esc::None,
            out: Vec::new(),
            prompt: prompt.to_string(),
            echo: true,
            last_cr: false,
            utf8: Vec::new(),
            dropped: 0,
        }
    }

    pub fn set_prompt(&mut self, p: &str) {
        self.prompt = p.to_string();
    }

    /// Prints the prompt (and the line so far) on a fresh line.
    pub fn show_prompt(&mut self) {
        let p = self.prompt.clone();
        self.out.extend_from_slice(p.as_bytes());
        if self.echo {
            let s: String = self.buf.iter().collect();
            self.out.extend_from_slice(s.as_bytes());
            self.move_left_n(self.buf.len() - self.cursor);
        }
    }

    /// What the terminal's current line shows: the prompt and the line so
    /// far (the line hidden while echo is off), with the cursor moved back
    /// to where it is. Something printed between two keystrokes (a log
    /// line) clears the line, prints itself, and prints this again.
    pub fn redraw(&self) -> String {
        let mut s = self.prompt.clone();
        if self.echo {
            s.extend(self.buf.iter());
            let back = self.buf.len() - self.cursor;
            if back > 0 {
                s.push_str(&format!("\x1b[{back}D"));
            }
        }
        s
    }

    /// Bytes to write to the terminal, drained.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    pub fn line(&self) -> String {
        self.buf.iter().collect()
    }

    /// The text before the cursor.
    pub fn before_cursor(&self) -> String {
        self.buf[..self.cursor].iter().collect()
    }

    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// Whether an escape sequence is half read (the caller abandons it
    /// after [`ESC_TIMEOUT`] without a byte).
    pub fn in_escape(&self) -> bool {
        self.esc != Esc::None
    }

    /// The terminal went quiet mid-sequence: what was read of it is
    /// dropped, and the next byte is a key of its own.
    pub fn abandon_escape(&mut self) {
        self.esc = Esc::None;
    }

    /// Inserts text at the cursor (completion).
    pub fn insert(&mut self, s: &str) {
        for c in s.chars() {
            self.insert_char(c);
        }
    }

    /// Feeds one byte; returns an event when the byte completes one.
    pub fn feed(&mut self, b: u8) -> Option<Event> {
        let was_cr = std::mem::replace(&mut self.last_cr, false);
        match self.esc {
            Esc::None => {}
            Esc::Start => {
                self.esc = match b {
                    b'[' => Esc::Csi { params: [0; 2], n: 0 },
                    b'O' => Esc::Ss3,
                    // A lone ESC (or Alt-key): dropped, and this byte is a
                    // key of its own (ESC then Enter is still Enter).
                    _ => Esc::None,
                };
                if self.esc != Esc::None {
                    return None;
                }
            }
            Esc::Ss3 => {
                self.esc = Esc::None;
                self.final_byte(b, [0; 2]);
                return None;
            }
            Esc::Csi { mut params, mut n } => {
                match b {
                    b'0'..=b'9' => {
                        let i = usize::from(n.min(1));
                        params[i] = params[i].saturating_mul(10).saturating_add(u16::from(b - b'0'));
                        n = n.max(1);
                        self.esc = Esc::Csi { params, n };
                    }
                    // Parameter separator; a third parameter is read and ignored.
                    b';' => self.esc = Esc::Csi { params, n: n.saturating_add(1).max(2) },
                    // Other parameter and intermediate bytes: ignored.
                    0x20..=0x3f => {}
                    0x40..=0x7e => {
                        self.esc = Esc::None;
                        self.final_byte(b, params);
                    }
                    // Not part of a sequence: abandon it, and take the byte
                    // as a key of its own.
                    _ => self.esc = Esc::None,
                }
                if self.esc != Esc::None || (0x20..=0x7e).contains(&b) {
                    return None;
                }
            }
        }
        match b {
            0x1b => self.esc = Esc::Start,
            b'\r' | b'\n' => {
                if b == b'\n' && was_cr {
                    return None;
                }
                self.last_cr = b == b'\r';
                return Some(self.enter());
            }
            0x01 => self.home(),
            0x05 => self.end(),
            0x02 => self.left(),
            0x06 => self.right(),
            0x7f | 0x08 => self.backspace(),
            0x15 => self.kill_to_start(),
            0x0b => self.kill_to_end(),
            0x17 => self.kill_word(),
            0x0c => {
                self.out.extend_from_slice(b"\x1b[2J\x1b[H");
                self.show_prompt();
            }
            0x03 => {
                self.out.extend_from_slice(b"^C\r\n");
                self.buf.clear();
                self.cursor = 0;
                self.browsing = None;
                self.dropped = 0;
                return Some(Event::Interrupt);
            }
            0x04 => {
                if self.buf.is_empty() {
                    return Some(Event::Eof);
                }
                self.delete();
            }
            b'\t' => return Some(Event::Complete),
            b'?' if self.echo => return Some(Event::Help),
            0x20..=0x7e => self.insert_char(b as char),
            0x80..=0xff => {
                // UTF-8: collect a whole character before inserting it.
                self.utf8.push(b);
                if let Ok(s) = std::str::from_utf8(&self.utf8) {
                    let s = s.to_string();
                    self.utf8.clear();
                    self.insert(&s);
                } else if self.utf8.len() >= 4 {
                    self.utf8.clear();
                }
            }
            _ => {}
        }
        None
    }

    /// The end of a CSI or SS3 sequence: arrows, Home/End, Delete, and with
    /// Ctrl (parameter 5) the arrows move by words.
    fn final_byte(&mut self, b: u8, params: [u16; 2]) {
        let ctrl = params[1] == 5 || params[1] == 3;
        match b {
            b'A' => self.history_prev(),
            b'B' => self.history_next(),
            b'C' if ctrl => self.word_right(),
            b'D' if ctrl => self.word_left(),
            b'C' => self.right(),
            b'D' => self.left(),
            b'H' => self.home(),
            b'F' => self.end(),
            b'~' => match params[0] {
                1 | 7 => self.home(),
                4 | 8 => self.end(),
                3 => self.delete(),
                _ => {}
            },
            _ => {}
        }
    }

    fn word_left(&mut self) {
        while self.cursor > 0 && self.buf[self.cursor - 1] == ' ' {
            self.left();
        }
        while self.cursor > 0 && self.buf[self.cursor - 1] != ' ' {
            self.left();
        }
    }

    fn word_right(&mut self) {
        while self.cursor < self.buf.len() && self.buf[self.cursor] == ' ' {
            self.right();
        }
        while self.cursor < self.buf.len() && self.buf[self.cursor] != ' ' {
            self.right();
        }
    }

    fn enter(&mut self) -> Event {
        self.out.extend_from_slice(b"\r\n");
        let dropped = std::mem::take(&mut self.dropped);
        if dropped > 0 {
            self.buf.clear();
            self.cursor = 0;
            self.browsing = None;
            return Event::Overlong { dropped };
        }
        let line = self.line();
        self.buf.clear();
        self.cursor = 0;
        self.browsing = None;
        if self.echo && !line.trim().is_empty() && self.history.last() != Some(&line) {
            if self.history.len() == HISTORY {
                self.history.remove(0);
            }
            self.history.push(line.clone());
        }
        Event::Line(line)
    }

    fn insert_char(&mut self, c: char) {
        if self.buf.len() >= MAX_LINE {
            // Said once per line, with a bell; Enter reports it.
            if self.dropped == 0 && self.echo {
                self.out.push(0x07);
            }
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        let at_end = self.cursor == self.buf.len();
        self.buf.insert(self.cursor, c);
        self.cursor += 1;
        if !self.echo {
            return;
        }
        if !at_end {
            // ICH: open one cell at the cursor, shifting the rest right.
            self.out.extend_from_slice(b"\x1b[@");
        }
        let mut b = [0u8; 4];
        self.out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    }

    fn move_left_n(&mut self, n: usize) {
        if n > 0 {
            self.out.extend_from_slice(format!("\x1b[{n}D").as_bytes());
        }
    }

    fn left(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            if self.echo {
                self.out.extend_from_slice(b"\x1b[D");
            }
        }
    }

    fn right(&mut self) {
        if self.cursor < self.buf.len() {
            self.cursor += 1;
            if self.echo {
                self.out.extend_from_slice(b"\x1b[C");
            }
        }
    }

    fn home(&mut self) {
        if self.echo {
            self.move_left_n(self.cursor);
        }
        self.cursor = 0;
    }

    fn end(&mut self) {
        let n = self.buf.len() - self.cursor;
        if n > 0 && self.echo {
            self.out.extend_from_slice(format!("\x1b[{n}C").as_bytes());
        }
        self.cursor = self.buf.len();
    }

    /// Redraws from the cursor to the end of the line.
    fn redraw_tail(&mut self) {
        if !self.echo {
            return;
        }
        let tail: String = self.buf[self.cursor..].iter().collect();
        self.out.extend_from_slice(tail.as_bytes());
        self.out.extend_from_slice(b"\x1b[K");
        self.move_left_n(self.buf.len() - self.cursor);
    }

    fn backspace(&mut self) {
        if self.cursor == 0 {
            return;
        }
        self.cursor -= 1;
        self.buf.remove(self.cursor);
        if self.echo {
            // Back one, then DCH: the rest of the line moves left by itself.
            self.out.extend_from_slice(b"\x08\x1b[P");
        }
    }

    fn delete(&mut self) {
        if self.cursor < self.buf.len() {
            self.buf.remove(self.cursor);
            if self.echo {
                self.out.extend_from_slice(b"\x1b[P");
            }
        }
    }

    fn kill_to_start(&mut self) {
        let n = self.cursor;
        self.buf.drain(..n);
        if self.echo {
            self.move_left_n(n);
        }
        self.cursor = 0;
        self.redraw_tail();
    }

    fn kill_to_end(&mut self) {
        self.buf.truncate(self.cursor);
        self.redraw_tail();
    }

    fn kill_word(&mut self) {
        let mut start = self.cursor;
        while start > 0 && self.buf[start - 1] == ' ' {
            start -= 1;
        }
        while start > 0 && self.buf[start - 1] != ' ' {
            start -= 1;
        }
        let n = self.cursor - start;
        self.buf.drain(start..self.cursor);
        if self.echo {
            self.move_left_n(n);
        }
        self.cursor = start;
        self.redraw_tail();
    }

    fn replace_line(&mut self, chars: Vec<char>) {
        if self.echo {
            self.move_left_n(self.cursor);
            self.out.extend_from_slice(b"\x1b[K");
        }
        self.buf = chars;
        self.cursor = self.buf.len();
        if self.echo {
            let s: String = self.buf.iter().collect();
            self.out.extend_from_slice(s.as_bytes());
        }
    }

    fn history_prev(&mut self) {
        let i = match self.browsing {
            None if self.history.is_empty() => return,
            None => {
                self.stash = self.buf.clone();
                self.history.len() - 1
            }
            Some(0) => return,
            Some(i) => i - 1,
        };
        self.browsing = Some(i);
        self.replace_line(self.history[i].chars().collect());
    }

    fn history_next(&mut self) {
        let Some(i) = self.browsing else { return };
        if i + 1 < self.history.len() {
            self.browsing = Some(i + 1);
            self.replace_line(self.history[i + 1].chars().collect());
        } else {
            self.browsing = None;
            let stash = std::mem::take(&mut self.stash);
            self.replace_line(stash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(e: &mut Editor, bytes: &[u8]) -> Vec<Event> {
        bytes.iter().filter_map(|&b| e.feed(b)).collect()
    }

    #[test]
    fn typing_and_enter() {
        let mut e = Editor::new("> ");
        assert_eq!(feed(&mut e, b"show system\r\n"), [Event::Line("show system".into())]);
        assert_eq!(e.history(), ["show system"]);
    }

    #[test]
    fn cursor_movement_and_editing() {
        let mut e = Editor::new("> ");
        // "sho" + Left Left + "x" -> "sxho"; Home, Ctrl-K: ""; "abc def" + Ctrl-W -> "abc "
        feed(&mut e, b"sho\x1b[D\x1b[Dx");
        assert_eq!(e.line(), "sxho");
        feed(&mut e, b"\x01\x0b");
        assert_eq!(e.line(), "");
        feed(&mut e, b"abc def\x17");
        assert_eq!(e.line(), "abc ");
        // Backspace, Ctrl-A, Delete (ESC [3~), End, Ctrl-U
        feed(&mut e, b"\x7f\x01\x1b[3~");
        assert_eq!(e.line(), "bc");
        feed(&mut e, b"\x1b[F!");
        assert_eq!(e.line(), "bc!");
        feed(&mut e, b"\x15");
        assert_eq!(e.line(), "");
    }

    #[test]
    fn history_browsing_keeps_the_new_line() {
        let mut e = Editor::new("> ");
        feed(&mut e, b"one\rtwo\rnew");
        feed(&mut e, b"\x1b[A");
        assert_eq!(e.line(), "two");
        feed(&mut e, b"\x1b[A\x1b[A");
        assert_eq!(e.line(), "one");
        feed(&mut e, b"\x1b[B\x1b[B");
        assert_eq!(e.line(), "new");
    }

    #[test]
    fn control_events() {
        let mut e = Editor::new("> ");
        assert_eq!(feed(&mut e, b"abc\x03"), [Event::Interrupt]);
        assert_eq!(e.line(), "");
        assert_eq!(feed(&mut e, b"\x04"), [Event::Eof]);
        assert_eq!(feed(&mut e, b"sh\t"), [Event::Complete]);
        assert_eq!(feed(&mut e, b" ?"), [Event::Help]);
        assert_eq!(e.before_cursor(), "sh ");
    }

    #[test]
    fn escape_sequences_with_parameters_and_a_lone_escape() {
        let mut e = Editor::new("> ");
        feed(&mut e, b"set vrrp_instance VI_1");
        // Ctrl-Left twice (CSI 1;5D), Ctrl-Right once: by words, nothing inserted.
        feed(&mut e, b"\x1b[1;5D\x1b[1;5D");
        assert_eq!(e.before_cursor(), "set ");
        feed(&mut e, b"\x1b[1;5C");
        assert_eq!(e.before_cursor(), "set vrrp_instance");
        assert_eq!(e.line(), "set vrrp_instance VI_1");
        // SS3 Home and End (keypad mode), and an unknown sequence with many
        // parameters (a colour), all without a trace in the line.
        feed(&mut e, b"\x1bOH");
        assert_eq!(e.before_cursor(), "");
        feed(&mut e, b"\x1bOF\x1b[1;2;3;4;5;6;7m\x1b[?25h");
        assert_eq!(e.line(), "set vrrp_instance VI_1");
        assert_eq!(e.before_cursor(), "set vrrp_instance VI_1");
        // A lone ESC does not swallow the key after it.
        assert_eq!(feed(&mut e, b"\x1b\r"), [Event::Line("set vrrp_instance VI_1".into())]);
        assert_eq!(feed(&mut e, b"ab\x1bc\r"), [Event::Line("abc".into())]);
        // A sequence broken by a control key: the key still counts.
        assert_eq!(feed(&mut e, b"x\x1b[1\r"), [Event::Line("x".into())]);
        // Huge parameters saturate.
        feed(&mut e, b"\x1b[99999999999999999999;99999999999C");
        assert_eq!(e.line(), "");
    }

    #[test]
    fn editing_mid_line_costs_the_same_however_long_the_line() {
        let mut e = Editor::new("> ");
        feed(&mut e, "x".repeat(4000).as_bytes());
        feed(&mut e, b"\x01");
        e.take_output();
        // Insert, Backspace and Delete at the start of a 4,000-character line:
        // a few bytes each (ICH/DCH), not the rest of the line again.
        feed(&mut e, b"a");
        assert_eq!(e.take_output(), b"\x1b[@a");
        feed(&mut e, b"\x7f");
        assert_eq!(e.take_output(), b"\x08\x1b[P");
        feed(&mut e, b"\x1b[3~");
        assert_eq!(e.take_output(), b"\x1b[P");
        assert_eq!(e.line().len(), 3999);
        // At the end of the line a key is just its character.
        feed(&mut e, b"\x05");
        e.take_output();
        feed(&mut e, "é".as_bytes());
        assert_eq!(e.take_output(), "é".as_bytes());
    }

    #[test]
    fn a_line_past_the_limit_is_reported_not_run() {
        let mut e = Editor::new("> ");
        e.take_output();
        let events = feed(&mut e, "y".repeat(MAX_LINE + 904).as_bytes());
        assert!(events.is_empty());
        // The characters past the limit cost one bell, said once.
        let out = e.take_output();
        assert_eq!(out.len(), MAX_LINE + 1);
        assert_eq!(out.iter().filter(|&&b| b == 0x07).count(), 1);
        assert_eq!(feed(&mut e, b"\r"), [Event::Overlong { dropped: 904 }]);
        assert!(e.history().is_empty());
        // The next line is whole again.
        assert_eq!(feed(&mut e, b"ok\r"), [Event::Line("ok".into())]);
        // Ctrl-C forgets the overflow.
        feed(&mut e, "z".repeat(MAX_LINE + 1).as_bytes());
        assert_eq!(feed(&mut e, b"\x03"), [Event::Interrupt]);
        assert_eq!(feed(&mut e, b"a\r"), [Event::Line("a".into())]);
    }

    #[test]
    fn passwords_are_not_echoed_or_kept() {
        let mut e = Editor::new("Password: ");
        e.echo = false;
        e.take_output();
        assert_eq!(feed(&mut e, b"s3cr?t\r"), [Event::Line("s3cr?t".into())]);
        assert_eq!(e.take_output(), b"\r\n");
        assert!(e.history().is_empty());
    }
}
