//! The recognizers arcface_torch trains: IResNet 18/34/50/100
//! (`backbones/iresnet.py`) and MobileFaceNet (`backbones/mobilefacenet.py`,
//! `get_mbf`), 112×112 faces in, `num_features` (512) out. Parameters have
//! arcface_torch's state-dict names (`layer1.0.bn1.weight`, `features.bias`,
//! `layers.2.layers.1.layers.0.weight`…), so weights move between the two
//! by name. A network is a list of [`Layer`]s that both [`Backbone::forward_t`]
//! and the ONNX export walk, so the two cannot disagree on the graph.

use std::str::FromStr;

use tch::{Tensor, nn};

/// Which network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// IResNet with [2, 2, 2, 2] blocks.
    IResNet18,
    /// IResNet with [3, 4, 6, 3] blocks.
    IResNet34,
    /// IResNet with [3, 4, 14, 3] blocks.
    IResNet50,
    /// IResNet with [3, 13, 30, 3] blocks.
    IResNet100,
    /// MobileFaceNet, blocks (1, 4, 6, 2), scale 2 (`get_mbf`).
    MobileFaceNet,
}

impl FromStr for Architecture {
    type Err = String;

    /// arcface_torch's config names: `r18`, `r34`, `r50`, `r100`, `mbf`.
    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "r18" => Ok(Self::IResNet18),
            "r34" => Ok(Self::IResNet34),
            "r50" => Ok(Self::IResNet50),
            "r100" => Ok(Self::IResNet100),
            "mbf" => Ok(Self::MobileFaceNet),
            other => Err(format!(
                "unknown network {other:?} (r18, r34, r50, r100, mbf)"
            )),
        }
    }
}

/// A 2-D convolution without bias, as every one of these networks has.
#[derive(Debug)]
pub struct Conv {
    /// `[out, in / groups, k, k]`.
    pub weight: Tensor,
    /// Stride.
    pub stride: i64,
    /// Zero padding on each side.
    pub padding: i64,
    /// Channel groups.
    pub groups: i64,
}

/// One step of a network.
#[derive(Debug)]
pub enum Layer {
    /// Convolution.
    Conv(Conv),
    /// Batch normalisation (2-D over channels or 1-D over features).
    BatchNorm(nn::BatchNorm),
    /// PReLU with one slope per channel.
    PRelu(Tensor),
    /// Fully connected: `x·Wᵀ + b`.
    Linear {
        /// `[out, in]`.
        weight: Tensor,
        /// `[out]`, when there is one.
        bias: Option<Tensor>,
    },
    /// `[N, C, H, W]` → `[N, C·H·W]`.
    Flatten,
    /// Dropout with this probability while training.
    Dropout(f64),
    /// `body(x) + shortcut(x)`, the shortcut being `x` itself when empty.
    Residual {
        /// The main branch.
        body: Vec<Layer>,
        /// The projection, or nothing for the identity.
        shortcut: Vec<Layer>,
    },
}

impl Layer {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            Layer::Conv(c) => x.conv2d(
                &c.weight,
                None::<Tensor>,
                [c.stride; 2],
                [c.padding; 2],
                [1, 1],
                c.groups,
            ),
            Layer::BatchNorm(bn) => nn::ModuleT::forward_t(bn, x, train),
            Layer::PRelu(slope) => x.prelu(slope),
            Layer::Linear { weight, bias } => x.linear(weight, bias.as_ref()),
            Layer::Flatten => x.flatten(1, -1),
            Layer::Dropout(p) => x.dropout(*p, train),
            Layer::Residual { body, shortcut } => {
                let main = run(body, x, train);
                if shortcut.is_empty() {
                    main + x
                } else {
                    main + run(shortcut, x, train)
                }
            }
        }
    }
}

fn run(layers: &[Layer], x: &Tensor, train: bool) -> Tensor {
    layers
        .iter()
        .fold(x.shallow_clone(), |h, layer| layer.forward_t(&h, train))
}

/// A recognizer: its layers and what it is.
#[derive(Debug)]
pub struct Backbone {
    /// Which network.
    pub architecture: Architecture,
    /// Embedding size.
    pub num_features: i64,
    /// The layers in order.
    pub layers: Vec<Layer>,
}

