//! SGD with momentum and weight decay, and AdamW, written out over the
//! tensors (PyTorch's update rules) instead of libtorch's optimizers: their
//! state (momentum buffers, moments) must be saved in checkpoints for a
//! resumed run to continue bit for bit, and tch does not expose it.

use std::collections::BTreeMap;

use tch::Tensor;

/// Which update rule.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Rule {
    /// `torch.optim.SGD(momentum, weight_decay)`, dampening 0.
    Sgd {
        /// Momentum.
        momentum: f64,
        /// L2 weight decay added to the gradient.
        weight_decay: f64,
    },
    /// `torch.optim.AdamW`.
    AdamW {
        /// β₁.
        beta1: f64,
        /// β₂.
        beta2: f64,
        /// ε.
        eps: f64,
        /// Decoupled weight decay.
        weight_decay: f64,
    },
}

/// The optimizer: its rule, the parameters by name and their state.
pub struct Optimizer {
    rule: Rule,
    params: BTreeMap<String, Tensor>,
    state: BTreeMap<String, Tensor>,
    steps: i64,
}

impl Optimizer {
    /// Over the trainable `params` (name → tensor).
    pub fn new(rule: Rule, params: BTreeMap<String, Tensor>) -> Self {
        Self {
            rule,
            params,
            state: BTreeMap::new(),
            steps: 0,
        }
    }

    /// The parameters.
    pub fn params(&self) -> impl Iterator<Item = (&String, &Tensor)> {
        self.params.iter()
    }

    /// Clears every parameter's gradient.
    pub fn zero_grad(&mut self) {
        for p in self.params.values_mut() {
            p.zero_grad();
        }
    }

    /// Scales the gradients of the parameters `select` accepts so that
    /// their joint L2 norm is at most `max_norm` (`clip_grad_norm_`);
    /// returns the norm before clipping.
    pub fn clip_grad_norm(&self, select: impl Fn(&str) -> bool, max_norm: f64) -> f64 {
        let grads: Vec<Tensor> = self
            .params
            .iter()
            .filter(|(n, _)| select(n))
            .map(|(_, p)| p.grad())
            .filter(Tensor::defined)
            .collect();
        if grads.is_empty() {
            return 0.0;
        }
        let norms: Vec<Tensor> = grads.iter().map(|g| g.norm()).collect();
        let total = Tensor::stack(&norms, 0).norm().double_value(&[]);
        let coefficient = max_norm / (total + 1e-6);
        if coefficient < 1.0 {
            tch::no_grad(|| {
                for mut g in grads {
                    let _ = g.g_mul_scalar_(coefficient);
                }
            });
        }
        total
    }

    /// One update at learning rate `lr`.
    pub fn step(&mut self, lr: f64) {
        self.steps += 1;
        let steps = self.steps;
        tch::no_grad(|| {
            for (name, p) in &self.params {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let mut p = p.shallow_clone();
                match self.rule {
                    Rule::Sgd {
                        momentum,
                        weight_decay,
                    } => {
                        let d = if weight_decay != 0.0 {
                            &g + &p * weight_decay
                        } else {
                            g.shallow_clone()
                        };
                        let update = if momentum != 0.0 {
                            // The first update's buffer is the gradient itself.
                            let key = format!("{name}.momentum");
                            match self.state.get_mut(&key) {
                                Some(buffer) => {
                                    let _ = buffer.g_mul_scalar_(momentum).g_add_(&d);
                                }
                                None => {
                                    self.state.insert(key.clone(), d.copy());
                                }
                            }
                            self.state[&key].shallow_clone()
                        } else {
                            d
                        };
                        let _ = p.g_sub_(&(update * lr));
                    }
                    Rule::AdamW {
                        beta1,
                        beta2,
                        eps,
                        weight_decay,
                    } => {
                        let _ = p.g_mul_scalar_(1.0 - lr * weight_decay);
                        let m = self
                            .state
                            .entry(format!("{name}.exp_avg"))
                            .or_insert_with(|| p.zeros_like());
                        let _ = m.g_mul_scalar_(beta1).g_add_(&(&g * (1.0 - beta1)));
                        let m = m.shallow_clone();
                        let v = self
                            .state
                            .entry(format!("{name}.exp_avg_sq"))
                            .or_insert_with(|| p.zeros_like());
                        let _ = v.g_mul_scalar_(beta2).g_add_(&(g.square() * (1.0 - beta2)));
                        let correction1 = 1.0 - beta1.powi(steps as i32);
                        let correction2 = 1.0 - beta2.powi(steps as i32);
                        let denominator = (v.sqrt() / correction2.sqrt()) + eps;
                        let _ = p.g_sub_(&(m / denominator * (lr / correction1)));
                    }
                }
            }
        });
    }

    /// The state to checkpoint: buffers by name, and the step count.
    pub fn state(&self) -> (Vec<(String, Tensor)>, i64) {
        (
            self.state
                .iter()
                .map(|(n, t)| (n.clone(), t.shallow_clone()))
                .collect(),
            self.steps,
        )
    }

    /// Restores [`Optimizer::state`].
    pub fn restore(&mut self, state: Vec<(String, Tensor)>, steps: i64) {
        self.state = state.into_iter().collect();
        self.steps = steps;
    }
}
