use tch::{Device, Kind, Tensor, nn, nn::ModuleT, nn::OptimizerConfig};
fn conv(p: nn::Path, i: i64, o: i64, k: i64, s: i64, pad: i64, g: i64) -> nn::Conv2D {
    nn::conv2d(
        p,
        i,
        o,
        k,
        nn::ConvConfig {
            stride: s,
            padding: pad,
            groups: g,
            bias: false,
            ..Default::default()
        },
    )
}
fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(p, c, Default::default())
}
fn prelu(p: nn::Path, c: i64) -> impl Fn(&Tensor) -> Tensor {
    let w = p.var("weight", &[c], nn::Init::Const(0.25));
    move |x: &Tensor| x.prelu(&w)
}
fn block(p: nn::Path, i: i64, o: i64, s: i64) -> impl ModuleT {
    let b1 = bn(&p / "bn1", i);
    let c1 = conv(&p / "conv1", i, o, 3, 1, 1, 1);
    let b2 = bn(&p / "bn2", o);
    let pr = prelu(&p / "prelu", o);
    let c2 = conv(&p / "conv2", o, o, 3, s, 1, 1);
    let b3 = bn(&p / "bn3", o);
    let ds = if s != 1 || i != o {
        Some((conv(&p / "ds0", i, o, 1, s, 0, 1), bn(&p / "ds1", o)))
    } else {
        None
    };
    nn::func_t(move |x, t| {
        let y = x.apply_t(&b1, t).apply(&c1).apply_t(&b2, t);
        let y = pr(&y).apply(&c2).apply_t(&b3, t);
        let id = match &ds {
            Some((c, b)) => x.apply(c).apply_t(b, t),
            None => x.shallow_clone(),
        };
        y + id
    })
}
fn main() {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let p = vs.root();
    let mut seq = nn::seq_t()
        .add(conv(&p / "conv1", 3, 64, 3, 1, 1, 1))
        .add(bn(&p / "bn1", 64))
        .add_fn(prelu(&p / "prelu", 64));
    let mut i = 64;
    for (li, (o, n)) in [(64, 3), (128, 4), (256, 14), (512, 3)]
        .into_iter()
        .enumerate()
    {
        for b in 0..n {
            seq = seq.add(block(
                &p / format!("l{li}_{b}"),
                i,
                o,
                if b == 0 { 2 } else { 1 },
            ));
            i = o;
        }
    }
    let seq = seq
        .add(bn(&p / "bn2", 512))
        .add_fn(|x| x.flatten(1, -1))
        .add(nn::linear(&p / "fc", 512 * 49, 512, Default::default()));
    let mut opt = nn::Sgd {
        momentum: 0.9,
        ..Default::default()
    }
    .build(&vs, 0.1)
    .unwrap();
    let x = Tensor::randn([64, 3, 112, 112], (Kind::Float, Device::Cpu));
    for s in 0..5 {
        let t = std::time::Instant::now();
        let y = seq.forward_t(&x, true);
        let loss = y.square().mean(Kind::Float);
        opt.backward_step(&loss);
        println!("tch r50 step {s}: {:.2} s", t.elapsed().as_secs_f64());
    }
}
