//! The JSON view: one object per line (NDJSON), for scripts and tests.
//!
//! Every observation carries `"layer"` (the OSI number), `"event"`, its fields
//! and `"text"`. Sections and notes have an `"event"` but no layer.

use std::io;

use serde_json::{Map, Value, json};

use super::{Observation, Sink, write_stdout_line};

/// Writes one JSON object per line to stdout.
pub struct JsonSink;

impl JsonSink {
    /// The JSON view on stdout.
    pub fn stdout() -> Self {
        JsonSink
    }
}

impl Sink for JsonSink {
    fn observe(&self, obs: &Observation) -> io::Result<()> {
        write_stdout_line(&obs.to_json().to_string())
    }

    fn section(&self, title: &str, idea: &str) -> io::Result<()> {
        write_stdout_line(&json!({"event": "section", "title": title, "idea": idea}).to_string())
    }

    fn chapter(&self, title: &str, idea: &str) -> io::Result<()> {
        write_stdout_line(&json!({"event": "chapter", "title": title, "idea": idea}).to_string())
    }

    fn note(&self, text: &str) -> io::Result<()> {
        write_stdout_line(&json!({"event": "note", "text": text}).to_string())
    }

    fn item(&self, event: &str, fields: &[(&str, Value)], _text: &str) -> io::Result<()> {
        let mut map = Map::new();
        map.insert("event".into(), event.into());
        for (k, v) in fields {
            map.insert((*k).into(), v.clone());
        }
        write_stdout_line(&Value::Object(map).to_string())
    }
}
