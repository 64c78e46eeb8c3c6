//! The console, off PID 1's event loop.
//!
//! PID 1's loop pets the watchdog and keeps the children's heartbeats; it
//! must never wait for the console. So:
//! - everything written to the console (log lines, the shell's output) goes
//!   into one bounded queue that a writer thread drains: a serial line that
//!   nobody reads fills the queue, and what does not fit is dropped and
//!   counted, never waited for;
//! - the writer knows what the shell's line shows (prompt and typed text):
//!   each piece of the shell's output carries the line it leaves on the
//!   terminal, so a log line that comes between two of them clears exactly
//!   that line, prints itself and draws the line again, and one that comes
//!   while a command prints waits until it is done. Typed text and a
//!   command's output are never split by a log line, whatever the threads'
//!   timing;
//! - the shell runs on a thread of its own, fed by a reader thread: Tab,
//!   `compare`, `show config`, `export`, a pasted keepalived.conf and
//!   validation cost the shell's time, not the loop's. What only the loop
//!   can do (commit, the history on flash, status, a power action) the shell
//!   asks for with a typed [`Request`] and waits for the answer.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};
use vigil_config::Config;
use vigil_shell::session::{Power, Shell, System};

/// Which stream a chunk of output belongs to (the same console device on
/// an appliance; a pipe each in host mode and in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

/// Output waiting for the console: at most this much (a serial line at
/// 115,200 baud takes 23 s to send it).
const QUEUE_BYTES: usize = 256 << 10;

/// What the shell's line is, as the writer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// The shell waits for keys; this is on the terminal's current line
    /// (prompt and typed text): a log line clears it and draws it again.
    Shown(String),
    /// The shell is printing (a command runs): log lines wait until it is
    /// done, so they never land inside a command's output.
    Busy,
    /// No shell: log lines go out as they come.
    Gone,
}

/// Log lines held while the shell prints: at most this much, this long
/// (past either, they go out at once).
const HELD_BYTES: usize = 64 << 10;
const HOLD: Duration = Duration::from_millis(500);

/// One piece of console output.
enum Item {
    /// Written as it is; `line`: what the shell's line is after it.
    Out { to: Stream, bytes: Vec<u8>, line: Option<Line>, lead: bool },
    /// A log line: around the shell's line, if it has one on the terminal.
    Log(Vec<u8>),
}

struct Queue {
    chunks: VecDeque<Item>,
    bytes: usize,
    /// Bytes dropped since the writer last said so.
    dropped: u64,
    /// The writer is writing (flush waits for it too).
    busy: bool,
    started: bool,
}

static QUEUE: Mutex<Queue> =
    Mutex::new(Queue { chunks: VecDeque::new(), bytes: 0, dropped: 0, busy: false, started: false });
static READY: Condvar = Condvar::new();
static DRAINED: Condvar = Condvar::new();
/// Signalled as the writer takes chunks: there is room again.
static ROOM: Condvar = Condvar::new();

/// Queues `bytes` for the console; never blocks on the console itself.
/// What does not fit is dropped, and the writer says how much when it can.
/// For log lines and anything written from PID 1's loop.
pub fn write(to: Stream, bytes: &[u8]) {
    write_within(to, bytes, Duration::ZERO, None);
}

/// Queues a log line (never waits): the writer clears the shell's line
/// first and draws it again after.
pub fn log_line(bytes: &[u8]) {
    push(Item::Log(bytes.to_vec()), Duration::ZERO);
}

/// How long the shell waits for room in the queue before it drops the rest
/// of an answer: a console that is read gets all of `show config`; one that
/// nobody reads holds up only the shell, and only this long at a time.
const SHELL_PATIENCE: Duration = Duration::from_secs(10);

/// Chunks of a long answer: the queue takes them as there is room.
const CHUNK: usize = 16 << 10;

