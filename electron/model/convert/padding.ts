/**
 * TensorFlow's 'SAME' padding as explicit pads: output = ceil(in / stride), and when the total
 * padding is odd the extra pixel goes at the end (bottom/right). ONNX's SAME_UPPER would agree,
 * but explicit pads keep the graph unambiguous for every runtime.
 */
export function samePads(size: number, kernel: number, stride: number, dilation = 1): [number, number] {
  const effective = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/** Output size of a 'VALID' (unpadded) window. */
export function validSize(size: number, kernel: number, stride: number, dilation = 1): number {
  return Math.floor((size - ((kernel - 1) * dilation + 1)) / stride) + 1;
}
