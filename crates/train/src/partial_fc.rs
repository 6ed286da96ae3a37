//! Partial FC v2 (arcface_torch's `PartialFC_V2`): the class centres are
//! split across ranks (rank r holds `num_classes / world` of them, the
//! first `num_classes % world` ranks one more), each step uses every
//! positive centre of the batch plus a random share (`sample_rate`) of the
//! rest, and the margin softmax runs on the normalised embeddings against
//! those normalised centres. This module is one rank's part; with one rank
//! it is the whole loss.

use tch::{Kind, Tensor, nn};

use crate::margin::{CombinedMargin, softmax_cross_entropy};

/// One rank's class centres and the margin they are trained with.
pub struct PartialFc {
    /// `[num_local, embedding_size]`, initialised N(0, 0.01) as there.
    pub weight: Tensor,
    margin: CombinedMargin,
    sample_rate: f64,
    class_start: i64,
    num_local: i64,
    num_sample: i64,
}

/// The centres one step used and the labels as columns among them.
pub struct Sampled {
    /// Rows of the weight taken, ascending.
    pub index: Tensor,
    /// Each embedding's target column in the sampled centres, or -1.
    pub labels: Tensor,
}

impl PartialFc {
    /// Rank `rank` of `world`'s share of `num_classes` centres, under `path`
    /// (its variable is `weight`, as in arcface_torch's state dict).
    pub fn new(
        path: &nn::Path,
        margin: CombinedMargin,
        embedding_size: i64,
        num_classes: i64,
        sample_rate: f64,
        rank: i64,
        world: i64,
    ) -> Self {
        let num_local = num_classes / world + i64::from(rank < num_classes % world);
        let class_start = num_classes / world * rank + rank.min(num_classes % world);
        let weight = path.var(
            "weight",
            &[num_local, embedding_size],
            nn::Init::Randn {
                mean: 0.0,
                stdev: 0.01,
            },
        );
        Self {
            weight,
            margin,
            sample_rate,
            class_start,
            num_local,
            num_sample: (sample_rate * num_local as f64) as i64,
        }
    }

    /// First class of this rank and how many it holds.
    pub fn classes(&self) -> (i64, i64) {
        (self.class_start, self.num_local)
    }

    /// Picks this step's centres from `labels` (global class ids of the
    /// whole gathered batch) and `priority` (`[num_local]` uniform numbers:
    /// the highest are the negatives kept, as arcface_torch's `torch.rand`
    /// + `topk`). With `sample_rate` 1 every centre is used.
    pub fn sample(&self, labels: &Tensor, priority: &Tensor) -> Sampled {
        tch::no_grad(|| {
            let local = labels - self.class_start;
            let mine = local.ge(0).logical_and(&local.lt(self.num_local));
            let local = local.where_self(&mine, &Tensor::from(-1i64));
            if self.sample_rate >= 1.0 {
                return Sampled {
                    index: Tensor::arange(self.num_local, (Kind::Int64, labels.device())),
                    labels: local,
                };
            }
            let positive_rows = mine.nonzero().squeeze_dim(1);
            let (positive, _, _) = local
                .index_select(0, &positive_rows)
                .unique_dim(0, true, false, false);
            let index = if self.num_sample >= positive.size()[0] {
                let priority = priority.index_put(&[Some(&positive)], &Tensor::from(2.0f32), false);
                let (_, top) = priority.topk(self.num_sample, 0, true, true);
                top.sort(0, false).0
            } else {
                positive
            };
            let remapped = local.index_select(0, &positive_rows).searchsorted(
                &index,
                false,
                false,
                "left",
                None::<Tensor>,
            );
            let labels = local.index_put(&[Some(&positive_rows)], &remapped, false);
            Sampled { index, labels }
        })
    }

    /// The loss of `embeddings` `[batch, d]` with global class `labels`
    /// `[batch]` (i64), sampling negatives with libtorch's generator.
    pub fn forward(&self, embeddings: &Tensor, labels: &Tensor) -> Tensor {
        let priority = Tensor::rand([self.num_local], (Kind::Float, embeddings.device()));
        self.forward_sampled(embeddings, &self.sample(labels, &priority))
    }

    /// The loss with the centres already chosen.
    pub fn forward_sampled(&self, embeddings: &Tensor, sampled: &Sampled) -> Tensor {
        let weight = self.weight.index_select(0, &sampled.index);
        let cosine = normalize(embeddings)
            .matmul(&normalize(&weight).tr())
            .clamp(-1.0, 1.0);
        let logits = self.margin.apply(&cosine, &sampled.labels);
        softmax_cross_entropy(&logits, &sampled.labels)
    }
}

/// Rows scaled to unit length (`torch.nn.functional.normalize`, eps 1e-12).
pub fn normalize(x: &Tensor) -> Tensor {
    let norm = x.norm_scalaropt_dim(2, [1], true).clamp_min(1e-12);
    x / norm
}
