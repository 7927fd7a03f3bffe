//! A request's arguments.
//!
//! A parsed request keeps its frame whole, with the range of each argument
//! in it, and lends the arguments out as byte slices. Cutting every argument
//! out as a `Bytes` of its own costs two locked instructions each (one to
//! take the reference, one to drop it), and a pipelined PUBLISH needs none
//! of them: it looks the channel up and copies the payload into the
//! receivers' frames. Commands that keep an argument (SUBSCRIBE, SET) take
//! it as a `Bytes` ([`Args::bytes`]), or read the whole request as
//! `[Bytes]` through `Deref`, which cuts every argument out once, on first
//! use.

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::OnceLock;

use bytes::Bytes;

/// The arguments of one request; `arg(0)` is the command name.
pub struct Args {
    /// The request's frame (empty when built from separate arguments).
    frame: Bytes,
    /// Each argument's range in `frame`.
    ranges: Vec<Range<usize>>,
    /// The arguments as buffers of their own: given, or cut from `frame` on
    /// first use of `Deref`.
    owned: OnceLock<Vec<Bytes>>,
}

impl Args {
    /// The arguments at `ranges` of `frame`. Every range must lie within
    /// the frame (the parser checks them).
    pub fn from_frame(frame: Bytes, ranges: Vec<Range<usize>>) -> Args {
        Args {
            frame,
            ranges,
            owned: OnceLock::new(),
        }
    }

    /// Number of arguments, the command name included.
    pub fn len(&self) -> usize {
        match self.owned.get() {
            Some(v) => v.len(),
            None => self.ranges.len(),
        }
    }

    /// Whether there is no argument at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Argument `i`, if there is one, without touching any reference count.
    pub fn get_arg(&self, i: usize) -> Option<&[u8]> {
        match self.owned.get() {
            Some(v) => v.get(i).map(|b| &b[..]),
            None => self.frame.get(self.ranges.get(i)?.clone()),
        }
    }

    /// Argument `i`; callers check the count first (the dispatcher checks
    /// every command's arity before its handler runs). Out of range it is
    /// empty.
    pub fn arg(&self, i: usize) -> &[u8] {
        self.get_arg(i).unwrap_or(&[])
    }

    /// Argument `i` as a buffer of its own, sharing the request's memory
    /// (empty if out of range).
    pub fn bytes(&self, i: usize) -> Bytes {
        match self.owned.get() {
            Some(v) => v.get(i).cloned().unwrap_or_default(),
            None => match self.ranges.get(i) {
                Some(r) if r.end <= self.frame.len() && r.start <= r.end => {
                    self.frame.slice(r.clone())
                }
                _ => Bytes::new(),
            },
        }
    }

    /// Gives back the range vector, emptied, for the parser to reuse.
    pub fn into_ranges(self) -> Vec<Range<usize>> {
        let mut ranges = self.ranges;
        ranges.clear();
        ranges
    }
}

impl From<Vec<Bytes>> for Args {
    fn from(args: Vec<Bytes>) -> Args {
        Args {
            frame: Bytes::new(),
            ranges: Vec::new(),
            owned: OnceLock::from(args),
        }
    }
}

impl Deref for Args {
    type Target = [Bytes];

    /// Every argument as a `Bytes`, cut from the frame the first time.
    fn deref(&self) -> &[Bytes] {
        self.owned
            .get_or_init(|| (0..self.ranges.len()).map(|i| self.bytes(i)).collect())
    }
}

impl PartialEq for Args {
    fn eq(&self, other: &Args) -> bool {
        self.len() == other.len() && (0..self.len()).all(|i| self.get_arg(i) == other.get_arg(i))
    }
}

impl fmt::Debug for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries((0..self.len()).map(|i| String::from_utf8_lossy(self.arg(i))))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed() -> Args {
        let frame = Bytes::from_static(b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$2\r\nhi\r\n");
        Args::from_frame(frame, vec![8..15, 21..22, 28..30])
    }

    #[test]
    fn framed_and_owned_arguments_read_alike() {
        let owned = Args::from(vec![
            Bytes::from_static(b"PUBLISH"),
            Bytes::from_static(b"c"),
            Bytes::from_static(b"hi"),
        ]);
        for args in [framed(), owned] {
            assert_eq!(args.len(), 3);
            assert_eq!(args.arg(0), b"PUBLISH");
            assert_eq!(args.get_arg(2), Some(&b"hi"[..]));
            assert_eq!(args.get_arg(3), None);
            assert_eq!(args.arg(3), b"");
            assert_eq!(args.bytes(1), Bytes::from_static(b"c"));
            assert_eq!(args.bytes(7), Bytes::new());
        }
        assert_eq!(framed(), Args::from(framed().to_vec()));
    }

    #[test]
    fn deref_cuts_each_argument_once_and_shares_the_frame() {
        let args = framed();
        let all: &[Bytes] = &args;
        assert_eq!(all, &[&b"PUBLISH"[..], b"c", b"hi"]);
        // The cut arguments point into the frame: no copy was made.
        assert_eq!(all[2].as_ptr(), args.frame[28..].as_ptr());
        // A second use sees the same buffers.
        assert_eq!(args[2].as_ptr(), all[2].as_ptr());
        assert_eq!(args.len(), 3);
        assert_eq!(args.arg(1), b"c");
    }

    #[test]
    fn a_range_outside_the_frame_reads_as_missing() {
        let args = Args::from_frame(Bytes::from_static(b"abc"), vec![0..2, 2..9]);
        assert_eq!(args.get_arg(1), None);
        assert_eq!(args.bytes(1), Bytes::new());
        assert_eq!(args.to_vec(), vec![Bytes::from_static(b"ab"), Bytes::new()]);
    }
}