impl Backbone {
    /// Creates the network's variables under `path` with arcface_torch's
    /// initialisation and names.
    ///
    /// ```
    /// use facekit_train::backbone::{Architecture, Backbone};
    /// let store = tch::nn::VarStore::new(tch::Device::Cpu);
    /// let net = Backbone::new(&store.root(), Architecture::MobileFaceNet, 512, 0.0);
    /// let faces = tch::Tensor::zeros([2, 3, 112, 112], (tch::Kind::Float, tch::Device::Cpu));
    /// assert_eq!(net.forward_t(&faces, false).size(), [2, 512]);
    /// assert!(store.variables().contains_key("features.layers.3.running_var"));
    /// ```
    pub fn new(
        path: &nn::Path,
        architecture: Architecture,
        num_features: i64,
        dropout: f64,
    ) -> Self {
        let layers = match architecture {
            Architecture::IResNet18 => iresnet(path, [2, 2, 2, 2], num_features, dropout),
            Architecture::IResNet34 => iresnet(path, [3, 4, 6, 3], num_features, dropout),
            Architecture::IResNet50 => iresnet(path, [3, 4, 14, 3], num_features, dropout),
            Architecture::IResNet100 => iresnet(path, [3, 13, 30, 3], num_features, dropout),
            Architecture::MobileFaceNet => mobilefacenet(path, [1, 4, 6, 2], 2, num_features),
        };
        Self {
            architecture,
            num_features,
            layers,
        }
    }

    /// Embeddings of `[N, 3, 112, 112]` faces (batch statistics and dropout
    /// when `train`).
    pub fn forward_t(&self, faces: &Tensor, train: bool) -> Tensor {
        run(&self.layers, faces, train)
    }
}

/// A convolution's channels and geometry: `(in, out, kernel, stride,
/// padding, groups)`.
type ConvShape = (i64, i64, i64, i64, i64, i64);

fn conv(
    path: nn::Path,
    (cin, cout, kernel, stride, padding, groups): ConvShape,
    init: nn::Init,
) -> Layer {
    let weight = path.var("weight", &[cout, cin / groups, kernel, kernel], init);
    Layer::Conv(Conv {
        weight,
        stride,
        padding,
        groups,
    })
}

fn batch_norm2d(path: nn::Path, channels: i64) -> Layer {
    Layer::BatchNorm(nn::batch_norm2d(path, channels, Default::default()))
}

fn prelu(path: nn::Path, channels: i64) -> Layer {
    Layer::PRelu(path.var("weight", &[channels], nn::Init::Const(0.25)))
}

/// The final `BatchNorm1d` of both networks.
fn features(path: nn::Path, num_features: i64, frozen_weight: bool) -> Layer {
    if !frozen_weight {
        return Layer::BatchNorm(nn::batch_norm1d(path, num_features, Default::default()));
    }
    // arcface_torch fixes IResNet's feature scale at 1 (requires_grad False).
    let mut bn = nn::batch_norm1d(
        &path,
        num_features,
        nn::BatchNormConfig {
            affine: false,
            ..Default::default()
        },
    );
    bn.ws = Some(path.ones_no_train("weight", &[num_features]));
    bn.bs = Some(path.var("bias", &[num_features], nn::Init::Const(0.0)));
    Layer::BatchNorm(bn)
}

fn iresnet(path: &nn::Path, blocks: [i64; 4], num_features: i64, dropout: f64) -> Vec<Layer> {
    // arcface_torch: conv weights N(0, 0.1), BN weight 1 and bias 0.
    let init = nn::Init::Randn {
        mean: 0.0,
        stdev: 0.1,
    };
    let mut layers = vec![
        conv(path / "conv1", (3, 64, 3, 1, 1, 1), init),
        batch_norm2d(path / "bn1", 64),
        prelu(path / "prelu", 64),
    ];
    let mut inplanes = 64;
    for (stage, (planes, count)) in [64, 128, 256, 512].into_iter().zip(blocks).enumerate() {
        for index in 0..count {
            let block = path / format!("layer{}", stage + 1) / index;
            let stride = if index == 0 { 2 } else { 1 };
            let shortcut = if stride != 1 || inplanes != planes {
                vec![
                    conv(
                        &block / "downsample" / 0,
                        (inplanes, planes, 1, stride, 0, 1),
                        init,
                    ),
                    batch_norm2d(&block / "downsample" / 1, planes),
                ]
            } else {
                Vec::new()
            };
            let body = vec![
                batch_norm2d(&block / "bn1", inplanes),
                conv(&block / "conv1", (inplanes, planes, 3, 1, 1, 1), init),
                batch_norm2d(&block / "bn2", planes),
                prelu(&block / "prelu", planes),
                conv(&block / "conv2", (planes, planes, 3, stride, 1, 1), init),
                batch_norm2d(&block / "bn3", planes),
            ];
            layers.push(Layer::Residual { body, shortcut });
            inplanes = planes;
        }
    }
    layers.extend([
        batch_norm2d(path / "bn2", 512),
        Layer::Flatten,
        Layer::Dropout(dropout),
        Layer::Linear {
            weight: (path / "fc").var(
                "weight",
                &[num_features, 512 * 7 * 7],
                nn::Init::Kaiming {
                    dist: nn::init::NormalOrUniform::Uniform,
                    fan: nn::init::FanInOut::FanIn,
                    non_linearity: nn::init::NonLinearity::ExplicitGain(1.0 / 3f64.sqrt()),
                },
            ),
            bias: Some((path / "fc").var(
                "bias",
                &[num_features],
                nn::Init::Uniform {
                    lo: -1.0 / (512f64 * 49.0).sqrt(),
                    up: 1.0 / (512f64 * 49.0).sqrt(),
                },
            )),
        },
        features(path / "features", num_features, true),
    ]);
    layers
}