/// Queues `bytes`, waiting for room up to `patience` without progress (the
/// shell's thread may wait; PID 1's loop never does). `line`: what the
/// shell's line shows once they are written (the chunks before the last
/// leave the shell printing).
fn write_within(to: Stream, bytes: &[u8], patience: Duration, line: Option<Line>) {
    let n = bytes.len().div_ceil(CHUNK).max(1);
    // The end of a shell's turn: held log lines go out before its output.
    let turn_end = matches!(line, Some(Line::Shown(_) | Line::Gone));
    for (i, chunk) in bytes.chunks(CHUNK).enumerate() {
        let after = if i + 1 == n { line.clone() } else { line.as_ref().map(|_| Line::Busy) };
        let lead = turn_end && i == 0;
        if !push(Item::Out { to, bytes: chunk.to_vec(), line: after, lead }, patience) {
            // No room in time: the rest is dropped, and counted; the line
            // is what the shell shows next all the same.
            let rest = bytes.len() - i * CHUNK;
            QUEUE.lock().unwrap_or_else(|p| p.into_inner()).dropped += rest as u64;
            if let Some(l) = line {
                push(Item::Out { to, bytes: Vec::new(), line: Some(l), lead: false }, Duration::ZERO);
            }
            return;
        }
    }
    if bytes.is_empty()
        && let Some(l) = line
    {
        push(Item::Out { to, bytes: Vec::new(), line: Some(l), lead: false }, Duration::ZERO);
    }
}

impl Item {
    fn len(&self) -> usize {
        match self {
            Item::Out { bytes, line, .. } => {
                bytes.len()
                    + match line {
                        Some(Line::Shown(l)) => l.len().max(1),
                        // Counts as a byte: a change of state is never skipped as empty.
                        Some(_) => 1,
                        None => 0,
                    }
            }
            Item::Log(bytes) => bytes.len(),
        }
    }
}

/// One item into the queue; false if there was no room within `patience`.
fn push(item: Item, patience: Duration) -> bool {
    if item.len() == 0 {
        return true;
    }
    let mut q = QUEUE.lock().unwrap_or_else(|p| p.into_inner());
    if !q.started {
        q.started = true;
        if std::thread::Builder::new().name("console-out".into()).spawn(writer).is_err() {
            // No thread: write in line, as before there was a queue.
            q.started = false;
            drop(q);
            match &item {
                Item::Out { to, bytes, .. } => drop(direct(*to, bytes)),
                Item::Log(bytes) => drop(direct(Stream::Err, bytes)),
            }
            return true;
        }
    }
    let bytes = item.len();
    // The shell (which may wait) leaves a quarter of the queue to log lines
    // (which may not), so a long answer does not crowd them out.
    let room = if patience.is_zero() { QUEUE_BYTES } else { QUEUE_BYTES - QUEUE_BYTES / 4 };
    let deadline = Instant::now() + patience;
    while q.bytes + bytes > room {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        q = ROOM.wait_timeout(q, left).unwrap_or_else(|p| p.into_inner()).0;
    }
    q.bytes += bytes;
    q.chunks.push_back(item);
    READY.notify_one();
    true
}

/// Waits until what was queued has been written, at most `limit` (before a
/// power action, and before host mode exits).
pub fn flush(limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut q = QUEUE.lock().unwrap_or_else(|p| p.into_inner());
    while q.started && (!q.chunks.is_empty() || q.busy) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        q = DRAINED.wait_timeout(q, left).unwrap_or_else(|p| p.into_inner()).0;
    }
}

fn direct(to: Stream, bytes: &[u8]) -> std::io::Result<()> {
    match to {
        Stream::Out => {
            let mut o = std::io::stdout().lock();
            o.write_all(bytes)?;
            o.flush()
        }
        Stream::Err => std::io::stderr().lock().write_all(bytes),
    }
}

