//! The syllabus is a test too. `lessons/README.md` maps each of the class's
//! questions and terms to a lesson's section and to a netdojo command; a link
//! to a heading that was renamed, or a command whose subcommand or flag was
//! renamed, would send a student nowhere. So: every row's links lead to a real
//! heading (GitHub's anchors), every row's commands exist (`netdojo <path>
//! --help` succeeds and lists each flag the command uses), and the questions
//! and terms the course promises are all in the table. And the course keeps
//! its shape: every lesson ends with exercises, each with a folded solution,
//! and no code block hides from the lessons test by being indented.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const NETDOJO: &str = env!("CARGO_BIN_EXE_netdojo");

/// The heading of the table's section in `lessons/README.md`.
const TABLE_HEADING: &str = "## Questions and terms";

/// What the first column must name, in bold: the class's questions (a word
/// of each) and its terms.
const REQUIRED: &[&str] = &[
    "bidirectional",
    "socket.io use HTTP",
    "client emits",
    "server emits",
    "client misses",
    "mitigate",
    "socket",
    "WebSocket",
    "socket.io",
    "client",
    "server",
    "OSI model",
    "TCP/IP model",
    "TCP",
    "UDP",
    "packet",
    "message queue",
];

/// How many exercises a lesson ends with.
const EXERCISES: std::ops::RangeInclusive<usize> = 3..=5;

fn lessons_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One row of the table: its cells, trimmed, and its line number.
struct Row {
    line: usize,
    cells: Vec<String>,
}

/// The rows of the first table after `TABLE_HEADING`, header and separator
/// left out.
fn table_rows() -> Vec<Row> {
    let readme = read(&lessons_dir().join("README.md"));
    let mut lines = readme.lines().enumerate();
    lines
        .by_ref()
        .find(|(_, l)| l.trim_end() == TABLE_HEADING)
        .unwrap_or_else(|| panic!("lessons/README.md has no \"{TABLE_HEADING}\" section"));
    let rows: Vec<Row> = lines
        .skip_while(|(_, l)| !l.starts_with('|'))
        .take_while(|(_, l)| l.starts_with('|'))
        .skip(2)
        .map(|(n, l)| Row {
            line: n + 1,
            cells: split_row(l),
        })
        .collect();
    assert!(
        !rows.is_empty(),
        "the \"{TABLE_HEADING}\" section has no table"
    );
    rows
}

/// `| a | b |` → `["a", "b"]`. No cell in the table holds a `|`.
fn split_row(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_string()).collect()
}

/// The text of every `` `...` `` span.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The target of every `[text](target)` link.
fn link_targets(text: &str) -> Vec<&str> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(')') else { break };
        targets.push(&after[..end]);
        rest = &after[end..];
    }
    targets
}

/// The text of every `**...**` span.
fn bold_spans(text: &str) -> Vec<&str> {
    text.split("**").skip(1).step_by(2).collect()
}

/// Splits a command line into words, with '...' and "..." quoting.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unbalanced quote in `{line}`");
    if in_word {
        words.push(word);
    }
    words
}

