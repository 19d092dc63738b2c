//! Measuring JSON values without building anything: their serialized size and nesting depth.
//!
//! Both are what the size and depth bounds of a session are checked against (docs/http-api.md,
//! "Bounds"). Depth is measured with an explicit stack, so no value can overflow the native
//! stack here; the size count serializes into a byte counter, which recurses only as deep as
//! the value, and every value that reaches it has passed a depth bound first.

use std::io;

use serde_json::Value;

/// Counts the bytes written to it and keeps none.
struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The length in bytes of `value` serialized compactly (`serde_json::to_string`).
pub fn json_size(value: &Value) -> usize {
    let mut counter = ByteCounter(0);
    // Writing a `Value` to an infallible writer cannot fail (keys are strings, numbers finite).
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// The serialized length of `key` as a JSON string, quotes and escapes included.
pub fn key_size(key: &str) -> usize {
    let mut counter = ByteCounter(0);
    let _ = serde_json::to_writer(&mut counter, key);
    counter.0
}

/// How many containers deep `value` is: 0 for a scalar, 1 for `[]` or `{"a": 1}`, 2 for `[[]]`.
pub fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((v, above)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        let level = above + 1;
        deepest = deepest.max(level);
        stack.extend(children.map(|c| (c, level)));
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn size_matches_serialization() {
        for v in
            [json!(null), json!({"a": [1, 2.5, "x\"y\n"], "é": {"k": true}}), json!([]), json!({}), json!("\u{1F600}")]
        {
            assert_eq!(json_size(&v), serde_json::to_string(&v).unwrap().len(), "{v}");
        }
        assert_eq!(key_size("a\"b"), 6);
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!([])), 1);
        assert_eq!(depth(&json!({"a": [[{}]]})), 4);
        assert_eq!(depth(&json!([1, [2, [3]], {"x": 1}])), 3);
    }

    #[test]
    fn depth_of_a_very_deep_value_does_not_recurse() {
        let mut v = json!(0);
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(depth(&v), 100_000);
        // Dropping a value this deep recurses in serde_json; take it apart iteratively instead.
        let mut cur = v;
        while let Value::Array(mut items) = cur {
            cur = items.pop().unwrap_or(Value::Null);
        }
    }
}
