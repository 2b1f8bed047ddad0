//! The human view: a coloured layer badge, then the sentence.
//!
//! ```text
//! [L4 Transport]    accepted 127.0.0.1:50412 on 127.0.0.1:7000: ...
//! ```
//!
//! Colour never carries meaning on its own: the badge names the layer, so
//! `--color never` and `NO_COLOR` lose nothing.

use std::io;

use colored::Colorize;

use super::{Observation, Sink, write_stdout_line};
use crate::layer::Layer;

/// Width of the widest badge (`[L6 Presentation]`), so sentences line up.
fn badge_width() -> usize {
    Layer::ALL
        .iter()
        .map(|l| l.badge().chars().count())
        .max()
        .unwrap_or(0)
}

/// Writes narration for people to stdout.
pub struct HumanSink {
    width: usize,
}

impl HumanSink {
    /// The human view on stdout.
    pub fn stdout() -> Self {
        HumanSink {
            width: badge_width(),
        }
    }

    /// The text of one observation, coloured if colour is on.
    pub fn render(&self, obs: &Observation) -> String {
        let badge = obs.layer.badge();
        let pad = " ".repeat(self.width.saturating_sub(badge.chars().count()) + 1);
        let badge = badge.color(obs.layer.color()).bold();
        let mut out = if obs.level == super::Level::Detail {
            format!("{badge}{pad}{}", obs.text.dimmed())
        } else {
            format!("{badge}{pad}{}", obs.text)
        };
        if obs.show_fields {
            let indent = " ".repeat(self.width + 1);
            let name_width = obs
                .fields
                .iter()
                .map(|(n, _)| n.len() + 1)
                .max()
                .unwrap_or(0);
            for (name, value) in &obs.fields {
                let value = match value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let label = format!("{name}:");
                let pad = " ".repeat(name_width - label.len());
                out.push_str(&format!("\n{indent}{}{pad} {value}", label.dimmed()));
            }
        }
        out
    }
}

impl Sink for HumanSink {
    fn observe(&self, obs: &Observation) -> io::Result<()> {
        write_stdout_line(&self.render(obs))
    }

    fn section(&self, title: &str, idea: &str) -> io::Result<()> {
        let rule = "━".repeat(title.chars().count().max(40));
        let mut text = format!("\n{}\n{}", title.bold(), rule.dimmed());
        if !idea.is_empty() {
            text.push_str(&format!("\n{}\n", idea.italic()));
        }
        write_stdout_line(&text)
    }

    fn chapter(&self, title: &str, idea: &str) -> io::Result<()> {
        let rule = "═".repeat(72);
        let mut text = format!(
            "\n{}\n  {}\n{}",
            rule.bold(),
            title.to_uppercase().bold(),
            rule.bold()
        );
        if !idea.is_empty() {
            text.push_str(&format!("\n  {}\n", idea.italic()));
        }
        write_stdout_line(&text)
    }

    fn note(&self, text: &str) -> io::Result<()> {
        write_stdout_line(text)
    }

    fn document(&self, _: &str, _: &[(&str, serde_json::Value)], markdown: &str) -> io::Result<()> {
        if super::markdown::styled_here() {
            super::markdown::show(markdown)
        } else {
            write_stdout_line(markdown.trim_end())
        }
    }
}
