//! Pipelined PUBLISHes to one channel are delivered as a run (one queue
//! operation per receiver). None of that may be visible: replies, their
//! order, receiver counts, what each subscriber gets and in which order must
//! be exactly Redis's. Every expectation here holds against redis-server
//! 7.0.15 too (`PUBSUBD_TEST_BIN=$(which redis-server)`).

mod common;

use common::{Raw, TestServer, cmd, message, push_frame, show};
use std::time::Duration;

/// Sends every command in one write, so the server sees one pipelined batch.
fn pipeline(conn: &mut Raw, commands: &[&[&[u8]]]) {
    let mut all = Vec::new();
    for c in commands {
        all.extend(cmd(c));
    }
    conn.send(&all);
}

fn subscriber(server: &TestServer, resp3: bool, command: &str, names: &[&str]) -> Raw {
    let mut c = server.raw();
    if resp3 {
        let hello = c.call("HELLO 3");
        assert!(hello.starts_with(b"%"), "{}", show(&hello));
    }
    let mut args: Vec<&[u8]> = vec![command.as_bytes()];
    args.extend(names.iter().map(|n| n.as_bytes()));
    c.send(&cmd(&args));
    for _ in names {
        c.reply();
    }
    c
}

/// Pipelines a PUBLISH of each payload to `channel` in one write and
/// asserts each reply is `reply`.
fn publish_all(publisher: &mut Raw, channel: &[u8], payloads: &[Vec<u8>], reply: &[u8]) {
    let mut all = Vec::new();
    for p in payloads {
        all.extend(cmd(&[b"PUBLISH", channel, p]));
    }
    publisher.send(&all);
    for _ in payloads {
        publisher.expect(reply);
    }
}

/// Asserts the next replies are exactly `replies`, in order.
fn expect_replies(conn: &mut Raw, replies: &[&[u8]]) {
    for r in replies {
        conn.expect(r);
    }
}

/// The `message` frames of `payloads` on `channel`.
fn messages(resp3: bool, channel: &[u8], payloads: &[&str]) -> Vec<Vec<u8>> {
    payloads
        .iter()
        .map(|p| message(resp3, channel, p.as_bytes()))
        .collect()
}

fn expect_all(conn: &mut Raw, frames: &[Vec<u8>]) {
    for (i, f) in frames.iter().enumerate() {
        let got = conn.reply();
        assert_eq!(show(&got), show(f), "frame {i}");
    }
}

#[test]
fn runs_keep_replies_counts_and_order() {
    let server = TestServer::start();
    let mut a = subscriber(&server, false, "SUBSCRIBE", &["run", "other"]);
    let mut b = subscriber(&server, true, "SUBSCRIBE", &["run"]);
    let mut publisher = server.raw();
    pipeline(
        &mut publisher,
        &[
            &[b"PUBLISH", b"run", b"m1"],
            &[b"PUBLISH", b"run", b"m2"],
            &[b"publish", b"run", b"m3"],
            &[b"PUBLISH", b"other", b"o1"],
            &[b"PUBLISH", b"run", b"m4"],
            &[b"PING"],
            &[b"PUBLISH", b"run", b"m5"],
            &[b"PUBLISH", b"run", b"m6"],
            &[b"PUBLISH", b"nobody", b"x"],
            &[b"PUBLISH", b"nobody", b"y"],
            &[b"ECHO", b"e"],
        ],
    );
    expect_replies(
        &mut publisher,
        &[
            &b":2\r\n"[..],
            b":2\r\n",
            b":2\r\n",
            b":1\r\n",
            b":2\r\n",
            b"+PONG\r\n",
            b":2\r\n",
            b":2\r\n",
            b":0\r\n",
            b":0\r\n",
            b"$1\r\ne\r\n",
        ],
    );
    let mut for_a = messages(false, b"run", &["m1", "m2", "m3"]);
    for_a.push(message(false, b"other", b"o1"));
    for_a.extend(messages(false, b"run", &["m4", "m5", "m6"]));
    expect_all(&mut a, &for_a);
    let for_b = messages(true, b"run", &["m1", "m2", "m3", "m4", "m5", "m6"]);
    expect_all(&mut b, &for_b);
    a.expect_nothing(Duration::from_millis(100));
    b.expect_nothing(Duration::from_millis(100));
}