fn writer() {
    block_signals();
    // What the shell's line is; redrawn around log lines only on a terminal
    // (a log written to a file gets no prompts in it).
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut line = Line::Gone;
    let mut held: Vec<u8> = Vec::new();
    loop {
        let (item, dropped) = {
            let mut q = QUEUE.lock().unwrap_or_else(|p| p.into_inner());
            q.busy = false;
            let mut overdue = false;
            while q.chunks.is_empty() {
                DRAINED.notify_all();
                if held.is_empty() {
                    q = READY.wait(q).unwrap_or_else(|p| p.into_inner());
                } else {
                    // Held log lines wait for a command at most HOLD: one
                    // that never answers (a stalled loop) must not hide them.
                    let (g, t) = READY.wait_timeout(q, HOLD).unwrap_or_else(|p| p.into_inner());
                    q = g;
                    if t.timed_out() && q.chunks.is_empty() {
                        overdue = true;
                        break;
                    }
                }
            }
            if overdue {
                drop(q);
                let _ = direct(Stream::Err, &std::mem::take(&mut held));
                continue;
            }
            let Some(item) = q.chunks.pop_front() else { continue };
            q.bytes -= item.len();
            q.busy = true;
            ROOM.notify_all();
            (item, std::mem::take(&mut q.dropped))
        };
        if dropped > 0 {
            let note =
                format!("\r\n[console: {dropped} bytes of output were dropped: the console did not keep up]\r\n");
            let _ = direct(Stream::Err, note.as_bytes());
        }
        // A console that is gone (EIO on a hung-up line) loses its output;
        // nothing here can do better.
        match item {
            Item::Out { to, bytes, line: after, lead } => {
                if lead && !held.is_empty() {
                    // The cursor is at the start of a line (after the echo).
                    let _ = direct(Stream::Err, &std::mem::take(&mut held));
                }
                let _ = direct(to, &bytes);
                if let Some(l) = after {
                    line = if terminal { l } else { Line::Gone };
                    // Done printing: what waited goes out now.
                    if line != Line::Busy && !held.is_empty() {
                        log_around(&line, &std::mem::take(&mut held));
                    }
                }
            }
            Item::Log(bytes) => {
                // While a command has yet to print, its log lines (what the
                // command did) wait and go out just before its output; once
                // the output has begun they wait for the prompt.
                if line == Line::Busy && held.len() + bytes.len() <= HELD_BYTES {
                    held.extend_from_slice(&bytes);
                } else {
                    log_around(&line, &bytes);
                }
            }
        }
    }
}

/// Log text around the shell's line: cleared, the log, drawn again; one
/// write, so nothing comes between the clear and the redraw.
fn log_around(line: &Line, bytes: &[u8]) {
    match line {
        Line::Shown(l) => {
            let mut chunk = Vec::with_capacity(bytes.len() + l.len() + 4);
            chunk.extend_from_slice(b"\r\x1b[K");
            chunk.extend_from_slice(bytes);
            chunk.extend_from_slice(l.as_bytes());
            let _ = direct(Stream::Err, &chunk);
        }
        Line::Busy | Line::Gone => drop(direct(Stream::Err, bytes)),
    }
}

/// The console threads take no signals: PID 1's loop handles them all.
fn block_signals() {
    let _ = nix::sys::signal::SigSet::all().thread_block();
}

/// The shell's output for one turn (a chunk of keys, a timeout), queued
/// with the line it leaves on the terminal once the turn is done.
#[derive(Default)]
struct QueueOut(Vec<u8>);

impl embedded_io::ErrorType for QueueOut {
    type Error = std::io::Error;
}

impl embedded_io::Write for QueueOut {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    /// Mid-turn (a command is about to run): what is printed so far goes
    /// out now, the shell printing (after Enter: nothing to draw again).
    fn flush(&mut self) -> Result<(), Self::Error> {
        let bytes = std::mem::take(&mut self.0);
        write_within(Stream::Out, &bytes, SHELL_PATIENCE, Some(Line::Busy));
        Ok(())
    }
}

impl QueueOut {
    /// Queues the turn's output; `line`: the shell's line after it (None
    /// when the shell has stopped).
    fn send(&mut self, line: Option<String>) {
        let bytes = std::mem::take(&mut self.0);
        write_within(Stream::Out, &bytes, SHELL_PATIENCE, Some(line.map_or(Line::Gone, Line::Shown)));
    }
}

/// What the shell asks of PID 1's loop. Each carries where the answer goes.
pub enum Request {
    Commit {
        config: Box<Config>,
        unconfirmed: bool,
        reply: SyncSender<Result<u64, String>>,
    },
    History {
        reply: SyncSender<Vec<u64>>,
    },
    LoadGeneration {
        generation: u64,
        reply: SyncSender<Result<Config, String>>,
    },
    Status {
        topic: String,
        json: bool,
        reply: SyncSender<Option<String>>,
    },
    Debug {
        args: Vec<String>,
        reply: SyncSender<Option<String>>,
    },
    Update {
        command: vigil_shell::session::UpdateCommand,
        reply: SyncSender<Result<String, String>>,
    },
    /// Typed at the console and confirmed: the loop shuts down.
    Power(Power),
}

/// The shell's side of [`Request`]: the appliance, reached over the loop.
struct Remote {
    requests: tokio::sync::mpsc::UnboundedSender<Request>,
    topics: Vec<String>,
    /// The topics this thread renders itself, without the loop.
    off_loop: crate::status::OffLoop,
    salt: Box<dyn FnMut() -> [u8; 16] + Send>,
}

