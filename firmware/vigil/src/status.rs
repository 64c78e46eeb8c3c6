//! Status for `show TOPIC [json]`: a registry each subsystem adds its
//! topics to, without touching the shell. A topic with a typed report
//! answers `json` with it; the others with their lines.

use std::collections::BTreeMap;

type Report = Box<dyn Fn() -> String>;

#[derive(Default)]
pub struct Registry {
    topics: BTreeMap<&'static str, Report>,
    json: BTreeMap<&'static str, Report>,
}

impl Registry {
    pub fn add(&mut self, topic: &'static str, report: impl Fn() -> String + 'static) {
        self.topics.insert(topic, Box::new(report));
    }

    /// `topic`'s JSON form, where it has one of its own.
    pub fn add_json(&mut self, topic: &'static str, report: impl Fn() -> String + 'static) {
        self.json.insert(topic, Box::new(report));
    }

    pub fn json(&self, topic: &str) -> Option<String> {
        self.json.get(topic).map(|f| f())
    }

    pub fn get(&self, topic: &str) -> Option<String> {
        self.topics.get(topic).map(|f| f())
    }

    pub fn topics(&self) -> Vec<String> {
        self.topics.keys().map(|k| k.to_string()).collect()
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
