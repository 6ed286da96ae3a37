/// Euclidean norm of a vector, accumulated in `f64`.
pub fn l2_norm(v: &[f32]) -> f32 {
    v.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt() as f32
}

/// The vector scaled to unit length; a zero vector stays zero.
pub fn l2_normalized(v: &[f32]) -> Vec<f32> {
    let n = l2_norm(v);
    if n == 0.0 {
        return v.to_vec();
    }
    v.iter().map(|&x| x / n).collect()
}

/// Cosine similarity of two vectors of the same length, in `[-1, 1]`.
/// Returns 0 when either vector is zero or the lengths differ.
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    let (na, nb) = (l2_norm(a), l2_norm(b));
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    (dot / (f64::from(na) * f64::from(nb))) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_of_parallel_and_orthogonal_vectors() {
        assert!((cosine_similarity(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-6);
        assert!(cosine_similarity(&[1.0, 0.0], &[0.0, 3.0]).abs() < 1e-6);
        assert_eq!(cosine_similarity(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
        assert_eq!(cosine_similarity(&[1.0], &[1.0, 1.0]), 0.0);
    }

    #[test]
    fn normalized_has_unit_norm() {
        let v = l2_normalized(&[3.0, 4.0]);
        assert!((l2_norm(&v) - 1.0).abs() < 1e-6);
        assert_eq!(v, vec![0.6, 0.8]);
    }
}
