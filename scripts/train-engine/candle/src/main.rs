use candle_core::{D, DType, Device, Module, ModuleT, Result, Tensor};
use candle_nn::{
    BatchNorm, Conv2d, Conv2dConfig, Linear, PReLU, VarBuilder, VarMap, batch_norm, conv2d_no_bias,
    linear,
};

struct Block {
    bn1: BatchNorm,
    conv1: Conv2d,
    bn2: BatchNorm,
    prelu: PReLU,
    conv2: Conv2d,
    bn3: BatchNorm,
    down: Option<(Conv2d, BatchNorm)>,
}
fn prelu(c: usize, vb: VarBuilder) -> Result<PReLU> {
    let w = vb.get_with_hints(c, "weight", candle_nn::Init::Const(0.25))?;
    Ok(PReLU::new(w, false))
}
fn conv(
    i: usize,
    o: usize,
    k: usize,
    s: usize,
    p: usize,
    g: usize,
    vb: VarBuilder,
) -> Result<Conv2d> {
    conv2d_no_bias(
        i,
        o,
        k,
        Conv2dConfig {
            stride: s,
            padding: p,
            groups: g,
            ..Default::default()
        },
        vb,
    )
}
impl Block {
    fn new(inp: usize, planes: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        let down = if stride != 1 || inp != planes {
            Some((
                conv(inp, planes, 1, stride, 0, 1, vb.pp("ds0"))?,
                batch_norm(planes, 1e-5, vb.pp("ds1"))?,
            ))
        } else {
            None
        };
        Ok(Self {
            bn1: batch_norm(inp, 1e-5, vb.pp("bn1"))?,
            conv1: conv(inp, planes, 3, 1, 1, 1, vb.pp("conv1"))?,
            bn2: batch_norm(planes, 1e-5, vb.pp("bn2"))?,
            prelu: prelu(planes, vb.pp("prelu"))?,
            conv2: conv(planes, planes, 3, stride, 1, 1, vb.pp("conv2"))?,
            bn3: batch_norm(planes, 1e-5, vb.pp("bn3"))?,
            down,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let o = self.bn1.forward_t(x, true)?;
        let o = self.conv1.forward(&o)?;
        let o = self.bn2.forward_t(&o, true)?;
        let o = self.prelu.forward(&o)?;
        let o = self.conv2.forward(&o)?;
        let o = self.bn3.forward_t(&o, true)?;
        let id = match &self.down {
            Some((c, b)) => b.forward_t(&c.forward(x)?, true)?,
            None => x.clone(),
        };
        o + id
    }
}
fn main() -> Result<()> {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    let conv1 = conv(3, 64, 3, 1, 1, 1, vb.pp("conv1"))?;
    let bn1 = batch_norm(64, 1e-5, vb.pp("bn1"))?;
    let pr = prelu(64, vb.pp("prelu"))?;
    let mut blocks = vec![];
    let mut inp = 64;
    for (li, (planes, n)) in [(64, 3), (128, 4), (256, 14), (512, 3)]
        .into_iter()
        .enumerate()
    {
        for b in 0..n {
            blocks.push(Block::new(
                inp,
                planes,
                if b == 0 { 2 } else { 1 },
                vb.pp(format!("l{li}.{b}")),
            )?);
            inp = planes;
        }
    }
    let bn2 = batch_norm(512, 1e-5, vb.pp("bn2"))?;
    let fc: Linear = linear(512 * 49, 512, vb.pp("fc"))?;
    let mut opt = candle_nn::SGD::new(vm.all_vars(), 0.01)?;
    use candle_nn::Optimizer;
    let batch: usize = std::env::args()
        .nth(1)
        .map_or(16, |a| a.parse().expect("batch"));
    let x = Tensor::randn(0f32, 1., (batch, 3, 112, 112), &dev)?;
    for i in 0..4 {
        let t = std::time::Instant::now();
        let mut h = pr.forward(&bn1.forward_t(&conv1.forward(&x)?, true)?)?;
        for b in &blocks {
            h = b.forward(&h)?;
        }
        let h = bn2.forward_t(&h, true)?.flatten_from(1)?;
        let y = fc.forward(&h)?;
        let fwd = t.elapsed().as_secs_f64();
        let loss = y.sqr()?.mean_all()?;
        opt.backward_step(&loss)?;
        println!(
            "candle r50 batch {batch} step {i}: fwd {fwd:.2} s, fwd+bwd {:.2} s",
            t.elapsed().as_secs_f64()
        );
        let _ = y.sum(D::Minus1)?;
    }
    Ok(())
}
