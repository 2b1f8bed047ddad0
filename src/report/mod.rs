//! Presentation: protocol code emits [`Observation`]s, reporters show them.
//!
//! A demo or a server never prints. It builds an observation (the layer it
//! happened at, an event name, the facts as fields, and a sentence for a learner)
//! and hands it to a [`Reporter`]. The reporter decides how it looks:
//!
//! - [`human`]: a coloured layer badge and the sentence, paced for a lecture;
//! - [`json`]: one JSON object per line (NDJSON), the facts tests assert on.
//!
//! Some capabilities have their own presentation: [`inspect`], [`lab`],
//! [`ws_frames`] (the WebSocket tap's upgrade, frames and messages), and
//! [`markdown`] (a lesson, styled and paged on a terminal).
//!
//! Pacing (`--pace`, `--step`) lives here too, so protocol code never sleeps for
//! the sake of the audience.

pub mod human;
pub mod inspect;
pub mod json;
pub mod lab;
pub mod markdown;
mod pacing;
pub mod queue;
pub mod ws_frames;

use std::io::{self, Write};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::layer::Layer;
pub use pacing::Pacing;

/// How important an observation is to the story.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// A step of the narration: always shown, and paced.
    Step,
    /// A detail (each read, each datagram): shown with `-v`, never paced.
    Detail,
}

/// One thing that happened at one layer, as facts and as a sentence.
#[derive(Clone, Debug)]
pub struct Observation {
    /// The layer it happened at.
    pub layer: Layer,
    /// A stable, machine-readable name (`accepted`, `half_close`, `datagram`).
    pub event: &'static str,
    /// The facts, in the order they were added.
    pub fields: Vec<(&'static str, Value)>,
    /// A sentence for a learner.
    pub text: String,
    /// Step or detail.
    pub level: Level,
    /// Whether the human view lists the fields under the sentence (summaries,
    /// `TCP_INFO`): most sentences already say everything that matters.
    pub show_fields: bool,
}

impl Observation {
    /// A narrated step at `layer`.
    pub fn new(layer: Layer, event: &'static str, text: impl Into<String>) -> Self {
        Observation {
            layer,
            event,
            fields: Vec::new(),
            text: text.into(),
            level: Level::Step,
            show_fields: false,
        }
    }

    /// Adds a fact.
    pub fn field(mut self, name: &'static str, value: impl Into<Value>) -> Self {
        self.fields.push((name, value.into()));
        self
    }

    /// Marks it as a detail: shown with `-v` only, and not paced.
    pub fn detail(mut self) -> Self {
        self.level = Level::Detail;
        self
    }

    /// Asks the human view to list the fields under the sentence.
    pub fn with_fields_shown(mut self) -> Self {
        self.show_fields = true;
        self
    }

    /// The value of a field, if present.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// The observation as one JSON object: `layer` (the OSI number), `event`,
    /// `text`, then the fields.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("layer".into(), self.layer.number().into());
        map.insert("event".into(), self.event.into());
        for (k, v) in &self.fields {
            map.insert((*k).into(), v.clone());
        }
        map.insert("text".into(), self.text.clone().into());
        Value::Object(map)
    }
}

/// Where observations go. Implemented by the human and the JSON views, and by
/// [`Recorder`] in tests.
pub trait Sink: Send + Sync {
    /// Shows one observation.
    fn observe(&self, obs: &Observation) -> io::Result<()>;
    /// Starts a section of a longer run (the tour, a demo's parts).
    fn section(&self, title: &str, idea: &str) -> io::Result<()>;
    /// Starts a chapter: a level above sections (the tour's parts).
    fn chapter(&self, title: &str, idea: &str) -> io::Result<()> {
        self.section(title, idea)
    }
    /// Shows a note that belongs to no layer (a recap, a hint).
    fn note(&self, text: &str) -> io::Result<()>;
    /// Shows an item that belongs to no layer (a lesson, a row of a list):
    /// people see `text`, scripts see `event` and the fields.
    fn item(&self, event: &str, fields: &[(&str, Value)], text: &str) -> io::Result<()> {
        let _ = (event, fields);
        self.note(text)
    }
    /// Shows a markdown document (a lesson): people at a terminal see it
    /// styled, elsewhere it is `item` with the markdown as its text.
    fn document(&self, event: &str, fields: &[(&str, Value)], markdown: &str) -> io::Result<()> {
        self.item(event, fields, markdown)
    }
}

/// The handle protocol code holds: cheap to clone, safe to share across tasks.
#[derive(Clone)]
pub struct Reporter {
    sink: Arc<dyn Sink>,
    verbose: bool,
    pacing: Pacing,
}

impl Reporter {
    /// A reporter over any sink.
    pub fn new(sink: Arc<dyn Sink>, verbose: bool, pacing: Pacing) -> Self {
        Reporter {
            sink,
            verbose,
            pacing,
        }
    }

    /// The human, coloured view on stdout.
    pub fn human(verbose: bool, pacing: Pacing) -> Self {
        Reporter::new(Arc::new(human::HumanSink::stdout()), verbose, pacing)
    }

