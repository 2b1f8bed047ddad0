//! `netdojo lesson`: the course, embedded in the binary.
//!
//! Each lesson is a markdown file, `lessons/NN-name.md`, compiled in with
//! `include_str!` so the binary needs nothing beside it and a lesson can never
//! be missing or out of date with the program it describes. A lesson opens with
//! a `# Title` line and a one-sentence summary paragraph; `netdojo lesson list`
//! shows both. The same files are tests: `tests/lessons.rs` runs every
//! `console` block in them and checks the output.
//!
//! How a lesson looks is the reporter's business: styled and paged on a
//! terminal (`report::markdown`), the markdown itself in a pipe or with
//! `--plain`, its fields in `--json`.

use crate::error::UsageError;
use crate::report::Reporter;

/// One lesson: its file name without `.md` (`02-tcp`) and its text.
#[derive(Debug)]
pub struct Lesson {
    /// `NN-name`: the number gives the order, the name is what a student types.
    pub stem: &'static str,
    /// The lesson, as markdown.
    pub markdown: &'static str,
}

/// Embeds `lessons/<stem>.md`.
macro_rules! lesson {
    ($stem:literal) => {
        Lesson {
            stem: $stem,
            markdown: include_str!(concat!("../lessons/", $stem, ".md")),
        }
    };
}

/// Every lesson, in course order. A new lesson is a new file and a line here.
/// Numbers may have gaps while a lesson is being written (6 and 7 are): a
/// missing number is simply not a lesson yet.
pub const LESSONS: &[Lesson] = &[
    lesson!("01-layers"),
    lesson!("02-tcp"),
    lesson!("03-udp"),
    lesson!("04-tcp-vs-udp-loss"),
    lesson!("05-websockets"),
    lesson!("06-events-rooms-recovery"),
    lesson!("07-message-queues"),
    lesson!("08-packets"),
];

impl Lesson {
    /// The lesson's number, from its file name (`02-tcp` is 2).
    pub fn number(&self) -> u32 {
        let (digits, _) = self.stem.split_once('-').unwrap_or((self.stem, ""));
        digits.parse().unwrap_or(0)
    }

    /// The lesson's short name, from its file name (`02-tcp` is `tcp`).
    pub fn name(&self) -> &'static str {
        self.stem
            .split_once('-')
            .map_or(self.stem, |(_, name)| name)
    }

    /// The first `# ` heading.
    pub fn title(&self) -> &'static str {
        title(self.markdown)
    }

    /// The paragraph right after the title, on one line.
    pub fn summary(&self) -> String {
        summary(self.markdown)
    }
}

/// The first level-one heading outside code blocks (where `# ` starts a shell
/// comment), or "" if there is none.
fn title(markdown: &str) -> &str {
    prose_lines(markdown)
        .find_map(|line| line.strip_prefix("# "))
        .map_or("", str::trim)
}

/// The first paragraph after the title, joined into one line; "" if the title
/// is followed by anything else (a heading, a list, a code block).
fn summary(markdown: &str) -> String {
    let mut lines = prose_lines(markdown).skip_while(|line| !line.starts_with("# "));
    lines.next();
    let paragraph: Vec<&str> = lines
        .skip_while(|line| line.trim().is_empty())
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    match paragraph.first() {
        Some(first) if !first.starts_with(['#', '`', '-', '*', '|', '<', '>']) => {
            paragraph.join(" ")
        }
        _ => String::new(),
    }
}

/// The lines of `markdown` outside fenced code blocks.
fn prose_lines(markdown: &str) -> impl Iterator<Item = &str> {
    let mut in_code = false;
    markdown.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            return false;
        }
        !in_code
    })
}

/// Finds a lesson by number (`2`, `02`) or by name (`tcp`, `02-tcp`).
pub fn find(which: &str) -> Option<&'static Lesson> {
    let which = which.trim();
    if let Ok(n) = which.parse::<u32>() {
        return LESSONS.iter().find(|l| l.number() == n);
    }
    LESSONS
        .iter()
        .find(|l| l.name().eq_ignore_ascii_case(which) || l.stem.eq_ignore_ascii_case(which))
}

/// `netdojo lesson list` or `netdojo lesson N`: styled on a terminal (the
/// reporter decides), or with `plain`, the markdown as it is.
pub fn run(which: &str, plain: bool, reporter: &Reporter) -> anyhow::Result<()> {
    if which.trim().eq_ignore_ascii_case("list") {
        list(reporter);
        return Ok(());
    }
    let lesson = find(which).ok_or_else(|| unknown(which))?;
    let fields = [
        ("number", lesson.number().into()),
        ("name", lesson.name().into()),
        ("title", lesson.title().into()),
        ("summary", lesson.summary().into()),
        ("markdown", lesson.markdown.into()),
    ];
    if plain {
        reporter.item("lesson", &fields, lesson.markdown.trim_end());
    } else {
        reporter.document("lesson", &fields, lesson.markdown);
    }
    Ok(())
}

