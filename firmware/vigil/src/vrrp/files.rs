//! `vrrp_track_file`: the files instances and sync groups track, read
//! twice a second on a blocking thread (the VRRP loop never waits for a
//! disk); a changed number goes to the router, which applies it as
//! keepalived does ([`vigil_vrrp::script::file_contribution`]). A file
//! that is missing or holds no number counts as 0, as in keepalived.

use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{info, warn};
use vigil_config::{Config, TrackFile};

/// How often the files are read.
const EVERY: Duration = Duration::from_millis(500);

/// A file's new number, for the router.
pub struct Changed {
    pub name: String,
    pub value: i32,
}

pub struct Files {
    watched: Vec<TrackFile>,
    task: Option<tokio::task::JoinHandle<()>>,
    tx: mpsc::Sender<Changed>,
}

impl Drop for Files {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// The number a file holds (keepalived's strtol: leading blanks, a sign,
/// digits; anything else or nothing is 0), within -254..=254.
pub fn number(text: &str) -> i32 {
    let t = text.trim_start();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    let n: i64 = digits[..end].chars().take(12).collect::<String>().parse().unwrap_or(0);
    (sign * n).clamp(-254, 254) as i32
}

/// `init_file [VALUE] [overwrite]`: writes VALUE to the file if it is
/// not there (or always, with `overwrite`), as the VRRP or the checkers
/// process starts tracking it.
pub fn init(f: &TrackFile) {
    if let Some((value, overwrite)) = f.init
        && (overwrite || !std::path::Path::new(f.file.as_str()).exists())
    {
        match std::fs::write(f.file.as_str(), format!("{value}\n")) {
            Ok(()) => info!("vrrp_track_file {}: {} set to {value}", f.name, f.file),
            Err(e) => warn!("vrrp_track_file {}: writing {}: {e}", f.name, f.file),
        }
    }
}

fn read(path: &str) -> i32 {
    use std::io::Read;
    let mut buf = Vec::new();
    match std::fs::File::open(path) {
        Ok(f) => {
            let _ = f.take(128).read_to_end(&mut buf);
            number(&String::from_utf8_lossy(&buf))
        }
        Err(_) => 0,
    }
}

impl Files {
    pub fn new() -> (Files, mpsc::Receiver<Changed>) {
        let (tx, rx) = mpsc::channel(64);
        (Files { watched: Vec::new(), task: None, tx }, rx)
    }

    /// Reads the files in `tracked` (names) as `config` defines them,
    /// creating those with `init_file`; returns each with its number now,
    /// for the router before it starts the instances.
    pub fn sync(&mut self, config: &Config, tracked: &[String]) -> Vec<(String, i32)> {
        let wanted: Vec<TrackFile> =
            config.track_files.iter().filter(|t| tracked.iter().any(|n| n == t.name.as_str())).cloned().collect();
        if let Some(t) = self.task.take() {
            t.abort();
        }
        let mut now = Vec::new();
        let mut first = Vec::new();
        for f in &wanted {
            init(f);
            let value = read(&f.file);
            first.push(value);
            now.push((f.name.to_string(), value));
        }
        // Files tracked no more count as 0 again.
        for old in self.watched.iter().filter(|o| !wanted.iter().any(|w| w.name == o.name)) {
            now.push((old.name.to_string(), 0));
        }
        self.watched = wanted.clone();
        if !wanted.is_empty() {
            // The watcher starts from what the router was just given.
            self.task = Some(tokio::spawn(watch(wanted, first, self.tx.clone())));
        }
        now
    }
}

async fn watch(files: Vec<TrackFile>, mut last: Vec<i32>, tx: mpsc::Sender<Changed>) {
    loop {
        tokio::time::sleep(EVERY).await;
        let paths: Vec<String> = files.iter().map(|f| f.file.to_string()).collect();
        let Ok(values) = tokio::task::spawn_blocking(move || paths.iter().map(|p| read(p)).collect::<Vec<i32>>()).await
        else {
            return;
        };
        for (i, v) in values.into_iter().enumerate() {
            if v != last[i] {
                info!("vrrp_track_file {}: {} -> {v}", files[i].name, last[i]);
                last[i] = v;
                if tx.send(Changed { name: files[i].name.to_string(), value: v }).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_as_strtol_reads_them() {
        assert_eq!(number("3\n"), 3);
        assert_eq!(number("  -20 apples"), -20);
        assert_eq!(number("+7"), 7);
        assert_eq!(number(""), 0);
        assert_eq!(number("maintenance"), 0);
        assert_eq!(number("99999999999999999999"), 254);
        assert_eq!(number("-1000"), -254);
    }
}