    /// The NDJSON view on stdout.
    pub fn json(verbose: bool) -> Self {
        Reporter::new(Arc::new(json::JsonSink::stdout()), verbose, Pacing::none())
    }

    /// A reporter that keeps every observation in memory, for tests and for code
    /// that wants to inspect what happened.
    pub fn recorder() -> (Self, Recorder) {
        let recorder = Recorder::default();
        let reporter = Reporter::new(Arc::new(recorder.clone()), true, Pacing::none());
        (reporter, recorder)
    }

    /// Whether details are wanted: check before building an expensive one.
    pub fn wants_detail(&self) -> bool {
        self.verbose
    }

    /// Reports an observation, then pauses if it was a paced step.
    pub fn emit(&self, obs: Observation) {
        if obs.level == Level::Detail && !self.verbose {
            return;
        }
        handle_write(self.sink.observe(&obs));
        if obs.level == Level::Step {
            self.pacing.pause();
        }
    }

    /// Starts a section.
    pub fn section(&self, title: &str, idea: &str) {
        handle_write(self.sink.section(title, idea));
        self.pacing.pause();
    }

    /// Starts a chapter (a part of the tour), above sections.
    pub fn chapter(&self, title: &str, idea: &str) {
        handle_write(self.sink.chapter(title, idea));
        self.pacing.pause();
    }

    /// A note outside the layers.
    pub fn note(&self, text: &str) {
        handle_write(self.sink.note(text));
    }

    /// An item outside the layers: `text` for people, the fields for JSON.
    pub fn item(&self, event: &str, fields: &[(&str, Value)], text: &str) {
        handle_write(self.sink.item(event, fields, text));
    }

    /// A markdown document: styled and paged for people at a terminal, the
    /// markdown itself elsewhere, the fields for JSON.
    pub fn document(&self, event: &str, fields: &[(&str, Value)], markdown: &str) {
        handle_write(self.sink.document(event, fields, markdown));
    }
}

/// A closed stdout (`netdojo tcp demo | head -1`) ends the program quietly, as
/// a command-line tool should; any other write error is ignored, because the
/// network program being narrated matters more than its narration.
fn handle_write(result: io::Result<()>) {
    if let Err(e) = result
        && e.kind() == io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// Writes one line to stdout, holding the lock so lines from concurrent tasks
/// never interleave.
pub(crate) fn write_stdout_line(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// A sink that records observations in memory.
#[derive(Clone, Default)]
pub struct Recorder {
    seen: Arc<std::sync::Mutex<Vec<Observation>>>,
}

impl Recorder {
    /// Everything observed so far.
    pub fn observations(&self) -> Vec<Observation> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// The observations with this event name.
    pub fn events(&self, event: &str) -> Vec<Observation> {
        self.observations()
            .into_iter()
            .filter(|o| o.event == event)
            .collect()
    }
}

impl Sink for Recorder {
    fn observe(&self, obs: &Observation) -> io::Result<()> {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(obs.clone());
        }
        Ok(())
    }
    fn section(&self, _: &str, _: &str) -> io::Result<()> {
        Ok(())
    }
    fn note(&self, _: &str) -> io::Result<()> {
        Ok(())
    }
}

/// Formats a byte count for people: `1,048,576`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Formats a duration for people, with a precision that suits its size.
pub fn duration(d: std::time::Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1e6 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// Formats a byte rate for people, in bits per second as network people do.
pub fn bitrate(bytes: u64, d: std::time::Duration) -> String {
    let secs = d.as_secs_f64();
    if secs <= 0.0 {
        return "n/a".into();
    }
    let bits = bytes as f64 * 8.0 / secs;
    if bits >= 1e9 {
        format!("{:.2} Gbit/s", bits / 1e9)
    } else if bits >= 1e6 {
        format!("{:.1} Mbit/s", bits / 1e6)
    } else {
        format!("{:.1} kbit/s", bits / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_layer_number_event_and_fields() {
        let obs = Observation::new(Layer::Transport, "accepted", "hello")
            .field("peer", "127.0.0.1:5000")
            .field("bytes", 3);
        let v = obs.to_json();
        assert_eq!(v["layer"], 4);
        assert_eq!(v["event"], "accepted");
        assert_eq!(v["peer"], "127.0.0.1:5000");
        assert_eq!(v["bytes"], 3);
        assert_eq!(v["text"], "hello");
    }

    #[test]
    fn details_are_dropped_unless_verbose() {
        let recorder = Recorder::default();
        let quiet = Reporter::new(Arc::new(recorder.clone()), false, Pacing::none());
        quiet.emit(Observation::new(Layer::Transport, "read", "x").detail());
        quiet.emit(Observation::new(Layer::Transport, "step", "y"));
        let events: Vec<_> = recorder.observations().iter().map(|o| o.event).collect();
        assert_eq!(events, ["step"]);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_048_576), "1,048,576");
        assert_eq!(duration(std::time::Duration::from_micros(42)), "42 µs");
        assert_eq!(duration(std::time::Duration::from_millis(1500)), "1.50 s");
    }
}
