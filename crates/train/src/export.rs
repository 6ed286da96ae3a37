//! A [`Backbone`] as an ONNX recognizer with InsightFace's signature:
//! `input.1` `[N, 3, 112, 112]` (dynamic batch, RGB, `(x − 127.5) / 127.5`,
//! so no normalisation nodes at the head: InsightFace's rule and facekit's
//! router both read that as 127.5/127.5) → `[N, num_features]`, opset 13,
//! inference form (batch norms with their running statistics, no dropout).
//!
//! Written with a few lines of protobuf encoding instead of a generated
//! binding: the graph needs five message types and the writer streams the
//! weights straight from the tensors.

use std::path::Path;

use tch::{Kind, Tensor};

use crate::backbone::{Backbone, Layer};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The output file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A tensor could not be read out of libtorch.
    #[error("reading weights: {0}")]
    Tensor(#[from] tch::TchError),
}

/// The graph input's name, as InsightFace's ArcFace files call it.
pub const INPUT: &str = "input.1";
/// The graph output's name.
pub const OUTPUT: &str = "embedding";

/// Protobuf wire encoding: just what ONNX's messages need.
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn int(&mut self, field: u64, v: i64) -> &mut Self {
        self.varint(field << 3);
        self.varint(v as u64);
        self
    }

    fn bytes(&mut self, field: u64, data: &[u8]) -> &mut Self {
        self.varint((field << 3) | 2);
        self.varint(data.len() as u64);
        self.0.extend_from_slice(data);
        self
    }

    fn string(&mut self, field: u64, s: &str) -> &mut Self {
        self.bytes(field, s.as_bytes())
    }

    fn message(&mut self, field: u64, m: &Message) -> &mut Self {
        self.bytes(field, &m.0)
    }

    fn float(&mut self, field: u64, v: f32) -> &mut Self {
        self.varint((field << 3) | 5);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
}

