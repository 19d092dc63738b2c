//! The document tree against `serde_json` values: the same text, size and depth, the same
//! results for JSON Patch and merge patch as the reference model (with a tiny leaf size, so
//! containers, leaves and the paths between them are all exercised), and nothing changed by a
//! refused write.

use serde_json::{json, Value};

use super::*;
use crate::core::bounded::tests::{model_merge, model_patch, random_op, random_value};
use crate::core::bounded::Bounds;
use crate::core::measure::{depth, json_size};
use crate::core::test_rng::{cases, Rng};

/// Runs `f` with leaves of at most `bytes` bytes.
fn with_leaf_bytes<R>(bytes: usize, f: impl FnOnce() -> R) -> R {
    TEST_LEAF_BYTES.with(|c| c.set(bytes));
    let r = f();
    TEST_LEAF_BYTES.with(|c| c.set(LEAF_BYTES));
    r
}

fn doc(value: &Value) -> Document {
    Document::from_value(value).unwrap()
}

/// Checks every container's cached size against its children.
fn assert_sizes(node: &Node) {
    match node {
        Node::Leaf(l) => assert_eq!(l.depth, depth(&serde_json::from_str(&l.text).unwrap())),
        Node::Object(m) => {
            m.map.values().for_each(|c| assert_sizes(c));
            assert_eq!(m.bytes, object_bytes(&m.map));
        }
        Node::Array(a) => {
            a.items.iter().for_each(|c| assert_sizes(c));
            assert_eq!(a.bytes, array_bytes(&a.items));
        }
    }
}

#[test]
fn text_size_and_depth_are_those_of_serde_json() {
    let mut rng = Rng::seeded(0xd0c);
    with_leaf_bytes(12, || {
        for _ in 0..cases(2000) {
            let value = random_value(&mut rng, 4);
            let text = serde_json::to_string(&value).unwrap();
            for d in [doc(&value), Document { root: Rc::new(parse_document(&text).unwrap()) }] {
                assert_eq!(d.to_json(), text);
                assert_eq!(d.bytes(), json_size(&value));
                assert_eq!(d.root.depth(), depth(&value));
                assert_eq!(d.to_value().unwrap(), value);
                assert_sizes(&d.root);
                let pieces: String = JsonChunks::new("<".into(), d.root.clone(), ">".into(), 7).collect();
                assert_eq!(pieces, format!("<{text}>"));
            }
        }
    });
}

#[test]
fn json_patch_matches_the_reference_model_and_a_refused_patch_changes_nothing() {
    let mut rng = Rng::seeded(0xd0c5);
    let mut applied = 0;
    with_leaf_bytes(10, || {
        for _ in 0..cases(4000) {
            let bounds =
                Bounds { max_bytes: 32 + rng.below(300), max_depth: 2 + rng.below(6), max_ops: 3 + rng.below(8) };
            let mut value = random_value(&mut rng, 3);
            while depth(&value) > bounds.max_depth || json_size(&value) > bounds.max_bytes {
                value = random_value(&mut rng, 2);
            }
            let ops: Vec<Value> = (0..rng.below(8)).map(|_| random_op(&mut rng, &value)).collect();
            let Ok(json_patch::Patch(parsed)) = serde_json::from_value::<json_patch::Patch>(Value::Array(ops.clone()))
            else {
                continue;
            };
            let expected = model_patch(&value, &ops, &bounds);
            let mut d = doc(&value);
            let got = apply_patch(&mut d, &parsed, &bounds, 1).map_err(|e| e.code());
            match (&got, &expected) {
                (Ok(()), Ok(state)) => {
                    assert_eq!(&d.to_value().unwrap(), state, "doc {value}\nops {ops:?}");
                    applied += 1;
                }
                (Err(code), Err(want)) => {
                    assert_eq!(code, want, "doc {value}\nops {ops:?}");
                    assert_eq!(d.to_value().unwrap(), value, "a refused patch changed the doc: {ops:?}");
                }
                _ => panic!("got {got:?}, expected {expected:?}\ndoc {value}\nops {ops:?}\nbounds {bounds:?}"),
            }
            assert_eq!(d.bytes(), json_size(&d.to_value().unwrap()));
            assert_sizes(&d.root);
        }
    });
    assert!(applied > 100, "too few patches applied: {applied}");
}

