//! Fuzz tests of every parser a client reaches: random bytes, and mutations of valid frames,
//! bodies, keys, query strings and headers, must never panic and must always fail with one of
//! the stable error codes. `FUZZ_CASES` sets the budget (`npm run fuzz` runs a long one).

use super::error::ApiError;
use super::http::{create_request, if_match, last_event_id, message_body, patch_change, put_change, read_query};
use super::incoming::{parse_incoming, FrameError};
use super::keys::SessionKey;
use super::limits::Limits;
use super::test_rng::{cases, Rng};

/// Every code a client may see (docs/http-api.md, "Errors").
const STABLE_CODES: &[&str] = &[
    "invalid_json",
    "invalid_key",
    "invalid_request",
    "read_only",
    "admin_required",
    "not_found",
    "session_not_found",
    "method_not_allowed",
    "patch_conflict",
    "version_conflict",
    "body_too_large",
    "state_too_large",
    "state_too_deep",
    "too_many_ops",
    "key_rotated",
    "throttled",
    "unsupported_media_type",
    "invalid_patch",
    "upgrade_required",
    "precondition_required",
    "too_many_connections",
    "invalid_frame",
    "invalid_op_id",
    "presence_too_large",
    "unknown_client",
    "message_too_large",
    "rate_limited",
    "session_full",
];

const SEEDS: &[&str] = &[
    r#"{"type":"set","opId":"a","baseVersion":3,"state":{"n":1}}"#,
    r#"{"type":"patch","opId":"b","merge":{"x":{"y":null}}}"#,
    r#"{"type":"patch","opId":"c","ops":[{"op":"copy","from":"","path":"/k~1~0"},{"op":"move","from":"/a/-","path":"/b/0"}]}"#,
    r#"{"type":"presence","data":{"name":"ann","cursor":[1,2]}}"#,
    r#"{"type":"broadcast","to":"c_abc","data":[1e308,-0,"\u00e9"]}"#,
    r#"{"type":"ping"}"#,
    r#"{"state":{"a":[1,2,3]},"ttl":60,"strict":true}"#,
    r#"[{"op":"test","path":"/a","value":1},{"op":"remove","path":"/a"}]"#,
    r#"{"data":{"hand":"up"},"to":"c_x"}"#,
    "after=3&wait=10&since=2&batch=1",
    "AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB",
    "\"17\"",
];

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    "\\",
    "\\u",
    "\\ud800",
    ":",
    ",",
    "null",
    "1e999",
    "-",
    "99999999999999999999999",
    "~",
    "/",
    "%",
    "&",
    "=",
    "\u{0}",
    "\u{FEFF}",
    "é",
    "W/",
    "*",
    "opId",
    "type",
    "ops",
    "merge",
];

fn mutate(rng: &mut Rng, seed: &str) -> Vec<u8> {
    let mut bytes = seed.as_bytes().to_vec();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(5) {
            0 if !bytes.is_empty() => {
                let end = (at + rng.below(8)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            1 => bytes.insert(at, rng.next() as u8),
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                bytes.splice(at..at, t.iter().copied());
            }
            3 => {
                // Deep nesting, far past every bound.
                let open = if rng.below(2) == 0 { b'[' } else { b'{' };
                bytes.splice(at..at, std::iter::repeat_n(open, 200 + rng.below(2000)));
            }
            _ => {
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
            }
        }
    }
    bytes
}

fn input(rng: &mut Rng) -> Vec<u8> {
    if rng.below(4) == 0 {
        (0..rng.below(64)).map(|_| rng.next() as u8).collect()
    } else {
        let seed = SEEDS[rng.below(SEEDS.len())];
        mutate(rng, seed)
    }
}

fn stable(e: &ApiError, what: &str, input: &str) {
    assert!(STABLE_CODES.contains(&e.code()), "{what} gave code {} for {input:?}", e.code());
    assert_ne!(e.status(), 500, "{what} answered 500 for {input:?}");
}

#[test]
fn every_parser_fails_cleanly_on_random_input() {
    let mut rng = Rng::seeded(0xf022);
    let limits = Limits { max_message_bytes: 4096, max_body_bytes: 4096, ..Limits::default() };
    let types =
        [None, Some("application/json"), Some("application/merge-patch+json"), Some("application/json-patch+json")];
    for _ in 0..cases(20_000) {
        let bytes = input(&mut rng);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let content_type = types[rng.below(types.len())];
        match parse_incoming(&text, &limits) {
            Ok(_) => {}
            Err(FrameError::Frame(e)) | Err(FrameError::Write { error: e, .. }) => stable(&e, "frame", &text),
        }
        for (what, result) in [
            ("put", put_change(content_type, &bytes, &limits).map(|_| ())),
            ("patch", patch_change(content_type, &bytes, &limits).map(|_| ())),
            ("create", create_request(content_type, &bytes, &limits).map(|_| ())),
            ("message", message_body(content_type, &bytes, &limits).map(|_| ())),
            ("key", SessionKey::parse(&text).map(|_| ())),
            ("query", read_query(Some(&text), &limits).map(|_| ())),
            ("if-match", if_match(Some(&text)).map(|_| ())),
            ("last-event-id", last_event_id(Some(&text)).map(|_| ())),
        ] {
            if let Err(e) = result {
                stable(&e, what, &text);
            }
        }
    }
}
