//! Just enough of the ONNX protobuf to route and sanitise models.
//!
//! Hand-written instead of a generated protobuf binding because only three
//! facts are needed (the leading node names InsightFace's normalisation rule
//! reads, which graph inputs no node consumes, and a copy of the model without
//! them), and a wire-level scan borrows the 100+ MB of weights instead of
//! decoding them into owned messages.

/// Why an ONNX file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The bytes are not a well-formed protobuf message.
    #[error("malformed ONNX protobuf: {0}")]
    Malformed(&'static str),
    /// The model has no graph.
    #[error("the ONNX file has no graph")]
    NoGraph,
}

/// What facekit reads from an ONNX graph besides the session's signature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphInfo {
    /// Names of the first nodes, in file order (InsightFace looks at 8).
    pub leading_node_names: Vec<String>,
    /// Graph inputs that are neither initializers nor consumed by any node.
    pub unused_inputs: Vec<String>,
}

enum Value<'a> {
    Varint,
    Bytes(&'a [u8]),
    Fixed,
}

struct Field<'a> {
    number: u64,
    value: Value<'a>,
    /// The whole encoded field (tag, length and payload).
    raw: &'a [u8],
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, GraphError> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf
            .get(*pos)
            .ok_or(GraphError::Malformed("truncated varint"))?;
        *pos += 1;
        out |= u64::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err(GraphError::Malformed("varint too long"))
}

fn fields(buf: &[u8]) -> impl Iterator<Item = Result<Field<'_>, GraphError>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= buf.len() {
            return None;
        }
        let start = pos;
        let field = (|| {
            let tag = varint(buf, &mut pos)?;
            let value = match tag & 7 {
                0 => {
                    varint(buf, &mut pos)?;
                    Value::Varint
                }
                1 => {
                    pos += 8;
                    Value::Fixed
                }
                2 => {
                    let len = varint(buf, &mut pos)? as usize;
                    let end = pos.checked_add(len).filter(|&e| e <= buf.len());
                    let end = end.ok_or(GraphError::Malformed("field past end of message"))?;
                    let bytes = &buf[pos..end];
                    pos = end;
                    Value::Bytes(bytes)
                }
                5 => {
                    pos += 4;
                    Value::Fixed
                }
                _ => return Err(GraphError::Malformed("unsupported wire type")),
            };
            if pos > buf.len() {
                return Err(GraphError::Malformed("fixed field past end of message"));
            }
            Ok(Field {
                number: tag >> 3,
                value,
                raw: &buf[start..pos],
            })
        })();
        if field.is_err() {
            pos = buf.len();
        }
        Some(field)
    })
}

fn string_field(msg: &[u8], number: u64) -> Result<Option<String>, GraphError> {
    for f in fields(msg) {
        let f = f?;
        if let (true, Value::Bytes(b)) = (f.number == number, f.value) {
            return Ok(Some(String::from_utf8_lossy(b).into_owned()));
        }
    }
    Ok(None)
}

// Field numbers from onnx.proto.
const MODEL_GRAPH: u64 = 7;
const GRAPH_NODE: u64 = 1;
const GRAPH_INITIALIZER: u64 = 5;
const GRAPH_INPUT: u64 = 11;
const NODE_INPUT: u64 = 1;
const NODE_NAME: u64 = 3;
const NODE_ATTRIBUTE: u64 = 5;
const ATTRIBUTE_GRAPH: u64 = 6;
const ATTRIBUTE_GRAPHS: u64 = 11;
const TENSOR_NAME: u64 = 8;
const VALUE_INFO_NAME: u64 = 1;

fn graph_of(model: &[u8]) -> Result<&[u8], GraphError> {
    for f in fields(model) {
        let f = f?;
        if let (MODEL_GRAPH, Value::Bytes(b)) = (f.number, f.value) {
            return Ok(b);
        }
    }
    Err(GraphError::NoGraph)
}