#[test]
fn channel_and_pattern_frames_of_each_message_stay_together() {
    let server = TestServer::start();
    let mut both = server.raw();
    both.send(&cmd(&[b"SUBSCRIBE", b"news.art"]));
    both.reply();
    both.send(&cmd(&[b"PSUBSCRIBE", b"news.*"]));
    both.reply();
    let mut publisher = server.raw();
    pipeline(
        &mut publisher,
        &[
            &[b"PUBLISH", b"news.art", b"1"],
            &[b"PUBLISH", b"news.art", b"2"],
            &[b"PUBLISH", b"news.art", b"3"],
        ],
    );
    for _ in 0..3 {
        publisher.expect(b":2\r\n");
    }
    for n in ["1", "2", "3"] {
        both.expect(&message(false, b"news.art", n.as_bytes()));
        both.expect(&push_frame(
            false,
            &[b"pmessage", b"news.*", b"news.art", n.as_bytes()],
        ));
    }
}

/// Runs to a channel that patterns match: exact-only and pattern-only
/// receivers get the run shared, clients with several frames per message
/// (the channel and a pattern, or two patterns) get each message's frames
/// together, in the order a single PUBLISH gives them; every reply counts
/// all of them. Also for large messages (shared rather than copied).
#[test]
fn runs_reach_pattern_subscribers_in_order() {
    let server = TestServer::start();
    let mut exact = subscriber(&server, false, "SUBSCRIBE", &["news.art"]);
    let mut pattern = subscriber(&server, true, "PSUBSCRIBE", &["ne*"]);
    let mut two = subscriber(&server, false, "PSUBSCRIBE", &["news.*", "*.art"]);
    let mut both = subscriber(&server, true, "SUBSCRIBE", &["news.art"]);
    both.send(&cmd(&[b"PSUBSCRIBE", b"news.*"]));
    both.reply();
    // 2 exact + news.* (two, both) + *.art (two) + ne* (pattern).
    let receivers = b":6\r\n";
    let mut publisher = server.raw();

    // One PUBLISH on its own first: the order of `two`'s pattern frames.
    publisher.send(&cmd(&[b"PUBLISH", b"news.art", b"solo"]));
    publisher.expect(receivers);
    let first = two.reply();
    let second = two.reply();
    let first_pattern =
        if first == push_frame(false, &[b"pmessage", b"news.*", b"news.art", b"solo"]) {
            b"news.*".as_slice()
        } else {
            assert_eq!(
                show(&first),
                show(&push_frame(
                    false,
                    &[b"pmessage", b"*.art", b"news.art", b"solo"]
                ))
            );
            b"*.art".as_slice()
        };
    let second_pattern: &[u8] = if first_pattern == b"news.*" {
        b"*.art"
    } else {
        b"news.*"
    };
    assert_eq!(
        show(&second),
        show(&push_frame(
            false,
            &[b"pmessage", second_pattern, b"news.art", b"solo"]
        ))
    );
    exact.reply();
    pattern.reply();
    both.reply();
    both.reply();

    let payloads: Vec<Vec<u8>> = ["m1", "m2", "m3"]
        .iter()
        .map(|p| p.as_bytes().to_vec())
        // Large ones too: shared rather than copied, and spread over
        // several reads of the publisher's requests.
        .chain([vec![b'L'; 3000], vec![b'M'; 600]])
        .chain((0..3u8).map(|i| vec![b'P' + i; 20_000]))
        .collect();
    publish_all(&mut publisher, b"news.art", &payloads, receivers);
    for p in &payloads {
        exact.expect(&message(false, b"news.art", p));
        pattern.expect(&push_frame(true, &[b"pmessage", b"ne*", b"news.art", p]));
        two.expect(&push_frame(
            false,
            &[b"pmessage", first_pattern, b"news.art", p],
        ));
        two.expect(&push_frame(
            false,
            &[b"pmessage", second_pattern, b"news.art", p],
        ));
        both.expect(&message(true, b"news.art", p));
        both.expect(&push_frame(true, &[b"pmessage", b"news.*", b"news.art", p]));
    }
    for c in [&mut exact, &mut pattern, &mut two, &mut both] {
        c.expect_nothing(Duration::from_millis(100));
    }
}

