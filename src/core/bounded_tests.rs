//! Property tests of bounded writes: random documents and random JSON Patches and merge patches
//! (including `copy`/`move` of the root and of ancestors, `-` indices, `~0`/`~1` keys) against a
//! small reference model written plainly here, with the size and depth bounds asserted after
//! every case. The number of cases is `FUZZ_CASES` (default 3,000; `npm run fuzz` runs many more).

use super::*;
use crate::core::test_rng::{cases, Rng};
use serde_json::json;

/// RFC 6901 tokens of a pointer, unescaped; `None` when it is not a pointer.
fn tokens(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(rest.split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect())
}

/// An array index token: digits without a leading zero.
fn index(token: &str, len: usize, allow_end: bool) -> Option<usize> {
    if token == "-" {
        return allow_end.then_some(len);
    }
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    let i: usize = token.parse().ok()?;
    (if allow_end { i <= len } else { i < len }).then_some(i)
}

fn get<'a>(doc: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, t| match v {
        Value::Object(m) => m.get(t),
        Value::Array(a) => a.get(index(t, a.len(), false)?),
        _ => None,
    })
}

fn get_mut<'a>(doc: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(doc, |v, t| match v {
        Value::Object(m) => m.get_mut(t),
        Value::Array(a) => {
            let i = index(t, a.len(), false)?;
            a.get_mut(i)
        }
        _ => None,
    })
}

fn model_add(doc: &mut Value, path: &[String], value: Value) -> Option<()> {
    let Some((last, parent)) = path.split_last() else {
        *doc = value;
        return Some(());
    };
    match get_mut(doc, parent)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            let i = index(last, a.len(), true)?;
            a.insert(i, value);
        }
        _ => return None,
    }
    Some(())
}

fn model_remove(doc: &mut Value, path: &[String]) -> Option<Value> {
    let (last, parent) = path.split_last()?;
    match get_mut(doc, parent)? {
        Value::Object(m) => m.remove(last),
        Value::Array(a) => {
            let i = index(last, a.len(), false)?;
            Some(a.remove(i))
        }
        _ => None,
    }
}

/// RFC 6902 applied plainly, one operation; `None` when it cannot be applied.
fn model_op(doc: &mut Value, op: &Value) -> Option<()> {
    let path = tokens(op["path"].as_str()?)?;
    let from = || tokens(op["from"].as_str()?);
    match op["op"].as_str()? {
        "add" => model_add(doc, &path, op["value"].clone()),
        "remove" => model_remove(doc, &path).map(|_| ()),
        "replace" => {
            *get_mut(doc, &path)? = op["value"].clone();
            Some(())
        }
        "copy" => {
            let v = get(doc, &from()?)?.clone();
            model_add(doc, &path, v)
        }
        "move" => {
            let from = from()?;
            if from == path {
                return get(doc, &from).map(|_| ());
            }
            if path.len() > from.len() && path[..from.len()] == from[..] {
                return None;
            }
            let v = model_remove(doc, &from)?;
            model_add(doc, &path, v)
        }
        "test" => (get(doc, &path)? == &op["value"]).then_some(()),
        _ => None,
    }
}

/// RFC 7396 applied plainly.
pub(crate) fn model_merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                model_merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// What the model says a patch leads to: the new state, or the code of the error.
pub(crate) fn model_patch(doc: &Value, ops: &[Value], bounds: &Bounds) -> Result<Value, &'static str> {
    if ops.len() > bounds.max_ops {
        return Err("too_many_ops");
    }
    let mut doc = doc.clone();
    for op in ops {
        model_op(&mut doc, op).ok_or("patch_conflict")?;
        if depth(&doc) > bounds.max_depth {
            return Err("state_too_deep");
        }
        if json_size(&doc) > bounds.max_bytes {
            return Err("state_too_large");
        }
    }
    Ok(doc)
}

fn random_key(rng: &mut Rng) -> String {
    ["a", "b", "k", "", "~", "/", "a~1b", "x/y", "0", "-"][rng.below(10)].to_owned()
}

pub(crate) fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth == 0 { 4 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.below(1000)),
        2 => json!("s".repeat(rng.below(40))),
        3 => json!(rng.below(2) == 0),
        4 | 5 => Value::Array((0..rng.below(4)).map(|_| random_value(rng, depth - 1)).collect()),
        _ => Value::Object((0..rng.below(4)).map(|_| (random_key(rng), random_value(rng, depth - 1))).collect()),
    }
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A pointer into `doc` (often to something that exists, sometimes not, sometimes `-`).
fn random_pointer(rng: &mut Rng, doc: &Value) -> String {
    let mut pointer = String::new();
    let mut cur = Some(doc);
    while rng.below(3) != 0 {
        let token = match cur {
            Some(Value::Object(m)) if !m.is_empty() && rng.below(4) != 0 => {
                m.keys().nth(rng.below(m.len())).cloned().unwrap_or_default()
            }
            Some(Value::Array(a)) if rng.below(4) != 0 => match rng.below(5) {
                0 => "-".to_owned(),
                1 => "01".to_owned(),
                _ => rng.below(a.len() + 1).to_string(),
            },
            _ => random_key(rng),
        };
        cur = cur.and_then(|v| get(v, std::slice::from_ref(&token)));
        pointer.push('/');
        pointer.push_str(&escape(&token));
    }
    pointer
}