/// Deepest nesting of subgraphs (If/Loop bodies) walked; real models nest a
/// few levels, and each level is a stack frame here.
const MAX_SUBGRAPH_DEPTH: usize = 32;

/// Adds every name consumed by a node of `graph`, including nodes of nested
/// subgraphs (which may read outer-scope values), `depth` levels down.
fn collect_consumed(
    graph: &[u8],
    out: &mut std::collections::HashSet<String>,
    depth: usize,
) -> Result<(), GraphError> {
    if depth > MAX_SUBGRAPH_DEPTH {
        return Err(GraphError::Malformed(
            "subgraphs nest deeper than 32 levels",
        ));
    }
    for f in fields(graph) {
        let f = f?;
        let (GRAPH_NODE, Value::Bytes(node)) = (f.number, f.value) else {
            continue;
        };
        for nf in fields(node) {
            let nf = nf?;
            match (nf.number, nf.value) {
                (NODE_INPUT, Value::Bytes(name)) => {
                    out.insert(String::from_utf8_lossy(name).into_owned());
                }
                (NODE_ATTRIBUTE, Value::Bytes(attr)) => {
                    for af in fields(attr) {
                        let af = af?;
                        if let (ATTRIBUTE_GRAPH | ATTRIBUTE_GRAPHS, Value::Bytes(sub)) =
                            (af.number, af.value)
                        {
                            collect_consumed(sub, out, depth + 1)?;
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

impl GraphInfo {
    /// Scans a serialized ONNX `ModelProto`.
    pub fn scan(model: &[u8]) -> Result<Self, GraphError> {
        let graph = graph_of(model)?;
        let mut info = GraphInfo::default();
        let mut initializers = std::collections::HashSet::new();
        let mut inputs = Vec::new();
        for f in fields(graph) {
            let f = f?;
            match (f.number, f.value) {
                (GRAPH_NODE, Value::Bytes(node)) if info.leading_node_names.len() < 8 => {
                    info.leading_node_names
                        .push(string_field(node, NODE_NAME)?.unwrap_or_default());
                }
                (GRAPH_INITIALIZER, Value::Bytes(t)) => {
                    if let Some(name) = string_field(t, TENSOR_NAME)? {
                        initializers.insert(name);
                    }
                }
                (GRAPH_INPUT, Value::Bytes(vi)) => {
                    inputs.push(string_field(vi, VALUE_INFO_NAME)?.unwrap_or_default());
                }
                _ => {}
            }
        }
        let mut consumed = std::collections::HashSet::new();
        collect_consumed(graph, &mut consumed, 0)?;
        info.unused_inputs = inputs
            .into_iter()
            .filter(|n| !consumed.contains(n) && !initializers.contains(n))
            .collect();
        Ok(info)
    }
}

fn encode_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A copy of `model` whose graph no longer declares the inputs in `drop`.
/// ONNX Runtime insists on being fed every declared input, even one no node
/// reads (quantisers leave such inputs behind), so these are removed first.
pub fn without_inputs(model: &[u8], drop: &[String]) -> Result<Vec<u8>, GraphError> {
    let graph = graph_of(model)?;
    let mut new_graph = Vec::with_capacity(graph.len());
    for f in fields(graph) {
        let f = f?;
        if let (GRAPH_INPUT, Value::Bytes(vi)) = (f.number, &f.value)
            && string_field(vi, VALUE_INFO_NAME)?.is_some_and(|n| drop.contains(&n))
        {
            continue;
        }
        new_graph.extend_from_slice(f.raw);
    }
    let mut out = Vec::with_capacity(model.len());
    for f in fields(model) {
        let f = f?;
        if f.number != MODEL_GRAPH {
            out.extend_from_slice(f.raw);
        }
    }
    encode_varint((MODEL_GRAPH << 3) | 2, &mut out);
    encode_varint(new_graph.len() as u64, &mut out);
    out.extend_from_slice(&new_graph);
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Appends a length-delimited field to `out`.
    pub(crate) fn put(out: &mut Vec<u8>, number: u64, payload: &[u8]) {
        encode_varint((number << 3) | 2, out);
        encode_varint(payload.len() as u64, out);
        out.extend_from_slice(payload);
    }

    /// A copy of `model` whose graph also declares an input `name` (float,
    /// no shape) that no node reads.
    pub(crate) fn with_extra_input(model: &[u8], name: &str) -> Vec<u8> {
        let mut graph = graph_of(model).unwrap().to_vec();
        let mut tensor_type = Vec::new();
        put(&mut tensor_type, 1, &[]); // TypeProto.tensor_type, element type unset
        let mut value_info = Vec::new();
        put(&mut value_info, VALUE_INFO_NAME, name.as_bytes());
        put(&mut value_info, 2, &tensor_type);
        put(&mut graph, GRAPH_INPUT, &value_info);
        let mut out = Vec::new();
        for f in fields(model) {
            let f = f.unwrap();
            if f.number != MODEL_GRAPH {
                out.extend_from_slice(f.raw);
            }
        }
        put(&mut out, MODEL_GRAPH, &graph);
        out
    }

    fn tiny_model() -> Vec<u8> {
        let mut node = Vec::new();
        put(&mut node, NODE_INPUT, b"x");
        put(&mut node, 2, b"y");
        put(&mut node, NODE_NAME, b"_minusscalar0");
        let mut graph = Vec::new();
        put(&mut graph, GRAPH_NODE, &node);
        for name in [&b"x"[..], b"dangling", b"w"] {
            let mut vi = Vec::new();
            put(&mut vi, VALUE_INFO_NAME, name);
            put(&mut graph, GRAPH_INPUT, &vi);
        }
        let mut init = Vec::new();
        put(&mut init, TENSOR_NAME, b"w");
        put(&mut graph, GRAPH_INITIALIZER, &init);
        let mut model = vec![0x08, 0x07]; // ir_version = 7
        put(&mut model, MODEL_GRAPH, &graph);
        model
    }

    #[test]
    fn scan_finds_node_names_and_unused_inputs() {
        let info = GraphInfo::scan(&tiny_model()).unwrap();
        assert_eq!(info.leading_node_names, vec!["_minusscalar0"]);
        assert_eq!(info.unused_inputs, vec!["dangling"]);
    }

    #[test]
    fn without_inputs_drops_only_the_named_input() {
        let stripped = without_inputs(&tiny_model(), &["dangling".into()]).unwrap();
        let info = GraphInfo::scan(&stripped).unwrap();
        assert!(info.unused_inputs.is_empty());
        assert_eq!(info.leading_node_names, vec!["_minusscalar0"]);
    }

    /// A graph whose one node holds a graph attribute holding a node … 1,000
    /// levels deep: a clear error, not a stack overflow.
    #[test]
    fn deeply_nested_subgraphs_are_refused() {
        let mut graph = Vec::new();
        for _ in 0..1_000 {
            let mut attribute = Vec::new();
            put(&mut attribute, ATTRIBUTE_GRAPH, &graph);
            let mut node = Vec::new();
            put(&mut node, NODE_ATTRIBUTE, &attribute);
            graph = Vec::new();
            put(&mut graph, GRAPH_NODE, &node);
        }
        let mut model = Vec::new();
        put(&mut model, MODEL_GRAPH, &graph);
        let err = GraphInfo::scan(&model).unwrap_err();
        assert!(err.to_string().contains("nest deeper"), "{err}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(GraphInfo::scan(&[0x3A, 0xFF, 0xFF, 0xFF, 0x0F]).is_err());
        assert!(matches!(
            GraphInfo::scan(&[0x08, 0x07]),
            Err(GraphError::NoGraph)
        ));
    }
}
