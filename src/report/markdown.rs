//! Markdown for people at a terminal: a lesson styled (headings, lists,
//! tables, code blocks), wrapped to the terminal's width, and paged when it
//! is longer than the screen.
//!
//! [termimad] does the rendering. Its parser reads markdown a line at a time
//! and knows no HTML and no links, so [`for_the_terminal`] first rewrites
//! the few things the lessons use that it would print raw: the
//! `<details><summary>Answer</summary>` around the answers to "Check
//! yourself" questions, links, and the indentation that puts an answer under
//! its numbered question.
//!
//! Only a terminal that may have colour gets any of this: into a pipe or a
//! file, with `--color never`, `NO_COLOR` or `netdojo lesson N --plain`, a
//! lesson is its markdown file as it is (which `tests/lessons.rs` relies on).

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};
use std::process::{Command, Stdio};

use termimad::MadSkin;
use termimad::crossterm::style::Attribute;

/// Prose wider than this is hard to follow from one line to the next, even
/// on a wide terminal.
const MAX_WIDTH: usize = 120;

/// The pager when `$PAGER` is not set: `-R` lets the styling through.
const DEFAULT_PAGER: &str = "less -R";

/// Whether stdout gets styled markdown: a terminal, and colour allowed by
/// `--color` and `NO_COLOR` (set up by the app before any output).
pub fn styled_here() -> bool {
    io::stdout().is_terminal() && colored::control::SHOULD_COLORIZE.should_colorize()
}

/// Renders `markdown` styled (with escape codes), wrapped to `width` columns.
pub fn render(markdown: &str, width: usize) -> String {
    let text = for_the_terminal(markdown);
    skin().text(&text, Some(width.max(20))).to_string()
}

/// Shows `markdown` on the terminal: styled at the terminal's width, through
/// the pager when it is longer than the screen, printed when it is not (or
/// when no pager can be started).
pub fn show(markdown: &str) -> io::Result<()> {
    // A terminal that does not know its size (a fresh pseudo-terminal) says
    // 0 by 0: take the classic 80 by 24.
    let (columns, rows) = match termimad::terminal_size() {
        (0, _) | (_, 0) => (80, 24),
        size => size,
    };
    let rendered = render(markdown, usize::from(columns).min(MAX_WIDTH));
    if rendered.lines().count() >= usize::from(rows) {
        let pager = std::env::var("PAGER").unwrap_or_else(|_| DEFAULT_PAGER.into());
        if page(&rendered, &pager)? {
            return Ok(());
        }
    }
    let mut out = io::stdout().lock();
    out.write_all(rendered.as_bytes())?;
    out.flush()
}

/// The look: termimad's, which works on dark and light backgrounds alike,
/// with every heading bold so that it reads as one without the underline.
fn skin() -> MadSkin {
    let mut skin = MadSkin::default();
    for header in &mut skin.headers {
        header.add_attr(Attribute::Bold);
    }
    skin
}

/// Sends `text` through `pager` (a program and its arguments, as in
/// `$PAGER`), and waits until the reader quits it. `Ok(false)` if there is
/// no pager to start (an empty `$PAGER`, `less` not installed): the caller
/// prints instead. A reader who quits before the end ends it quietly, as
/// `| head` would.
fn page(text: &str, pager: &str) -> io::Result<bool> {
    let mut words = pager.split_whitespace();
    let Some(program) = words.next() else {
        return Ok(false);
    };
    let mut command = Command::new(program);
    command.args(words).stdin(Stdio::piped());
    // A `less` without -R would show the escape codes as text: ask for -R
    // through its environment unless the user has settled that already.
    if std::env::var_os("LESS").is_none() {
        command.env("LESS", "R");
    }
    let Ok(mut child) = command.spawn() else {
        return Ok(false);
    };
    let written = {
        let _interrupts = InterruptsToThePager::new();
        let written = child
            .stdin
            .take()
            .map_or(Ok(()), |mut stdin| stdin.write_all(text.as_bytes()));
        // The pager's stdin closes here, at the end of the text.
        let _ = child.wait();
        written
    };
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(true),
    }
}