/// Runs `netdojo <path> --help`; its stdout, or a panic naming the command.
fn help(path: &[String], context: &str) -> String {
    let out = Command::new(NETDOJO)
        .args(path)
        .arg("--help")
        .env("NO_COLOR", "1")
        .output()
        .expect("run netdojo");
    assert!(
        out.status.success(),
        "{context}: `netdojo {} --help` failed ({}): {}",
        path.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The subcommands a help text lists under "Commands:" (`help` left out).
fn subcommands(help: &str) -> HashSet<String> {
    help.lines()
        .skip_while(|l| l.trim_end() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// The flags a help text lists under "Options:": `-v`, `--verbose`, `--pace`.
fn flags(help: &str) -> HashSet<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .flat_map(|l| {
            l.split([' ', ','])
                .take_while(|w| w.is_empty() || w.starts_with('-'))
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Checks one `netdojo ...` command line: its subcommand path has a help,
/// and that help lists every flag the command uses.
fn check_command(command: &str, context: &str) {
    let words = shell_words(command);
    assert_eq!(words.first().map(String::as_str), Some("netdojo"));
    let mut path: Vec<String> = Vec::new();
    let mut children = subcommands(&help(&path, context));
    let mut used_flags = Vec::new();
    for word in &words[1..] {
        if word.starts_with('-') {
            let flag = word.split('=').next().unwrap_or(word);
            used_flags.push(flag.to_string());
        } else if children.contains(word) {
            path.push(word.clone());
            children = subcommands(&help(&path, context));
        }
        // Anything else is an argument or a flag's value.
    }
    assert!(
        !path.is_empty(),
        "{context}: `{command}` names no netdojo subcommand"
    );
    let known = flags(&help(&path, context));
    for flag in used_flags {
        assert!(
            known.contains(&flag),
            "{context}: `{command}` uses {flag}, which `netdojo {} --help` does not list",
            path.join(" ")
        );
    }
}

/// GitHub's anchor for a heading: lower case, spaces to hyphens, and
/// everything but letters, digits, `-` and `_` dropped.
fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a markdown file's headings (outside code blocks), with
/// GitHub's `-1`, `-2` for repeated ones.
fn anchors(markdown: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let Some(text) = line.strip_prefix('#') else {
            continue;
        };
        let text = text.trim_start_matches('#');
        if !text.starts_with(' ') {
            continue;
        }
        let base = github_anchor(text);
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

/// Checks a relative link from a file in lessons/: the file exists and, if
/// the link has one, the anchor is one of its headings'.
fn check_link(from: &Path, target: &str, context: &str) {
    let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
    let path = if file.is_empty() {
        from.to_path_buf()
    } else {
        from.parent().expect("a lesson has a folder").join(file)
    };
    assert!(
        path.exists(),
        "{context}: the link ({target}) leads to {}, which does not exist",
        path.display()
    );
    if !anchor.is_empty() {
        let found = anchors(&read(&path));
        assert!(
            found.contains(anchor),
            "{context}: the link ({target}) names #{anchor}, which is no heading of {}; its headings: {:?}",
            path.display(),
            {
                let mut all: Vec<_> = found.into_iter().collect();
                all.sort();
                all
            }
        );
    }
}

#[test]
fn every_row_has_a_question_an_answer_a_link_and_a_command() {
    for row in table_rows() {
        let context = format!("lessons/README.md:{}", row.line);
        assert_eq!(row.cells.len(), 4, "{context}: a row has 4 cells");
        assert!(!row.cells[0].is_empty(), "{context}: no question or term");
        assert!(!row.cells[1].is_empty(), "{context}: no answer");
        assert!(
            !link_targets(&row.cells[2]).is_empty(),
            "{context}: no link to a lesson's section"
        );
        assert!(
            code_spans(&row.cells[3])
                .iter()
                .any(|c| c.starts_with("netdojo ")),
            "{context}: no netdojo command"
        );
    }
}

#[test]
fn every_command_in_the_table_exists() {
    for row in table_rows() {
        let context = format!("lessons/README.md:{}", row.line);
        for command in code_spans(&row.cells[3]) {
            assert!(
                command.starts_with("netdojo "),
                "{context}: `{command}` is not a netdojo command"
            );
            check_command(command, &context);
        }
    }
}

#[test]
fn every_link_in_the_table_leads_to_a_lesson_heading() {
    let readme = lessons_dir().join("README.md");
    for row in table_rows() {
        let context = format!("lessons/README.md:{}", row.line);
        for target in link_targets(&row.cells[2]) {
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            assert!(
                file.ends_with(".md") && !anchor.is_empty(),
                "{context}: ({target}) should be a lesson and a section, lesson.md#heading"
            );
            check_link(&readme, target, &context);
        }
    }
}

#[test]
fn the_table_covers_the_class_questions_and_terms() {
    let named: Vec<String> = table_rows()
        .iter()
        .flat_map(|row| bold_spans(&row.cells[0]))
        .map(str::to_lowercase)
        .collect();
    for required in REQUIRED {
        assert!(
            named.iter().any(|n| n == &required.to_lowercase()),
            "no row of the table names **{required}** in its first column"
        );
    }
}

#[test]
fn every_relative_link_in_the_course_resolves() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(lessons_dir())
        .expect("lessons/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    for file in files {
        let text = read(&file);
        let mut in_code = false;
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                continue;
            }
            if in_code {
                continue;
            }
            let context = format!("{}:{}", file.display(), n + 1);
            for target in link_targets(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                check_link(&file, target, &context);
            }
        }
    }
}

#[test]
fn anchors_follow_github() {
    assert_eq!(
        github_anchor("Does socket.io use HTTP? Why?"),
        "does-socketio-use-http-why"
    );
    assert_eq!(
        github_anchor("L4: no handshake, and what `connect()` means for UDP"),
        "l4-no-handshake-and-what-connect-means-for-udp"
    );
    assert_eq!(
        github_anchor("Durable: stored means it survives `kill -9`"),
        "durable-stored-means-it-survives-kill--9"
    );
    let repeated = anchors("# A\n## Try it\n```text\n# not a heading\n```\n### Try it\n");
    assert!(repeated.contains("try-it") && repeated.contains("try-it-1"));
    assert!(!repeated.contains("not-a-heading"));
}

#[test]
fn commands_are_split_into_words_and_flags_read_from_help() {
    assert_eq!(
        shell_words("netdojo queue produce orders 'order 1' \"order 2\""),
        [
            "netdojo", "queue", "produce", "orders", "order 1", "order 2"
        ]
    );
    let help =
        "Options:\n  -v, --verbose\n      --only <SECTION[,SECTION]>\n      --ladder [<N>]\n";
    let found = flags(help);
    for flag in ["-v", "--verbose", "--only", "--ladder"] {
        assert!(found.contains(flag), "{flag} in {found:?}");
    }
}

/// The numbered lessons, `lessons/NN-name.md`, in order.
fn lesson_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(lessons_dir())
        .expect("lessons/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".md") && name.as_bytes().first().is_some_and(u8::is_ascii_digit)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no lessons/NN-name.md");
    files
}

/// The `## ` headings of a markdown file, outside code blocks, with the line
/// each starts on.
fn sections(markdown: &str) -> Vec<(usize, &str)> {
    let mut in_code = false;
    let mut found = Vec::new();
    for (n, line) in markdown.lines().enumerate() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && let Some(title) = line.strip_prefix("## ") {
            found.push((n, title.trim()));
        }
    }
    found
}

#[test]
fn every_lesson_ends_with_exercises_and_their_solutions() {
    for file in lesson_files() {
        let text = read(&file);
        let name = file.display();
        let heads = sections(&text);
        let titles: Vec<&str> = heads.iter().map(|(_, t)| *t).collect();
        assert_eq!(
            titles.last(),
            Some(&"Exercises"),
            "{name}: the last section should be Exercises, not {:?}",
            titles.last()
        );
        assert_eq!(
            titles.iter().rev().nth(1),
            Some(&"Check yourself"),
            "{name}: Exercises should come right after Check yourself"
        );
        let start = heads.last().expect("a section").0;
        let exercises: Vec<&str> = text.lines().skip(start + 1).collect();
        // Exercises are numbered at the start of a line, outside code blocks.
        let mut in_code = false;
        let mut numbered = Vec::new();
        for line in &exercises {
            if line.starts_with("```") {
                in_code = !in_code;
            } else if !in_code
                && let Some((number, rest)) = line.split_once(". ")
                && !number.is_empty()
                && number.chars().all(|c| c.is_ascii_digit())
                && rest.starts_with("**")
            {
                numbered.push(number.parse::<usize>().expect("digits"));
            }
        }
        assert!(
            EXERCISES.contains(&numbered.len()),
            "{name}: {} exercises, should be {} to {}",
            numbered.len(),
            EXERCISES.start(),
            EXERCISES.end()
        );
        assert_eq!(
            numbered,
            (1..=numbered.len()).collect::<Vec<_>>(),
            "{name}: exercises numbered 1, 2, 3, ..."
        );
        let solutions = exercises
            .iter()
            .filter(|l| l.trim() == "<details><summary>Solution</summary>")
            .count();
        let closed = exercises
            .iter()
            .filter(|l| l.trim() == "</details>")
            .count();
        assert_eq!(
            (solutions, closed),
            (numbered.len(), numbered.len()),
            "{name}: each exercise has one <details><summary>Solution</summary> ... </details>"
        );
        assert!(
            exercises.iter().any(|l| l.contains("netdojo ")),
            "{name}: the exercises should use netdojo"
        );
    }
}

#[test]
fn no_code_block_in_the_course_is_indented() {
    // The lessons test only sees a fence at the start of a line: an indented
    // ```console block would be shown to students and never run.
    let mut files = lesson_files();
    files.push(lessons_dir().join("README.md"));
    let instructor = lessons_dir().join("instructor.md");
    if instructor.exists() {
        files.push(instructor);
    }
    for file in files {
        for (n, line) in read(&file).lines().enumerate() {
            assert!(
                !(line.starts_with(char::is_whitespace) && line.trim_start().starts_with("```")),
                "{}:{}: an indented code fence is not run by the lessons test; start it at the beginning of the line",
                file.display(),
                n + 1
            );
        }
    }
}
