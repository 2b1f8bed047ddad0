//! `--example NAME`: one built-in frame (the list lives in
//! `inspect::examples`).

use crate::error::UsageError;
use crate::inspect::examples;
use crate::inspect::model::Frame;

/// The frame the named example builds, numbered 1; an unknown name is a
/// usage error listing the names there are.
pub fn frame(name: &str) -> Result<Frame, UsageError> {
    let Some(example) = examples::find(name) else {
        let names: Vec<&str> = examples::all().iter().map(|e| e.name).collect();
        let known = if names.is_empty() {
            "none are built in yet".to_string()
        } else {
            format!("the examples are {}", names.join(", "))
        };
        return Err(UsageError(format!(
            "unknown example {name:?}: {known} (--example list describes them)"
        )));
    };
    let mut frame = (example.build)();
    // The only frame of its source, whatever the builder set.
    frame.number = 1;
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = frame("no-such-example").expect_err("an error");
        assert!(
            e.0.starts_with("unknown example \"no-such-example\": "),
            "{}",
            e.0
        );
        assert!(e.0.ends_with("(--example list describes them)"), "{}", e.0);
        for known in examples::all() {
            assert!(e.0.contains(known.name), "{}", e.0);
        }
    }

    #[test]
    fn every_example_is_frame_number_one() {
        for known in examples::all() {
            assert_eq!(frame(known.name).expect("found").number, 1);
        }
    }
}
