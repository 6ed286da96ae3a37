use crate::Detection;

/// Greedy non-maximum suppression exactly as InsightFace's `SCRFD.nms`:
/// candidates in descending score order (stable for ties), box areas with the
/// legacy `+1` pixel convention, and a candidate dropped when its overlap with
/// a kept box is above `threshold`. Arithmetic is `f32`, like the NumPy code,
/// so borderline overlaps fall on the same side. Returns kept indices in
/// keep order.
pub fn nms(dets: &[Detection], threshold: f32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..dets.len()).collect();
    order.sort_by(|&a, &b| dets[b].score.total_cmp(&dets[a].score));
    let area = |i: usize| {
        let b = &dets[i].bbox;
        (b.x2 - b.x1 + 1.0) * (b.y2 - b.y1 + 1.0)
    };
    let mut keep = Vec::new();
    while let Some((&i, rest)) = order.split_first() {
        keep.push(i);
        let bi = dets[i].bbox;
        let area_i = area(i);
        order = rest
            .iter()
            .copied()
            .filter(|&j| {
                let bj = dets[j].bbox;
                let w = (bi.x2.min(bj.x2) - bi.x1.max(bj.x1) + 1.0).max(0.0);
                let h = (bi.y2.min(bj.y2) - bi.y1.max(bj.y1) + 1.0).max(0.0);
                let inter = w * h;
                inter / (area_i + area(j) - inter) <= threshold
            })
            .collect();
    }
    keep
}

/// How [`select_max_num`] ranks faces when more than `max_num` were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaxNumMetric {
    /// InsightFace's `default`: area minus twice the squared distance of the
    /// box centre from the image centre (favours large, central faces).
    #[default]
    Default,
    /// InsightFace's `max`: area only.
    Max,
}

/// Keeps at most `max_num` detections as InsightFace's `detect(max_num=…)`
/// does; `max_num == 0` keeps everything. The result is in ranking order.
pub fn select_max_num(
    dets: Vec<Detection>,
    max_num: usize,
    metric: MaxNumMetric,
    image_width: u32,
    image_height: u32,
) -> Vec<Detection> {
    if max_num == 0 || dets.len() <= max_num {
        return dets;
    }
    // Integer division of the image size, as `img.shape[0] // 2` in InsightFace.
    let (cx, cy) = ((image_width / 2) as f32, (image_height / 2) as f32);
    let value = |d: &Detection| {
        let b = d.bbox;
        let area = b.area();
        match metric {
            MaxNumMetric::Max => area,
            MaxNumMetric::Default => {
                let ox = (b.x1 + b.x2) / 2.0 - cx;
                let oy = (b.y1 + b.y2) / 2.0 - cy;
                area - (ox * ox + oy * oy) * 2.0
            }
        }
    };
    let mut ranked: Vec<(f32, Detection)> = dets.into_iter().map(|d| (value(&d), d)).collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked.into_iter().take(max_num).map(|(_, d)| d).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BBox;

    fn det(x1: f32, y1: f32, x2: f32, y2: f32, score: f32) -> Detection {
        Detection::new(BBox::new(x1, y1, x2, y2), score, None)
    }

    #[test]
    fn nms_uses_plus_one_areas_and_keeps_the_best() {
        // Two 10×10 boxes shifted by 4 px: with +1 areas the IoU is
        // (7·11)/(121+121−77) = 0.4667 > 0.4, so the weaker one goes.
        let dets = vec![
            det(4.0, 0.0, 14.0, 10.0, 0.7),
            det(0.0, 0.0, 10.0, 10.0, 0.9),
        ];
        assert_eq!(nms(&dets, 0.4), vec![1]);
        // At 0.5 both survive, best first.
        assert_eq!(nms(&dets, 0.5), vec![1, 0]);
    }

    #[test]
    fn max_num_prefers_large_central_faces() {
        let dets = vec![
            det(0.0, 0.0, 20.0, 20.0, 0.9),
            det(40.0, 40.0, 60.0, 60.0, 0.5),
            det(45.0, 45.0, 50.0, 50.0, 0.99),
        ];
        let kept = select_max_num(dets.clone(), 1, MaxNumMetric::Default, 100, 100);
        assert_eq!(kept[0].score, 0.5);
        let kept = select_max_num(dets, 2, MaxNumMetric::Max, 100, 100);
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().all(|d| d.bbox.area() == 400.0));
    }
}
