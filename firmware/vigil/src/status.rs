//! Status for `show TOPIC`: a registry each subsystem adds its topics to,
//! without touching the shell.

use std::collections::BTreeMap;

type Report = Box<dyn Fn() -> String>;

#[derive(Default)]
pub struct Registry {
    topics: BTreeMap<&'static str, Report>,
}

impl Registry {
    pub fn add(&mut self, topic: &'static str, report: impl Fn() -> String + 'static) {
        self.topics.insert(topic, Box::new(report));
    }

    pub fn get(&self, topic: &str) -> Option<String> {
        self.topics.get(topic).map(|f| f())
    }

    pub fn topics(&self) -> Vec<String> {
        self.topics.keys().map(|k| k.to_string()).collect()
    }
}

pub fn read_or_explain(path: &str, f: impl Fn(&str) -> String) -> String {
    match std::fs::read_to_string(path) {
        Ok(t) => f(&t),
        Err(e) => format!("error: {path}: {e}"),
    }
}