/// One item per lesson: number, name, title, and the summary under it.
fn list(reporter: &Reporter) {
    let name_width = LESSONS.iter().map(|l| l.name().len()).max().unwrap_or(0);
    let indent = " ".repeat(2 + 2 + name_width + 2);
    for (i, lesson) in LESSONS.iter().enumerate() {
        let summary = lesson.summary();
        let mut text = format!(
            "{:>2}  {:<name_width$}  {}",
            lesson.number(),
            lesson.name(),
            lesson.title()
        );
        if !summary.is_empty() {
            text.push_str(&format!("\n{indent}{summary}"));
        }
        // People get a hint after the last lesson; JSON gets only the fields.
        if i + 1 == LESSONS.len() {
            text.push_str(
                "\n\nRead one with its number or name: netdojo lesson 2, netdojo lesson tcp",
            );
        }
        reporter.item(
            "lesson",
            &[
                ("number", lesson.number().into()),
                ("name", lesson.name().into()),
                ("title", lesson.title().into()),
                ("summary", summary.into()),
            ],
            &text,
        );
    }
}

/// The usage error for a lesson that does not exist, naming the ones that do.
fn unknown(which: &str) -> UsageError {
    let valid: Vec<String> = LESSONS
        .iter()
        .map(|l| format!("{} ({})", l.number(), l.name()))
        .collect();
    UsageError(format!(
        "there is no lesson {which:?}; choose one of {}, or `list` to see them all",
        valid.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lessons_are_numbered_from_one_in_order() {
        // Strictly increasing from 1; a gap is a lesson still being written.
        let numbers: Vec<u32> = LESSONS.iter().map(Lesson::number).collect();
        assert_eq!(numbers.first(), Some(&1));
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    }

    #[test]
    fn a_gap_in_the_numbers_is_not_a_lesson() {
        assert_eq!(find("8").map(|l| l.stem), Some("08-packets"));
        assert_eq!(find("packets").map(|l| l.stem), Some("08-packets"));
        if LESSONS.iter().all(|l| l.number() != 6) {
            assert!(find("6").is_none());
            let e = unknown("6").to_string();
            assert!(e.contains("8 (packets)"), "{e}");
        }
    }

    #[test]
    fn every_lesson_has_a_title_and_a_unique_name() {
        for lesson in LESSONS {
            assert!(
                !lesson.title().is_empty(),
                "{} has no `# ` title",
                lesson.stem
            );
            assert!(!lesson.name().is_empty(), "{} has no name", lesson.stem);
            let same = LESSONS.iter().filter(|l| l.name() == lesson.name()).count();
            assert_eq!(same, 1, "two lessons are called {}", lesson.name());
        }
    }

    #[test]
    fn finished_lessons_have_a_summary() {
        // Every lesson in the list, so a new one cannot be skipped by
        // forgetting to name it here.
        for lesson in LESSONS {
            let summary = lesson.summary();
            assert!(summary.ends_with('.'), "{}: {summary:?}", lesson.stem);
        }
        assert!(LESSONS.iter().any(|l| l.stem == "03-udp"));
    }

    #[test]
    fn lessons_are_found_by_number_or_name() {
        for which in ["2", "02", "tcp", "TCP", "02-tcp", " 2 "] {
            assert_eq!(find(which).map(|l| l.stem), Some("02-tcp"), "{which:?}");
        }
        for which in ["0", "99", "", "tc", "-1", "list"] {
            assert!(find(which).is_none(), "{which:?}");
        }
    }

    #[test]
    fn an_unknown_lesson_names_the_valid_ones() {
        let e = unknown("99").to_string();
        assert!(e.starts_with("there is no lesson \"99\""), "{e}");
        assert!(e.contains("1 (layers)") && e.contains("2 (tcp)"), "{e}");
    }

    #[test]
    fn titles_and_summaries_skip_code_blocks() {
        let md =
            "```console\n# not a title\n```\n\n# Real title\n\nFirst line\nsecond line.\n\nMore.\n";
        assert_eq!(title(md), "Real title");
        assert_eq!(summary(md), "First line second line.");
        assert_eq!(summary("# Title\n\n## Section\n"), "");
        assert_eq!(summary("# UDP\n"), "");
        assert_eq!(title("no heading\n## Second level\n"), "");
    }
}