/// A client on six patterns that all match gets six frames per message:
/// long runs reach it in pieces (`SEVERAL_FRAMES_CHUNK`, 64 KiB), still
/// each message's frames together, in a single PUBLISH's order, nothing
/// lost.
#[test]
fn a_client_on_many_matching_patterns_gets_long_runs_in_order() {
    let server = TestServer::start();
    let patterns: [&[u8]; 6] = [b"news.*", b"*.art", b"n*", b"*t", b"news.a*", b"?ews.art"];
    let names: Vec<&str> = patterns
        .iter()
        .map(|p| std::str::from_utf8(p).expect("ascii"))
        .collect();
    let mut many = subscriber(&server, false, "PSUBSCRIBE", &names);
    let mut publisher = server.raw();
    let frame = |pattern: &[u8], payload: &[u8]| {
        push_frame(false, &[b"pmessage", pattern, b"news.art", payload])
    };

    // The order of the six frames for one PUBLISH on its own.
    publisher.send(&cmd(&[b"PUBLISH", b"news.art", b"solo"]));
    publisher.expect(b":6\r\n");
    let mut order: Vec<&[u8]> = Vec::new();
    for _ in patterns {
        let got = many.reply();
        let p = patterns
            .iter()
            .find(|p| got == frame(p, b"solo"))
            .unwrap_or_else(|| panic!("unexpected frame {}", show(&got)));
        order.push(p);
    }

    // 200 messages of 300 bytes: a run read at once gives this client
    // 6 x its payload bytes, well over one piece.
    let payloads: Vec<Vec<u8>> = (0..200u32)
        .map(|i| format!("{i:0>300}").into_bytes())
        .collect();
    publish_all(&mut publisher, b"news.art", &payloads, b":6\r\n");
    for p in &payloads {
        for pattern in &order {
            many.expect(&frame(pattern, p));
        }
    }
    many.expect_nothing(Duration::from_millis(100));
}

#[test]
fn client_reply_skip_inside_a_run() {
    let server = TestServer::start();
    let mut sub = subscriber(&server, false, "SUBSCRIBE", &["run"]);
    let mut publisher = server.raw();
    pipeline(
        &mut publisher,
        &[
            &[b"PUBLISH", b"run", b"a"],
            &[b"PUBLISH", b"run", b"b"],
            &[b"CLIENT", b"REPLY", b"SKIP"],
            &[b"PUBLISH", b"run", b"c"],
            &[b"PUBLISH", b"run", b"d"],
            &[b"PUBLISH", b"run", b"e"],
            &[b"PING"],
        ],
    );
    expect_replies(
        &mut publisher,
        &[
            &b":1\r\n"[..],
            b":1\r\n",
            b":1\r\n",
            b":1\r\n",
            b"+PONG\r\n",
        ],
    );
    publisher.expect_nothing(Duration::from_millis(100));
    expect_all(
        &mut sub,
        &messages(false, b"run", &["a", "b", "c", "d", "e"]),
    );
}

#[test]
fn a_run_inside_multi_and_before_subscribe_and_quit() {
    let server = TestServer::start();
    let mut sub = subscriber(&server, false, "SUBSCRIBE", &["run"]);
    let mut publisher = server.raw();
    pipeline(
        &mut publisher,
        &[
            &[b"PUBLISH", b"run", b"1"],
            &[b"PUBLISH", b"run", b"2"],
            &[b"MULTI"],
            &[b"PUBLISH", b"run", b"3"],
            &[b"PUBLISH", b"run", b"4"],
            &[b"EXEC"],
            &[b"PUBLISH", b"run", b"5"],
            &[b"PUBLISH", b"run", b"6"],
            // The publisher's own subscription starts after its messages:
            // it must not receive them.
            &[b"SUBSCRIBE", b"run"],
            &[b"QUIT"],
        ],
    );
    expect_replies(
        &mut publisher,
        &[
            &b":1\r\n"[..],
            b":1\r\n",
            b"+OK\r\n",
            b"+QUEUED\r\n",
            b"+QUEUED\r\n",
            b"*2\r\n:1\r\n:1\r\n",
            b":1\r\n",
            b":1\r\n",
            b"*3\r\n$9\r\nsubscribe\r\n$3\r\nrun\r\n:1\r\n",
            b"+OK\r\n",
        ],
    );
    publisher.expect_closed(Duration::from_secs(2));
    expect_all(
        &mut sub,
        &messages(false, b"run", &["1", "2", "3", "4", "5", "6"]),
    );
    sub.expect_nothing(Duration::from_millis(100));
}

