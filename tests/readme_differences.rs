//! README's "Differences from Redis 7" checked against the list of Redis's
//! own tests that pubsubd skips (tests/redis-suite/skip.txt), so the two
//! cannot drift apart.
//!
//! Each skipped test has a reason in the comment above it, and each reason
//! starts with a tag in brackets, `# [data-types] Lists are not provided`.
//! Every tag must mark a bullet of README's differences, `<!-- diff:TAG -->`,
//! and every such marker must be used by at least one skipped test: a
//! difference the suite shows is always documented, and a documented one
//! that no skipped test shows any more loses its marker.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Where the skip list and README live, from the crate root.
const SKIP_LIST: &str = "tests/redis-suite/skip.txt";
const README: &str = "README.md";

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The tag of a reason line `# [tag] text`, if it has one.
fn tag_of(comment: &str) -> Option<&str> {
    let rest = comment.trim_start_matches('#').trim_start();
    let rest = rest.strip_prefix('[')?;
    let end = rest.find(']')?;
    let tag = &rest[..end];
    (!tag.is_empty()
        && tag
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
    .then_some(tag)
}

/// Skipped test name -> its reason's tag; errors for tests without one.
fn skip_tags(text: &str) -> (BTreeMap<String, String>, Vec<String>) {
    let mut tags = BTreeMap::new();
    let mut errors = Vec::new();
    let mut reason: Option<String> = None;
    let mut in_header = true;
    let mut in_comment = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() {
            // The file's header ends at the first blank line; elsewhere a
            // blank line ends the reason in force.
            in_header = false;
            in_comment = false;
            reason = None;
        } else if line.starts_with('#') {
            // The header, and section lines `# --- unit/x ---`, are no reasons.
            if in_header || line.starts_with("# ---") {
                continue;
            }
            // A reason's first line carries its tag; the lines after it
            // continue it.
            if !in_comment {
                reason = tag_of(line).map(str::to_string);
            }
            in_comment = true;
        } else {
            in_header = false;
            in_comment = false;
            match &reason {
                Some(tag) => {
                    tags.insert(line.to_string(), tag.clone());
                }
                None => errors.push(format!(
                    "{SKIP_LIST}:{}: '{line}' has no reason starting with a [tag] above it",
                    i + 1
                )),
            }
        }
    }
    (tags, errors)
}

/// The tags README's markers name.
fn readme_tags(text: &str) -> BTreeSet<String> {
    text.split("<!-- diff:")
        .skip(1)
        .filter_map(|rest| rest.split_once(" -->").map(|(tag, _)| tag.to_string()))
        .collect()
}

#[test]
fn every_skipped_test_has_a_tagged_reason_documented_in_the_readme() {
    let (skipped, mut errors) = skip_tags(&read(SKIP_LIST));
    let documented = readme_tags(&read(README));
    let used: BTreeSet<String> = skipped.values().cloned().collect();
    for tag in used.difference(&documented) {
        let tests: Vec<&String> = skipped
            .iter()
            .filter(|(_, t)| *t == tag)
            .map(|(name, _)| name)
            .collect();
        errors.push(format!(
            "tag [{tag}] (skipping {tests:?}) has no <!-- diff:{tag} --> bullet in {README}"
        ));
    }
    for tag in documented.difference(&used) {
        errors.push(format!(
            "{README} marks <!-- diff:{tag} --> but no test in {SKIP_LIST} is skipped for it"
        ));
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn the_checker_catches_untagged_reasons_and_stray_markers() {
    let list = "# header\n# units: unit/x\n\n# [lists] no lists\n# at all\nA\nB\n# no tag\nC\n";
    let (tags, errors) = skip_tags(list);
    assert_eq!(tags.get("A").map(String::as_str), Some("lists"));
    assert_eq!(tags.get("B").map(String::as_str), Some("lists"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("'C'"));
    let readme = "- no lists <!-- diff:lists -->\n- other <!-- diff:gone -->\n";
    let marked = readme_tags(readme);
    assert_eq!(marked.len(), 2);
    assert!(marked.contains("lists") && marked.contains("gone"));
}