/// MobileFaceNet's `ConvBlock` (conv, BN, PReLU) or `LinearBlock` (no PReLU)
/// under `path/layers`.
fn conv_block(path: nn::Path, shape: ConvShape, activation: bool) -> Vec<Layer> {
    // kaiming_normal_(mode='fan_out', nonlinearity='relu').
    let init = nn::Init::Kaiming {
        dist: nn::init::NormalOrUniform::Normal,
        fan: nn::init::FanInOut::FanOut,
        non_linearity: nn::init::NonLinearity::ReLU,
    };
    let layers = &path / "layers";
    let mut out = vec![
        conv(&layers / 0, shape, init),
        batch_norm2d(&layers / 1, shape.1),
    ];
    if activation {
        out.push(prelu(&layers / 2, shape.1));
    }
    out
}

/// `DepthWise`: 1×1 expand to `groups`, k×k depthwise, 1×1 project.
fn depthwise(path: nn::Path, cin: i64, cout: i64, stride: i64, groups: i64) -> Vec<Layer> {
    let layers = &path / "layers";
    let mut out = conv_block(&layers / 0, (cin, groups, 1, 1, 0, 1), true);
    out.extend(conv_block(
        &layers / 1,
        (groups, groups, 3, stride, 1, groups),
        true,
    ));
    out.extend(conv_block(&layers / 2, (groups, cout, 1, 1, 0, 1), false));
    out
}

fn mobilefacenet(path: &nn::Path, blocks: [i64; 4], scale: i64, num_features: i64) -> Vec<Layer> {
    assert_eq!(
        blocks[0], 1,
        "get_mbf's first stage is one grouped ConvBlock"
    );
    let layers = path / "layers";
    let (c64, c128) = (64 * scale, 128 * scale);
    let mut out = conv_block(&layers / 0, (3, c64, 3, 2, 1, 1), true);
    out.extend(conv_block(&layers / 1, (c64, c64, 3, 1, 1, 64), true));
    let residual = |index: i64, channels: i64, count: i64, groups: i64| -> Vec<Layer> {
        (0..count)
            .map(|k| Layer::Residual {
                body: depthwise(
                    &layers / index / "layers" / k,
                    channels,
                    channels,
                    1,
                    groups,
                ),
                shortcut: Vec::new(),
            })
            .collect()
    };
    out.extend(depthwise(&layers / 2, c64, c64, 2, 128));
    out.extend(residual(3, c64, blocks[1], 128));
    out.extend(depthwise(&layers / 4, c64, c128, 2, 256));
    out.extend(residual(5, c128, blocks[2], 256));
    out.extend(depthwise(&layers / 6, c128, c128, 2, 512));
    out.extend(residual(7, c128, blocks[3], 256));
    out.extend(conv_block(path / "conv_sep", (c128, 512, 1, 1, 0, 1), true));
    let gdc = path / "features" / "layers";
    out.extend(conv_block(&gdc / 0, (512, 512, 7, 1, 0, 512), false));
    out.push(Layer::Flatten);
    out.push(Layer::Linear {
        weight: (&gdc / 2).var(
            "weight",
            &[num_features, 512],
            nn::Init::Kaiming {
                dist: nn::init::NormalOrUniform::Normal,
                fan: nn::init::FanInOut::FanOut,
                non_linearity: nn::init::NonLinearity::ReLU,
            },
        ),
        bias: None,
    });
    out.push(features(&gdc / 3, num_features, false));
    out
}
