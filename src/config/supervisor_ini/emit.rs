//! The translated tree as taskmaster YAML (`--print-config yaml`): what a user
//! keeps to leave the INI file behind. It loads into the same configuration.

use serde_yaml::{Mapping, Number, Value};

use crate::config::tree::Node;

/// `root` as a YAML document.
pub(crate) fn to_yaml(root: &Node) -> String {
    serde_yaml::to_string(&value(root)).unwrap_or_default()
}

fn value(node: &Node) -> Value {
    match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Int(i) => match i64::try_from(*i) {
            Ok(n) => Value::Number(Number::from(n)),
            Err(_) => Value::String(i.to_string()),
        },
        Node::Huge(text) | Node::Tagged(text) => Value::String(text.clone()),
        Node::Float(x) => Value::Number(Number::from(*x)),
        Node::Str(s) => Value::String(s.clone()),
        Node::Seq(items) => Value::Sequence(items.iter().map(value).collect()),
        Node::Map(entries) => {
            let mut map = Mapping::new();
            for (k, v) in entries {
                map.insert(Value::String(k.clone()), value(v));
            }
            Value::Mapping(map)
        }
    }
}