#[test]
fn merge_patch_matches_the_reference_model_and_a_refused_merge_changes_nothing() {
    let mut rng = Rng::seeded(0x3e6);
    with_leaf_bytes(10, || {
        for _ in 0..cases(3000) {
            let bounds = Bounds { max_bytes: 64 + rng.below(400), max_depth: 2 + rng.below(4), max_ops: 10 };
            let value = random_value(&mut rng, 3);
            let patch = random_value(&mut rng, 3);
            let mut expected = value.clone();
            model_merge(&mut expected, &patch);
            let mut d = doc(&value);
            match apply_merge(&mut d, &patch, &bounds) {
                Ok(()) => assert_eq!(d.to_value().unwrap(), expected, "doc {value} patch {patch}"),
                Err(e) => {
                    let over = json_size(&expected) > bounds.max_bytes || depth(&patch) > bounds.max_depth;
                    assert!(over, "refused {} although within bounds: doc {value} patch {patch}", e.code());
                    assert_eq!(d.to_value().unwrap(), value, "a refused merge changed the doc");
                }
            }
            assert_eq!(d.bytes(), json_size(&d.to_value().unwrap()));
            assert_sizes(&d.root);
        }
    });
}

#[test]
fn a_write_copies_only_the_path_it_touches() {
    let items: serde_json::Map<String, Value> =
        (0..2000).map(|i| (format!("k{i:04}"), json!({"x": i, "label": "y".repeat(50)}))).collect();
    let mut d = doc(&Value::Object(items));
    let Node::Object(before) = &*d.root else { panic!("a large object is a container") };
    let untouched = before.map["k0001"].clone();
    let reader = d.root.clone(); // a GET in progress holds the old root
    apply_merge(&mut d, &json!({"k0002": {"x": -1}}), &Bounds { max_bytes: 1 << 20, max_depth: 8, max_ops: 8 })
        .unwrap();
    let Node::Object(after) = &*d.root else { panic!() };
    assert!(Rc::ptr_eq(&after.map["k0001"], &untouched), "untouched members are shared, not copied");
    assert_eq!(after.map["k0002"].to_value().unwrap(), json!({"x": -1, "label": "y".repeat(50)}));
    assert_eq!(reader.to_value().unwrap()["k0002"]["x"], 2, "the reader still sees the state it started from");
}

#[test]
fn large_frames_are_cut_into_parts_that_join_to_the_frame() {
    let big = json!({"s": "\"quoted\" \\ and ü ".repeat(200_000)});
    let d = doc(&big);
    let mut parts = Vec::new();
    send_node_frame(r#"{"type":"welcome","state":"#.into(), d.root.clone(), "}".into(), |p| parts.push(p));
    assert!(parts.len() > 2);
    let mut text = String::new();
    for (i, p) in parts.iter().enumerate() {
        assert!(p.len() <= MAX_FRAME_BYTES, "part {i} is {} bytes", p.len());
        let frame: Value = serde_json::from_str(p).unwrap();
        assert_eq!(frame["type"], "part");
        assert_eq!(frame["seq"], i);
        assert_eq!(frame["last"], i + 1 == parts.len());
        text.push_str(frame["data"].as_str().unwrap());
    }
    let whole: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(whole["state"], big);
    let mut small = Vec::new();
    send_text(r#"{"type":"pong"}"#, |p| small.push(p));
    assert_eq!(small, vec![r#"{"type":"pong"}"#.to_owned()], "small frames go whole");
}

#[test]
fn bounded_chunks_never_exceed_their_size_and_join_to_the_text() {
    let value = json!({"a": "é".repeat(3000), "b": (0..500).collect::<Vec<_>>(), "c": {"d": "x".repeat(9000)}});
    let d = doc(&value);
    let pieces: Vec<String> = BoundedChunks::new(d.root.clone(), 1001).collect();
    assert!(pieces.iter().all(|p| p.len() <= 1001 && !p.is_empty()));
    assert_eq!(pieces.concat(), d.to_json());
    assert!(pieces.len() >= d.bytes() / 1001);
}

#[test]
fn parts_cost_about_the_frame_itself() {
    let mut map = serde_json::Map::new();
    for i in 0..16 {
        map.insert(format!("k{i}"), json!("7".repeat(1_000_000)));
    }
    let d = doc(&Value::Object(map));
    let mut total = 0;
    let mut count = 0;
    send_node_frame("{\"state\":".into(), d.root.clone(), "}".into(), |p| {
        total += p.len();
        count += 1;
    });
    assert!(count <= 17, "{count} parts");
    assert!(total < d.bytes() + d.bytes() / 50, "{total} bytes of parts for {} bytes", d.bytes());
}