#[test]
fn long_runs_are_split_and_lose_nothing() {
    let server = TestServer::start();
    let mut resp2 = subscriber(&server, false, "SUBSCRIBE", &["bulk"]);
    let mut resp3 = subscriber(&server, true, "SUBSCRIBE", &["bulk"]);
    let mut publisher = server.raw();
    // More messages and bytes than one run holds, of varying sizes (some
    // over the size a receiver copies rather than shares).
    let payloads: Vec<Vec<u8>> = (0..700usize)
        .map(|i| vec![b'a' + (i % 26) as u8; 1 + (i * 37) % 900])
        .collect();
    publish_all(&mut publisher, b"bulk", &payloads, b":2\r\n");
    for p in &payloads {
        resp2.expect(&message(false, b"bulk", p));
        resp3.expect(&message(true, b"bulk", p));
    }
}

/// Channel names around the length up to which a run can start
/// (`RUN_CHANNEL_MAX`, 256 bytes): the same replies and messages either way.
#[test]
fn long_channel_names_keep_replies_and_order() {
    let server = TestServer::start();
    let names: Vec<String> = [255usize, 256, 257, 1000]
        .iter()
        .map(|&n| format!("{n:04}").repeat(n / 4 + 1)[..n].to_string())
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut sub = subscriber(&server, false, "SUBSCRIBE", &refs);
    let mut publisher = server.raw();
    let payloads = ["p1", "p2", "p3"];
    let mut commands: Vec<Vec<&[u8]>> = Vec::new();
    for name in &names {
        for p in payloads {
            commands.push(vec![b"PUBLISH", name.as_bytes(), p.as_bytes()]);
        }
    }
    let commands: Vec<&[&[u8]]> = commands.iter().map(Vec::as_slice).collect();
    pipeline(&mut publisher, &commands);
    for _ in &commands {
        publisher.expect(b":1\r\n");
    }
    for name in &names {
        expect_all(&mut sub, &messages(false, name.as_bytes(), &payloads));
    }
}

/// A message with many receivers (a wide fan-out) has its mid-sized frames
/// queued by reference, not copied; small and large ones as before. Twelve
/// subscribers of both protocols get every frame exactly and in order,
/// whether the messages go one by one (alternating channels) or as runs.
#[test]
fn wide_fan_outs_deliver_every_frame_size_in_order() {
    let server = TestServer::start();
    let mut subs: Vec<(bool, Raw)> = (0..12)
        .map(|i| {
            let resp3 = i % 3 == 0;
            (
                resp3,
                subscriber(&server, resp3, "SUBSCRIBE", &["w1", "w2"]),
            )
        })
        .collect();
    let mut publisher = server.raw();
    let payloads: Vec<Vec<u8>> = (0..240usize)
        .map(|i| vec![b'a' + (i % 26) as u8; (i * 7) % 640])
        .collect();
    // One by one: consecutive PUBLISHes alternate between the channels.
    let mut all = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let channel: &[u8] = if i % 2 == 0 { b"w1" } else { b"w2" };
        all.extend(cmd(&[b"PUBLISH", channel, p]));
    }
    publisher.send(&all);
    for _ in &payloads {
        publisher.expect(b":12\r\n");
    }
    // Then as one run on w1.
    publish_all(&mut publisher, b"w1", &payloads, b":12\r\n");
    for (resp3, sub) in &mut subs {
        for (i, p) in payloads.iter().enumerate() {
            let channel: &[u8] = if i % 2 == 0 { b"w1" } else { b"w2" };
            sub.expect(&message(*resp3, channel, p));
        }
        for p in &payloads {
            sub.expect(&message(*resp3, b"w1", p));
        }
        sub.expect_nothing(Duration::from_millis(50));
    }
}