/// While a pager runs, Ctrl-C is the pager's (less stops a search with it):
/// netdojo ignores it, rather than exiting and leaving the pager and the
/// shell to fight over the terminal.
struct InterruptsToThePager {
    #[cfg(unix)]
    previous: libc::sighandler_t,
}

impl InterruptsToThePager {
    fn new() -> Self {
        InterruptsToThePager {
            // SAFETY: signal(2) with SIG_IGN installs no handler code; the
            // previous disposition is restored on drop.
            #[cfg(unix)]
            previous: unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) },
        }
    }
}

impl Drop for InterruptsToThePager {
    fn drop(&mut self) {
        // SAFETY: puts back the disposition `new` found.
        #[cfg(unix)]
        unsafe {
            libc::signal(libc::SIGINT, self.previous);
        }
    }
}

/// The lesson's markdown rewritten into what termimad reads well:
///
/// - `<details><summary>Answer</summary>` becomes a bold **Answer** label,
///   the answer under it a quote, and `</details>` goes;
/// - `[text](url)` becomes `text (url)`;
/// - an item's continuation lines (indented one to three spaces, under a
///   numbered question) lose the indentation, which termimad would keep on
///   the first line only.
///
/// Code blocks are left exactly as they are.
pub fn for_the_terminal(markdown: &str) -> Cow<'_, str> {
    if !markdown.contains("<details") && !markdown.contains("](") && !markdown.contains("\n ") {
        return Cow::Borrowed(markdown);
    }
    let mut out = String::with_capacity(markdown.len());
    let mut in_code = false;
    let mut in_details = false;
    for line in markdown.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_code = !in_code;
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if in_code {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("<details>") {
            in_details = true;
            out.push_str(&format!("**{}**\n", summary_label(rest)));
            continue;
        }
        if trimmed == "</details>" {
            in_details = false;
            continue;
        }
        let text = without_links(dedent(line));
        if in_details {
            // One quote, blank lines and all, so the answer reads as a block.
            if trimmed.is_empty() {
                continue;
            }
            out.push_str("> ");
        }
        out.push_str(&text);
        out.push('\n');
    }
    Cow::Owned(out)
}

/// `<summary>Answer</summary>` (what follows `<details>`) to `Answer`; a
/// `<details>` without a summary is labelled the way browsers do.
fn summary_label(rest: &str) -> &str {
    rest.trim()
        .strip_prefix("<summary>")
        .and_then(|s| s.split_once("</summary>"))
        .map(|(label, _)| label.trim())
        .filter(|label| !label.is_empty())
        .unwrap_or("Details")
}

/// A list item's continuation line without its one to three spaces of
/// indentation; four or more would be an indented code block, and stay.
fn dedent(line: &str) -> &str {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    if (1..4).contains(&spaces) {
        &line[spaces..]
    } else {
        line
    }
}

