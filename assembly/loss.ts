// Softmax with cross-entropy, fused: the course's eq. 5-8 forward and eq. 9 backward.

/**
 * logits[rows,cols], labels[rows] (uint8 class indices), smoothing ε in [0, 1) ->
 *   probs[rows,cols]  = softmax of each row (max subtracted for stability),
 *   dlogits[rows,cols] = (probs - t) / rows   (skipped when dlogits == 0),
 * returns the summed cross-entropy -Σ_j t_j log p_j over the rows (as f64; 0 when labels == 0,
 * which computes probabilities only), where t = (1 - ε)·onehot(label) + ε/cols: label smoothing,
 * which with ε = 0 is the plain -log p[label].
 */
export function softmaxCrossEntropy(
  logits: usize, labels: usize, probs: usize, dlogits: usize, rows: i32, cols: i32, smoothing: f32,
): f64 {
  let total: f64 = 0;
  const invRows: f32 = 1.0 / <f32>rows;
  for (let r = 0; r < rows; r++) {
    const inRow = logits + (<usize>(r * cols) << 2);
    const outRow = probs + (<usize>(r * cols) << 2);
    let maxValue = load<f32>(inRow);
    for (let j = 1; j < cols; j++) maxValue = max(maxValue, load<f32>(inRow + (<usize>j << 2)));
    let sum: f32 = 0;
    for (let j = 0; j < cols; j++) {
      const e = Mathf.exp(load<f32>(inRow + (<usize>j << 2)) - maxValue);
      store<f32>(outRow + (<usize>j << 2), e);
      sum += e;
    }
    const invSum: f32 = 1.0 / sum;
    for (let j = 0; j < cols; j++) {
      const p = outRow + (<usize>j << 2);
      store<f32>(p, load<f32>(p) * invSum);
    }
    if (labels == 0) continue;
    const label = <i32>load<u8>(labels + <usize>r);
    // log p_j = z_j - max - log(sum), from the logits: exact even when p_j underflows to 0.
    const logSum = Mathf.log(sum);
    total -= <f64>(1 - smoothing) * <f64>(load<f32>(inRow + (<usize>label << 2)) - maxValue - logSum);
    const spread: f32 = smoothing / <f32>cols;
    if (smoothing != 0) {
      let logProbs: f32 = 0;
      for (let j = 0; j < cols; j++) logProbs += load<f32>(inRow + (<usize>j << 2)) - maxValue - logSum;
      total -= <f64>spread * <f64>logProbs;
    }
    if (dlogits != 0) {
      const gradRow = dlogits + (<usize>(r * cols) << 2);
      for (let j = 0; j < cols; j++) {
        const target: f32 = j == label ? 1 - smoothing + spread : spread;
        store<f32>(gradRow + (<usize>j << 2), (load<f32>(outRow + (<usize>j << 2)) - target) * invRows);
      }
    }
  }
  return total;
}

/**
 * Softmax with mean squared error, the alternative loss: for each row, probs = softmax(logits),
 * loss = ½ Σ_j (p_j - t_j)² with t = onehot(label), and through the softmax's Jacobian
 * dlogits_j = p_j · (g_j - Σ_k g_k p_k) / rows with g = p - t (skipped when dlogits == 0).
 * Returns the summed loss over the rows (0 when labels == 0).
 */
export function softmaxMse(
  logits: usize, labels: usize, probs: usize, dlogits: usize, rows: i32, cols: i32,
): f64 {
  softmaxCrossEntropy(logits, 0, probs, 0, rows, cols, 0);
  if (labels == 0) return 0;
  let total: f64 = 0;
  const invRows: f32 = 1.0 / <f32>rows;
  for (let r = 0; r < rows; r++) {
    const pRow = probs + (<usize>(r * cols) << 2);
    const label = <i32>load<u8>(labels + <usize>r);
    let sq: f32 = 0;
    let dot: f32 = 0;
    for (let j = 0; j < cols; j++) {
      const p = load<f32>(pRow + (<usize>j << 2));
      const g = p - (j == label ? <f32>1 : <f32>0);
      sq += g * g;
      dot += g * p;
    }
    total += 0.5 * <f64>sq;
    if (dlogits != 0) {
      const gRow = dlogits + (<usize>(r * cols) << 2);
      for (let j = 0; j < cols; j++) {
        const p = load<f32>(pRow + (<usize>j << 2));
        const g = p - (j == label ? <f32>1 : <f32>0);
        store<f32>(gRow + (<usize>j << 2), p * (g - dot) * invRows);
      }
    }
  }
  return total;
}