/// ONNX attribute values used here.
enum Attribute<'a> {
    Int(&'a str, i64),
    Ints(&'a str, &'a [i64]),
    Float(&'a str, f32),
}

/// The graph under construction: nodes, weights and fresh value names.
#[derive(Default)]
struct Graph {
    nodes: Vec<Message>,
    initializers: Vec<Message>,
    counter: usize,
}

impl Graph {
    fn fresh(&mut self, what: &str) -> String {
        self.counter += 1;
        format!("{what}_{}", self.counter)
    }

    /// A float initializer from a tensor (reshaped to `shape` when given).
    fn weight(&mut self, tensor: &Tensor, shape: Option<&[i64]>) -> Result<String, ExportError> {
        let name = self.fresh("w");
        let tensor = tensor.detach().to_kind(Kind::Float).contiguous();
        let dims = shape.map_or_else(|| tensor.size(), <[i64]>::to_vec);
        let values: Vec<f32> = Vec::try_from(tensor.flatten(0, -1))?;
        let mut t = Message::default();
        for d in dims {
            t.int(1, d);
        }
        t.int(2, 1); // FLOAT
        t.string(8, &name);
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        t.bytes(9, &raw);
        self.initializers.push(t);
        Ok(name)
    }

    fn node(&mut self, op: &str, inputs: &[&str], attributes: &[Attribute]) -> String {
        let output = self.fresh(op);
        let mut n = Message::default();
        for input in inputs {
            n.string(1, input);
        }
        n.string(2, &output);
        n.string(3, &format!("{op}_{}", self.nodes.len()));
        n.string(4, op);
        for attribute in attributes {
            let mut a = Message::default();
            match attribute {
                Attribute::Int(name, v) => {
                    a.string(1, name).int(3, *v).int(20, 2);
                }
                Attribute::Ints(name, vs) => {
                    a.string(1, name);
                    for v in *vs {
                        a.int(8, *v);
                    }
                    a.int(20, 7);
                }
                Attribute::Float(name, v) => {
                    a.string(1, name).float(2, *v).int(20, 1);
                }
            }
            n.message(5, &a);
        }
        self.nodes.push(n);
        output
    }

    fn layers(&mut self, layers: &[Layer], x: String) -> Result<String, ExportError> {
        let mut x = x;
        for layer in layers {
            x = self.layer(layer, x)?;
        }
        Ok(x)
    }

    fn layer(&mut self, layer: &Layer, x: String) -> Result<String, ExportError> {
        Ok(match layer {
            Layer::Conv(c) => {
                let w = self.weight(&c.weight, None)?;
                let size = c.weight.size();
                let p = c.padding;
                self.node(
                    "Conv",
                    &[&x, &w],
                    &[
                        Attribute::Ints("kernel_shape", &size[2..]),
                        Attribute::Ints("strides", &[c.stride, c.stride]),
                        Attribute::Ints("pads", &[p, p, p, p]),
                        Attribute::Int("group", c.groups),
                    ],
                )
            }
            Layer::BatchNorm(bn) => {
                let channels = bn.running_mean.size()[0];
                let ones = Tensor::ones([channels], (Kind::Float, tch::Device::Cpu));
                let zeros = Tensor::zeros([channels], (Kind::Float, tch::Device::Cpu));
                let scale = self.weight(bn.ws.as_ref().unwrap_or(&ones), None)?;
                let bias = self.weight(bn.bs.as_ref().unwrap_or(&zeros), None)?;
                let mean = self.weight(&bn.running_mean, None)?;
                let var = self.weight(&bn.running_var, None)?;
                self.node(
                    "BatchNormalization",
                    &[&x, &scale, &bias, &mean, &var],
                    &[Attribute::Float("epsilon", 1e-5)],
                )
            }
            Layer::PRelu(slope) => {
                // One slope per channel, broadcast over H and W.
                let channels = slope.size()[0];
                let s = self.weight(slope, Some(&[channels, 1, 1]))?;
                self.node("PRelu", &[&x, &s], &[])
            }
            Layer::Linear { weight, bias } => {
                let w = self.weight(weight, None)?;
                let mut inputs = vec![x.clone(), w];
                if let Some(b) = bias {
                    inputs.push(self.weight(b, None)?);
                }
                let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                self.node("Gemm", &inputs, &[Attribute::Int("transB", 1)])
            }
            Layer::Flatten => self.node("Flatten", &[&x], &[Attribute::Int("axis", 1)]),
            Layer::Dropout(_) => x, // inference: identity
            Layer::Residual { body, shortcut } => {
                let main = self.layers(body, x.clone())?;
                let side = if shortcut.is_empty() {
                    x
                } else {
                    self.layers(shortcut, x)?
                };
                self.node("Add", &[&main, &side], &[])
            }
        })
    }
}

fn value_info(name: &str, dims: &[Result<i64, &str>]) -> Message {
    let mut shape = Message::default();
    for d in dims {
        let mut dim = Message::default();
        match d {
            Ok(v) => dim.int(1, *v),
            Err(param) => dim.string(2, param),
        };
        shape.message(1, &dim);
    }
    let mut tensor = Message::default();
    tensor.int(1, 1).message(2, &shape);
    let mut ty = Message::default();
    ty.message(1, &tensor);
    let mut info = Message::default();
    info.string(1, name).message(2, &ty);
    info
}

/// The ONNX bytes of `net` in inference form.
pub fn to_onnx(net: &Backbone) -> Result<Vec<u8>, ExportError> {
    let mut graph = Graph::default();
    let last = tch::no_grad(|| graph.layers(&net.layers, INPUT.to_string()))?;
    let mut g = Message::default();
    for node in &graph.nodes {
        g.message(1, node);
    }
    g.string(2, &format!("facekit_{:?}", net.architecture));
    for init in &graph.initializers {
        g.message(5, init);
    }
    g.message(11, &value_info(INPUT, &[Err("N"), Ok(3), Ok(112), Ok(112)]));
    // The last node's output is renamed by an Identity to the public name.
    let output = {
        let mut n = Message::default();
        n.string(1, &last)
            .string(2, OUTPUT)
            .string(3, "Identity_out")
            .string(4, "Identity");
        n
    };
    g.message(1, &output);
    g.message(12, &value_info(OUTPUT, &[Err("N"), Ok(net.num_features)]));
    let mut opset = Message::default();
    opset.string(1, "").int(2, 13);
    let mut model = Message::default();
    model
        .int(1, 8)
        .string(2, "facekit-train")
        .message(7, &g)
        .message(8, &opset);
    Ok(model.0)
}

/// Writes `net` to `path` as ONNX.
///
/// ```no_run
/// use facekit_train::backbone::{Architecture, Backbone};
/// let store = tch::nn::VarStore::new(tch::Device::Cpu);
/// let net = Backbone::new(&store.root(), Architecture::MobileFaceNet, 512, 0.0);
/// facekit_train::export::write_onnx(&net, "mbf.onnx".as_ref())?;
/// # Ok::<(), facekit_train::export::ExportError>(())
/// ```
pub fn write_onnx(net: &Backbone, path: &Path) -> Result<(), ExportError> {
    let bytes = to_onnx(net)?;
    std::fs::write(path, bytes).map_err(|source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    })
}
