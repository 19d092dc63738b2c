//! Unit tests of HTTP request parsing: bodies, preconditions, queries, and the numbers the
//! state keeps (docs/http-api.md "Numbers in the state").

use super::*;
use serde_json::json;

#[test]
fn media_types() {
    assert_eq!(media_type(Some("Application/JSON; charset=utf-8")).as_deref(), Some("application/json"));
    assert_eq!(media_type(None), None);
    assert_eq!(media_type(Some("  ")), None);
}

#[test]
fn put_body_rules() {
    let l = Limits { max_body_bytes: 10, ..Limits::default() };
    assert_eq!(put_change(Some("application/json"), b"[1]", &l).unwrap(), Change::set(&json!([1])).unwrap());
    assert_eq!(put_change(None, b"{}", &l).unwrap(), Change::set(&json!({})).unwrap());
    assert_eq!(put_change(Some("text/plain"), b"{}", &l).unwrap_err().status(), 415);
    assert_eq!(put_change(None, b"{oops", &l).unwrap_err().code(), "invalid_json");
    assert_eq!(put_change(None, b"[1,2,3,4,5,6]", &l).unwrap_err().code(), "body_too_large");
}

#[test]
fn patch_body_rules() {
    let l = Limits::default();
    assert!(matches!(patch_change(Some(MERGE_PATCH), b"{\"a\":null}", &l), Ok(Change::Merge(_))));
    assert!(matches!(patch_change(Some(JSON_PATCH), b"[]", &l), Ok(Change::Ops { .. })));
    assert_eq!(patch_change(Some(JSON_PATCH), b"{\"op\":1}", &l).unwrap_err().status(), 422);
    assert_eq!(patch_change(Some(JSON_PATCH), b"[", &l).unwrap_err().status(), 400);
    assert_eq!(patch_change(Some("application/json"), b"{}", &l).unwrap_err().status(), 415);
    assert_eq!(patch_change(None, b"{}", &l).unwrap_err().status(), 415);
}