pub(crate) fn random_op(rng: &mut Rng, doc: &Value) -> Value {
    let path = random_pointer(rng, doc);
    let from = if rng.below(3) == 0 { String::new() } else { random_pointer(rng, doc) };
    match rng.below(6) {
        0 => json!({"op": "add", "path": path, "value": random_value(rng, 3)}),
        1 => json!({"op": "remove", "path": path}),
        2 => json!({"op": "replace", "path": path, "value": random_value(rng, 2)}),
        3 => json!({"op": "copy", "from": from, "path": path}),
        4 => json!({"op": "move", "from": from, "path": path}),
        _ => json!({"op": "test", "path": path, "value": get(doc, &tokens(&path).unwrap_or_default()).cloned()}),
    }
}

fn ours(doc: &Value, ops: &Value, bounds: &Bounds) -> Result<Value, &'static str> {
    let Ok(json_patch::Patch(parsed)) = serde_json::from_value::<json_patch::Patch>(ops.clone()) else {
        return Err("invalid_patch");
    };
    let mut state = doc.clone();
    let size = patch_bounded(&mut state, json_size(doc), &parsed, bounds, 1).map_err(|e| e.code())?;
    assert_eq!(size, json_size(&state), "tracked size is exact for {ops}");
    Ok(state)
}

#[test]
fn json_patch_matches_the_reference_model_within_bounds() {
    let mut rng = Rng::seeded(0x5eed);
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    for _ in 0..cases(3000) {
        let bounds = Bounds { max_bytes: 32 + rng.below(300), max_depth: 2 + rng.below(6), max_ops: 3 + rng.below(8) };
        let mut doc = random_value(&mut rng, 3);
        while depth(&doc) > bounds.max_depth || json_size(&doc) > bounds.max_bytes {
            doc = random_value(&mut rng, 2);
        }
        let ops: Vec<Value> = (0..rng.below(8)).map(|_| random_op(&mut rng, &doc)).collect();
        let expected = model_patch(&doc, &ops, &bounds);
        let got = ours(&doc, &Value::Array(ops.clone()), &bounds);
        assert_eq!(got, expected, "doc {doc}\nops {ops:?}\nbounds {bounds:?}");
        if let Ok(state) = &got {
            assert!(json_size(state) <= bounds.max_bytes && depth(state) <= bounds.max_depth);
        }
        *outcomes.entry(got.as_ref().err().copied().unwrap_or("ok")).or_default() += 1;
    }
    for code in ["ok", "patch_conflict", "state_too_large", "state_too_deep", "too_many_ops"] {
        assert!(outcomes.get(code).copied().unwrap_or(0) > 0, "the generator never reached {code}: {outcomes:?}");
    }
}

#[test]
fn merge_patch_matches_the_reference_model_within_bounds() {
    let mut rng = Rng::seeded(0x3e59e);
    for _ in 0..cases(3000) {
        let bounds = Bounds { max_bytes: 64 + rng.below(400), max_depth: 2 + rng.below(4), max_ops: 10 };
        let doc = random_value(&mut rng, 3);
        let patch = random_value(&mut rng, 3);
        let mut expected = doc.clone();
        model_merge(&mut expected, &patch);
        let mut state = doc.clone();
        match merge_bounded(&mut state, &patch, &bounds) {
            Ok(size) => {
                assert_eq!(state, expected, "doc {doc} patch {patch}");
                assert_eq!(size, json_size(&state));
                assert!(size <= bounds.max_bytes && depth(&state) <= bounds.max_depth);
            }
            Err(e) => {
                let over = json_size(&expected) > bounds.max_bytes
                    || depth(&expected) > bounds.max_depth
                    || depth(&patch) > bounds.max_depth;
                assert!(over, "refused {} although within bounds: doc {doc} patch {patch}", e.code());
            }
        }
    }
}

#[test]
fn doubling_the_root_stops_at_the_op_that_crosses_the_limit() {
    let doc = json!({"a": "x".repeat(1000)});
    let ops: Vec<Value> = (0..21).map(|i| json!({"op": "copy", "from": "", "path": format!("/k{i}")})).collect();
    let bounds = Bounds { max_bytes: 262_144, max_depth: 64, max_ops: 1000 };
    assert_eq!(ours(&doc, &Value::Array(ops), &bounds), Err("state_too_large"));
}

#[test]
fn copying_the_root_into_its_innermost_array_is_refused_by_depth() {
    let mut doc = json!([]);
    for _ in 0..40 {
        doc = json!([doc]);
    }
    let innermost = "/0".repeat(40);
    let ops = json!([{"op": "copy", "from": "", "path": format!("{innermost}/0")}]);
    let bounds = Bounds { max_bytes: 1 << 20, max_depth: 64, max_ops: 1000 };
    assert_eq!(ours(&doc, &ops, &bounds), Err("state_too_deep"));
}

#[test]
fn moving_a_value_into_its_own_child_is_a_conflict() {
    let ops = json!([{"op": "move", "from": "/a", "path": "/a/b"}]);
    let bounds = Bounds { max_bytes: 1000, max_depth: 8, max_ops: 8 };
    assert_eq!(ours(&json!({"a": {}}), &ops, &bounds), Err("patch_conflict"));
}