/// `[text](url)` to `text (url)`, outside inline code. Anything that is not
/// quite a link (`[..]`, which lessons use for "anything here") is kept.
fn without_links(line: &str) -> Cow<'_, str> {
    if !line.contains("](") {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    let mut in_code = false;
    while let Some(c) = rest.chars().next() {
        if c == '`' {
            in_code = !in_code;
        } else if c == '['
            && !in_code
            && let Some((text, url, after)) = link_at(rest)
        {
            out.push_str(&format!("{text} ({url})"));
            rest = after;
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// A link at the start of `s` (which starts with `[`): its text, its URL
/// and what follows it.
fn link_at(s: &str) -> Option<(&str, &str, &str)> {
    let close = s.find("](")?;
    let text = &s[1..close];
    if text.contains(['[', ']']) {
        return None;
    }
    let after_paren = &s[close + 2..];
    let end = after_paren.find(')')?;
    let url = &after_paren[..end];
    if url.is_empty() || url.contains(char::is_whitespace) {
        return None;
    }
    Some((text, url, &after_paren[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lesson::LESSONS;

    /// What a person sees: the rendering without its escape codes.
    fn visible(styled: &str) -> String {
        let mut out = String::with_capacity(styled.len());
        let mut chars = styled.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                // CSI: ESC [ parameters final-byte
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&c) {
                            break;
                        }
                    }
                }
                continue;
            }
            out.push(c);
        }
        out
    }

    fn lesson(stem: &str) -> &'static str {
        LESSONS.iter().find(|l| l.stem == stem).unwrap().markdown
    }

    #[test]
    fn a_lesson_renders_with_headings_a_table_and_code_blocks() {
        let styled = render(lesson("01-layers"), 100);
        assert!(styled.contains('\x1b'), "it is styled");
        let text = visible(&styled);
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        // Headings lose their `#`s and keep their words.
        assert!(
            lines
                .iter()
                .any(|l| l.trim() == "Layers: how a line of text becomes a frame"),
            "{text}"
        );
        assert!(lines.iter().any(|l| l.trim() == "Check yourself"), "{text}");
        assert!(!lines.iter().any(|l| l.starts_with('#')), "{text}");
        // The OSI table is drawn with borders and keeps its cells.
        let table: Vec<&&str> = lines.iter().filter(|l| l.starts_with('│')).collect();
        assert!(table.len() >= 7, "{text}");
        assert!(
            table
                .iter()
                .any(|l| l.contains("Transport") && l.contains("TCP, UDP")),
            "{text}"
        );
        assert!(lines.iter().any(|l| l.starts_with('├')), "{text}");
        // Code blocks keep their lines, and their fences go.
        assert!(
            lines.iter().any(|l| l.trim() == "$ netdojo tcp demo"),
            "{text}"
        );
        assert!(!text.contains("```"), "{text}");
        // Lists get bullets.
        assert!(lines.iter().any(|l| l.starts_with("• ")), "{text}");
        // Nothing wider than asked for.
        for line in &lines {
            assert!(line.chars().count() <= 100, "too wide: {line:?}");
        }
    }

    #[test]
    fn answers_are_labelled_not_raw_html() {
        for l in LESSONS {
            let text = visible(&render(l.markdown, 80));
            assert!(!text.contains("<details"), "{}: raw <details>", l.stem);
            assert!(!text.contains("summary>"), "{}: raw <summary>", l.stem);
            assert!(!text.contains("</details"), "{}: raw </details>", l.stem);
        }
        let text = visible(&render(lesson("01-layers"), 80));
        let answer = text
            .lines()
            .position(|l| l.trim() == "Answer")
            .expect("an Answer label");
        let next = text.lines().nth(answer + 1).unwrap();
        assert!(next.contains("14 + 20 + 20 + 100 = 154 bytes"), "{next}");
    }

    #[test]
    fn links_keep_their_text_and_address() {
        let text = visible(&render(lesson("04-tcp-vs-udp-loss"), 200));
        assert!(
            text.contains("smoltcp (https://docs.rs/smoltcp)"),
            "the link is readable"
        );
        assert_eq!(
            without_links("see [docs](https://x.y/z), `[..](not)` and [..] here"),
            "see docs (https://x.y/z), `[..](not)` and [..] here"
        );
        assert_eq!(without_links("[a] (b) [c](d e)"), "[a] (b) [c](d e)");
    }

    #[test]
    fn the_rewrite_leaves_code_blocks_alone() {
        let md = "1. Question?\n\n   <details><summary>Answer</summary>\n\n   Yes [x](y).\n\n   </details>\n\n```text\n  <details> [a](b)\n```\n";
        assert_eq!(
            for_the_terminal(md),
            "1. Question?\n\n**Answer**\n> Yes x (y).\n\n```text\n  <details> [a](b)\n```\n"
        );
        assert_eq!(summary_label("<summary> Why? </summary>"), "Why?");
        assert_eq!(summary_label(""), "Details");
        assert!(matches!(for_the_terminal("# Plain\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_pager_that_cannot_start_leaves_the_printing_to_the_caller() {
        assert!(!page("text", "").unwrap());
        assert!(!page("text", "no-such-pager-netdojo --flag").unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn a_pager_that_quits_early_ends_quietly() {
        // `true` reads nothing and exits: the write meets a closed pipe.
        let long = "line\n".repeat(100_000);
        assert!(page(&long, "true").unwrap());
        assert!(page("short\n", "sh -c cat>/dev/null").unwrap());
    }
}