#[test]
fn create_body_rules() {
    let l = Limits { max_ttl_seconds: 100, max_state_bytes: 20, ..Limits::default() };
    let c = create_request(None, b"", &l).unwrap();
    assert_eq!(c.state.to_value().unwrap(), json!({}));
    assert_eq!(c.ttl_seconds, 100, "the default is clamped to the maximum");
    assert!(!c.strict);
    let c = create_request(Some("application/json"), br#"{"state":[1],"ttl":5,"strict":true}"#, &l).unwrap();
    assert_eq!((c.state.to_value().unwrap(), c.ttl_seconds, c.strict), (json!([1]), 5, true));
    assert_eq!(create_request(None, br#"{"ttl":0}"#, &l).unwrap_err().code(), "invalid_request");
    assert_eq!(create_request(None, br#"{"ttl":101}"#, &l).unwrap_err().code(), "invalid_request");
    assert_eq!(create_request(None, br#"{"ttl":"x"}"#, &l).unwrap_err().code(), "invalid_request");
    assert_eq!(create_request(None, br#"{"stat":1}"#, &l).unwrap_err().code(), "invalid_request");
    assert_eq!(
        create_request(None, br#"{"state":"012345678901234567890"}"#, &l).unwrap_err().code(),
        "state_too_large"
    );
    assert_eq!(create_request(None, b"{", &l).unwrap_err().code(), "invalid_json");
    assert_eq!(create_request(None, b"[1,2]", &l).unwrap_err().code(), "invalid_request", "not read as a tuple");
}

#[test]
fn message_bodies() {
    let l = Limits::default();
    let json = Some("application/json");
    assert_eq!(message_body(json, br#"{"data":1,"to":"c_x"}"#, &l).unwrap().to.as_deref(), Some("c_x"));
    assert_eq!(message_body(None, br#"{"data":1}"#, &l).unwrap().data, json!(1));
    assert_eq!(message_body(Some("text/plain"), br#"{"data":1}"#, &l).unwrap_err().status(), 415);
    assert_eq!(message_body(json, br#"[1, "c_x"]"#, &l).unwrap_err().code(), "invalid_request");
    assert_eq!(message_body(json, br#"{"to":"c_x"}"#, &l).unwrap_err().code(), "invalid_request");
    assert_eq!(message_body(json, br#"{"data":1,"to":5}"#, &l).unwrap_err().code(), "invalid_request");
    // The spec says `to` is a string and `additionalProperties: false`: a typo like `too`
    // must not silently become a message to everyone.
    assert_eq!(message_body(json, br#"{"data":1,"to":null}"#, &l).unwrap_err().code(), "invalid_request");
    assert_eq!(message_body(json, br#"{"data":1,"too":"c_x"}"#, &l).unwrap_err().code(), "invalid_request");
    assert_eq!(message_body(json, br#"{"data":null}"#, &l).unwrap().data, Value::Null);
    assert_eq!(message_body(json, b"{", &l).unwrap_err().code(), "invalid_json");
}

#[test]
fn preconditions() {
    assert_eq!(if_match(None).unwrap(), None);
    let v7 = Some(IfMatch::Version(7));
    assert_eq!(if_match(Some("\"7\"")).unwrap(), v7);
    assert_eq!(if_match(Some("W/\"7\"")).unwrap(), v7);
    assert_eq!(if_match(Some("7")).unwrap(), v7);
    // `*` matches any current version (RFC 9110) but still counts as a precondition.
    assert_eq!(if_match(Some(" * ")).unwrap(), Some(IfMatch::Any));
    assert_eq!(IfMatch::Any.base_version(12), 12);
    assert_eq!(IfMatch::Version(3).base_version(12), 3);
    // A version beyond 64 bits is one no session has: a precondition that fails (412), not a 400.
    assert_eq!(if_match(Some("\"99999999999999999999999\"")).unwrap(), Some(IfMatch::Version(u64::MAX)));
    assert_eq!(if_match(Some(" ")).unwrap(), None, "an empty If-Match is no precondition");
    for bad in ["\"-1\"", "\"1.5\"", "\"7", "**", "\"+7\""] {
        assert_eq!(if_match(Some(bad)).unwrap_err().code(), "invalid_request", "{bad}");
    }
    assert_eq!(if_match(Some("\"x\"")).unwrap_err().code(), "invalid_request");
    assert!(if_none_match_hits(Some("\"3\", \"7\""), 7));
    assert!(!if_none_match_hits(Some("\"3\""), 7));
    assert!(if_none_match_hits(Some("*"), 7));
    assert!(!if_none_match_hits(None, 7));
}

#[test]
fn read_queries() {
    let l = Limits { max_long_poll_seconds: 30, ..Limits::default() };
    let q = read_query(Some("after=4&wait=99&x=1"), &l).unwrap();
    assert_eq!((q.after, q.wait_seconds, q.since), (Some(4), Some(30), None));
    assert_eq!(read_query(Some("since=12"), &l).unwrap().since, Some(12));
    assert!(read_query(Some("batch=1"), &l).unwrap().batch);
    assert!(!read_query(Some("batch=0"), &l).unwrap().batch);
    assert_eq!(read_query(Some("batch=yes"), &l).unwrap_err().code(), "invalid_request");
    assert_eq!(read_query(Some("after=-1"), &l).unwrap_err().code(), "invalid_request");
    // The spec says `integer, minimum: 0` with no maximum: past 2^64 saturates, never a 400.
    let q =
        read_query(Some("after=18446744073709551616&since=1000000000000000000000000&wait=99999999999999999999"), &l)
            .unwrap();
    assert_eq!((q.after, q.since, q.wait_seconds), (Some(u64::MAX), Some(u64::MAX), Some(30)));
    for bad in ["after=", "after=1.0", "after=+1", "since=1e3", "wait= 1"] {
        assert_eq!(read_query(Some(bad), &l).unwrap_err().code(), "invalid_request", "{bad}");
    }
    assert_eq!(last_event_id(Some(" 340282366920938463463374607431768211456 ")).unwrap(), Some(u64::MAX));
    assert_eq!(last_event_id(Some("x")).unwrap_err().code(), "invalid_request");
    assert_eq!(read_query(None, &l).unwrap(), ReadQuery::default());
}

#[test]
fn create_fields_follow_json_schema() {
    let l = Limits { max_ttl_seconds: 3600, ..Limits::default() };
    let create = |body: &str| create_request(None, body.as_bytes(), &l);
    // JSON Schema's `integer` includes numbers written with a zero fraction or an exponent.
    assert_eq!(create(r#"{"ttl":190.0}"#).unwrap().ttl_seconds, 190);
    assert_eq!(create(r#"{"ttl":1.9e2}"#).unwrap().ttl_seconds, 190);
    assert_eq!(create(r#"{"ttl":190}"#).unwrap().ttl_seconds, 190);
    for bad in [r#"{"ttl":190.5}"#, r#"{"ttl":-1}"#, r#"{"ttl":"60"}"#, r#"{"ttl":null}"#, r#"{"ttl":1e300}"#] {
        assert_eq!(create(bad).unwrap_err().code(), "invalid_request", "{bad}");
    }
    // `strict` is a boolean: null is refused, not read as "absent".
    for bad in [r#"{"strict":null}"#, r#"{"strict":1}"#, r#"{"strict":"true"}"#] {
        assert_eq!(create(bad).unwrap_err().code(), "invalid_request", "{bad}");
    }
    assert!(create(r#"{"strict":true}"#).unwrap().strict);
    // `state: null` is the state null; only an absent state means `{}`.
    assert_eq!(create(r#"{"state":null}"#).unwrap().state.to_value().unwrap(), Value::Null);
    assert_eq!(create("").unwrap().state.to_value().unwrap(), json!({}));
    assert_eq!(create(r#"{"extra":1}"#).unwrap_err().code(), "invalid_request");
}

#[test]
fn json_patch_op_count_is_checked_when_parsed() {
    let l = Limits { max_patch_ops: 2, ..Limits::default() };
    let op = r#"{"op":"add","path":"/a","value":1}"#;
    let jp = Some(JSON_PATCH);
    assert!(patch_change(jp, format!("[{op},{op}]").as_bytes(), &l).is_ok());
    assert_eq!(patch_change(jp, format!("[{op},{op},{op}]").as_bytes(), &l).unwrap_err().code(), "too_many_ops");
}

/// docs/http-api.md "Numbers in the state": exactly which numbers come back as sent.
#[test]
fn numbers_in_the_state_are_kept_as_documented() {
    let l = Limits::default();
    let stored = |text: &str| match put_change(None, text.as_bytes(), &l) {
        Ok(Change::Set(v)) => Ok(v.to_json()),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e.code()),
    };
    for exact in ["18446744073709551615", "-9223372036854775808", "9007199254740993", "0", "1.0", "0.1"] {
        assert_eq!(stored(exact), Ok(exact.to_owned()), "kept exactly");
    }
    assert_eq!(stored("1e2"), Ok("100.0".into()));
    assert_eq!(stored("123456789012345678901234567890"), Ok("1.2345678901234568e+29".into()));
    assert_eq!(stored("18446744073709551616"), Ok("1.8446744073709552e+19".into()));
    assert_eq!(stored("1e-400"), Ok("0.0".into()));
    assert_eq!(stored("-0"), Ok("-0.0".into()));
    assert_eq!(stored("1e400"), Err("invalid_json"));
}

#[test]
fn whole_numbers() {
    assert_eq!(whole_number("0"), Some(0));
    assert_eq!(whole_number("18446744073709551615"), Some(u64::MAX));
    assert_eq!(whole_number("18446744073709551616"), Some(u64::MAX));
    for bad in ["", "-1", "+1", "1.0", " 1", "1e3", "٣"] {
        assert_eq!(whole_number(bad), None, "{bad}");
    }
    assert_eq!(json_whole_number(&json!(5)), Some(5));
    assert_eq!(json_whole_number(&json!(5.0)), Some(5));
    assert_eq!(json_whole_number(&json!(1e30)), Some(u64::MAX));
    assert_eq!(json_whole_number(&json!(-0.0)), Some(0));
    assert_eq!(json_whole_number(&json!(-1)), None);
    assert_eq!(json_whole_number(&json!(0.5)), None);
    assert_eq!(json_whole_number(&json!(true)), None);
}