impl Remote {
    /// Sends a request and waits for the answer; `None` once the loop is
    /// gone (the appliance is shutting down).
    fn ask<T>(&self, make: impl FnOnce(SyncSender<T>) -> Request) -> Option<T> {
        let (tx, rx) = sync_channel(1);
        self.requests.send(make(tx)).ok()?;
        rx.recv().ok()
    }
}

const GONE: &str = "the appliance is shutting down";

impl System for Remote {
    fn commit(&mut self, config: &Config, unconfirmed: bool) -> Result<u64, String> {
        self.ask(|reply| Request::Commit { config: Box::new(config.clone()), unconfirmed, reply })
            .unwrap_or_else(|| Err(GONE.into()))
    }
    fn history(&mut self) -> Vec<u64> {
        self.ask(|reply| Request::History { reply }).unwrap_or_default()
    }
    fn load_generation(&mut self, generation: u64) -> Result<Config, String> {
        self.ask(|reply| Request::LoadGeneration { generation, reply }).unwrap_or_else(|| Err(GONE.into()))
    }
    fn status(&mut self, topic: &str, json: bool) -> Option<String> {
        if let Some(answer) = self.off_loop.get(topic, json) {
            return Some(answer);
        }
        self.ask(|reply| Request::Status { topic: topic.to_string(), json, reply }).flatten()
    }
    fn status_topics(&self) -> Vec<String> {
        self.topics.clone()
    }
    fn random_salt(&mut self) -> [u8; 16] {
        (self.salt)()
    }
    fn debug(&mut self, args: &[String]) -> Option<String> {
        self.ask(|reply| Request::Debug { args: args.to_vec(), reply }).flatten()
    }
    fn update(&mut self, command: &vigil_shell::session::UpdateCommand) -> Result<String, String> {
        self.ask(|reply| Request::Update { command: command.clone(), reply }).unwrap_or_else(|| Err(GONE.into()))
    }
}

/// Starts the shell on its own thread, reading the console on another.
/// Requests arrive on the returned receiver; PID 1's loop answers them.
pub fn start(
    running: std::sync::Arc<Config>,
    topics: Vec<String>,
    off_loop: crate::status::OffLoop,
    salt: Box<dyn FnMut() -> [u8; 16] + Send>,
) -> std::io::Result<tokio::sync::mpsc::UnboundedReceiver<Request>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    // Input: a few chunks may wait; past that the reader waits, and the
    // terminal's own buffer holds (or drops) the rest. Never the loop.
    let (keys_tx, keys) = sync_channel::<Vec<u8>>(16);
    std::thread::Builder::new().name("console-in".into()).spawn(move || {
        block_signals();
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 512];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if keys_tx.send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!("console read failed: {e}; console closed");
                    return;
                }
            }
        }
    })?;
    let remote = Remote { requests: tx, topics, off_loop, salt };
    let shell = Shell::new(remote, running);
    std::thread::Builder::new().name("console".into()).spawn(move || {
        block_signals();
        run_shell(shell, keys)
    })?;
    Ok(rx)
}

fn run_shell(mut shell: Shell<Remote>, keys: Receiver<Vec<u8>>) {
    let mut out = QueueOut::default();
    let _ = shell.start(&mut out);
    out.send(Some(shell.redraw()));
    let mut open = true;
    loop {
        let deadline = shell.poll_timeout();
        let got = match (open, deadline) {
            (true, Some(d)) => keys.recv_timeout(d.saturating_duration_since(Instant::now())),
            (true, None) => keys.recv().map_err(|_| RecvTimeoutError::Disconnected),
            (false, Some(d)) => {
                std::thread::sleep(d.saturating_duration_since(Instant::now()));
                Err(RecvTimeoutError::Timeout)
            }
            // No console and nothing to wait for: the shell's work is done.
            (false, None) => return,
        };
        match got {
            Ok(bytes) => {
                let _ = shell.feed(Instant::now(), &bytes, &mut out);
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = shell.handle_timeout(Instant::now(), &mut out);
            }
            Err(RecvTimeoutError::Disconnected) => open = false,
        }
        if let Some(p) = shell.take_power() {
            out.send(None);
            let _ = shell.system.requests.send(Request::Power(p));
            return;
        }
        out.send(open.then(|| shell.redraw()));
    }
}
