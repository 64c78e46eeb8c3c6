//! The console as a terminal: raw input (the shell's line editor handles
//! every key, and Ctrl-C reaches it as a byte rather than as SIGINT to
//! PID 1), output post-processing kept so log lines' `\n` still start a
//! new line.

use nix::sys::termios::{self, InputFlags, LocalFlags, SetArg};
use tracing::warn;

/// Puts stdin in raw mode if it is a terminal. Returns whether it is one.
pub fn raw_console() -> bool {
    let stdin = std::io::stdin();
    let Ok(mut t) = termios::tcgetattr(&stdin) else {
        return false; // not a terminal: a pipe in host mode, or tests
    };
    t.local_flags.remove(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG | LocalFlags::IEXTEN);
    t.input_flags.remove(InputFlags::ICRNL | InputFlags::IXON | InputFlags::INLCR | InputFlags::IGNCR);
    t.control_chars[termios::SpecialCharacterIndices::VMIN as usize] = 1;
    t.control_chars[termios::SpecialCharacterIndices::VTIME as usize] = 0;
    if let Err(e) = termios::tcsetattr(&stdin, SetArg::TCSANOW, &t) {
        warn!("console: cannot set raw mode: {e}; line editing will be limited");
    }
    true
}
