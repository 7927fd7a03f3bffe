//! The cargo-fuzz checks (`fuzz/src/lib.rs`) on stable Rust, in every
//! `cargo test`: compiling them here means a parser API change breaks the
//! ordinary build rather than only the nightly fuzz build, and running them
//! replays each seed corpus (`fuzz/seeds/<target>/`, including the inputs
//! that found bugs) plus a few hundred cheap mutations of every seed.

mod common;
use common::Rng;

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::path::Path;

/// Mutations tried per seed: enough to shake out a gross regression in well
/// under a second, not a substitute for `cargo +nightly fuzz run`.
const MUTATIONS_PER_SEED: usize = 1000;

/// One small random edit: flip, insert, delete or duplicate bytes, or
/// insert a byte that parsers treat specially.
fn mutate(input: &mut Vec<u8>, rng: &mut Rng) {
    const SPECIAL: &[u8] = b"\r\n*$\"'\\ \t\0[]^-?x01-9";
    let at = rng.below(input.len() + 1);
    match rng.below(5) {
        0 if at < input.len() => input[at] ^= 1 << rng.below(8),
        1 => input.insert(at, SPECIAL[rng.below(SPECIAL.len())]),
        2 if at < input.len() => {
            input.remove(at);
        }
        3 => {
            let len = rng.below(8).min(input.len() - at);
            let piece = input[at..at + len].to_vec();
            input.splice(at..at, piece);
        }
        _ => input.insert(at, rng.next() as u8),
    }
}

/// Runs `check` over every seed of `target` and mutations of each.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("seed entry").path())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    let mut rng = Rng(0x5eed);
    for path in seeds {
        let seed = std::fs::read(&path).expect("read seed");
        check(&seed);
        for _ in 0..MUTATIONS_PER_SEED {
            let mut input = seed.clone();
            for _ in 0..1 + rng.below(4) {
                mutate(&mut input, &mut rng);
            }
            let outcome = std::panic::catch_unwind(|| check(&input));
            assert!(
                outcome.is_ok(),
                "{target}: mutation of {} failed; input {:?}",
                path.display(),
                String::from_utf8_lossy(&input)
            );
        }
    }
}

#[test]
fn request_framing_seeds() {
    replay("request", checks::request);
}

#[test]
fn glob_seeds() {
    replay("glob", checks::glob);
}

#[test]
fn splitargs_seeds() {
    replay("splitargs", checks::splitargs);
}

#[test]
fn config_seeds() {
    replay("config", checks::config);
}
