//! Status for `show TOPIC [json]`: a registry each subsystem adds its
//! topics to, without touching the shell. A topic with a typed report
//! answers `json` with it; the others with their lines.
//!
//! Two kinds of topic. Most need nothing of PID 1's loop (a child's latest
//! report, the kernel's IPVS table, /proc): the shell's thread renders them
//! itself, so a `show checkers json` of 37,298 checks (4 MB, 0.3 s of CPU)
//! or a netlink dump of the IPVS table never holds up the loop that pets
//! the watchdog. The few that read the loop's own state (the boot slots,
//! the supervised children) are asked of the loop, and are cheap.

use std::collections::BTreeMap;
use std::sync::Arc;

type OnLoop = Box<dyn Fn() -> String>;
type Shared = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Default)]
pub struct Registry {
    topics: BTreeMap<&'static str, OnLoop>,
    json: BTreeMap<&'static str, OnLoop>,
    off_loop: OffLoop,
}

/// The topics the shell's thread renders itself.
#[derive(Default, Clone)]
pub struct OffLoop {
    topics: BTreeMap<&'static str, Shared>,
    json: BTreeMap<&'static str, Shared>,
}

impl OffLoop {
    /// `show topic [json]`, if it is one of these; None when the loop
    /// must be asked.
    pub fn get(&self, topic: &str, json: bool) -> Option<String> {
        if json && let Some(j) = self.json.get(topic) {
            return Some(j());
        }
        let text = self.topics.get(topic)?();
        Some(if json { lines_json(&text) } else { text })
    }
}

impl Registry {
    /// A topic that reads the loop's own state: rendered on the loop, so
    /// keep it cheap.
    pub fn add(&mut self, topic: &'static str, report: impl Fn() -> String + 'static) {
        self.topics.insert(topic, Box::new(report));
    }

    /// `topic`'s JSON form, where it has one of its own (on the loop).
    pub fn add_json(&mut self, topic: &'static str, report: impl Fn() -> String + 'static) {
        self.json.insert(topic, Box::new(report));
    }

    /// A topic the shell's thread renders without the loop.
    pub fn add_off_loop(&mut self, topic: &'static str, report: impl Fn() -> String + Send + Sync + 'static) {
        self.off_loop.topics.insert(topic, Arc::new(report));
    }

    /// `topic`'s JSON form, rendered without the loop.
    pub fn add_json_off_loop(&mut self, topic: &'static str, report: impl Fn() -> String + Send + Sync + 'static) {
        self.off_loop.json.insert(topic, Arc::new(report));
    }

    /// The topics for the shell's thread.
    pub fn off_loop(&self) -> OffLoop {
        self.off_loop.clone()
    }

    pub fn json(&self, topic: &str) -> Option<String> {
        self.json.get(topic).map(|f| f())
    }

    /// `topic`'s text, whoever renders it (the loop's `system` shows the
    /// time's).
    pub fn get(&self, topic: &str) -> Option<String> {
        match self.topics.get(topic) {
            Some(f) => Some(f()),
            None => self.off_loop.get(topic, false),
        }
    }

    /// Every topic, whoever renders it.
    pub fn topics(&self) -> Vec<String> {
        let mut all: Vec<String> =
            self.topics.keys().chain(self.off_loop.topics.keys()).map(|k| k.to_string()).collect();
        all.sort();
        all.dedup();
        all
    }
}

/// Text as JSON: `{"lines": [...]}`.
pub fn lines_json(text: &str) -> String {
    serde_json::json!({ "lines": text.lines().collect::<Vec<_>>() }).to_string()
}

pub fn read_or_explain(path: &str, f: impl Fn(&str) -> String) -> String {
    match std::fs::read_to_string(path) {
        Ok(t) => f(&t),
        Err(e) => format!("error: {path}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_loop_topics_answer_text_json_and_lines_as_json() {
        let mut r = Registry::default();
        r.add("boot", || "slot a".into());
        r.add_off_loop("ipvs", || "one\ntwo".into());
        r.add_off_loop("vrrp", || "VI_1 MASTER".into());
        r.add_json_off_loop("vrrp", || "{\"instances\":[]}".into());
        let off = r.off_loop();
        assert_eq!(off.get("ipvs", false).as_deref(), Some("one\ntwo"));
        assert_eq!(off.get("ipvs", true).as_deref(), Some(r#"{"lines":["one","two"]}"#));
        assert_eq!(off.get("vrrp", true).as_deref(), Some("{\"instances\":[]}"));
        assert_eq!(off.get("vrrp", false).as_deref(), Some("VI_1 MASTER"));
        // The loop's own topics are not the shell thread's to render.
        assert_eq!(off.get("boot", false), None);
        assert_eq!(r.get("boot").as_deref(), Some("slot a"));
        assert_eq!(r.topics(), ["boot", "ipvs", "vrrp"]);
    }
}
