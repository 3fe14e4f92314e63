/**
 * The fusion head as the model factory trains it, in TensorFlow.js: random initialisation,
 * trainable variables, the forward pass with dropout, and saving in the format the app reads
 * (electron/model/head.ts: head.json + head.weights.bin). Training runs on cached pooled vectors
 * through `forwardPooled`, which is the very same post-pooling computation as the app's head,
 * so a head trained on the cache and run on live maps agree (test/training/head-parity.test.ts).
 */
import * as tf from '@tensorflow/tfjs';
import {
  FusionHead,
  frozenConfig,
  HeadError,
  headArrays,
  pooledWidth,
  readHeadFile,
  validateConfig,
  writeHeadFiles,
  type Branch,
  type DenseArrays,
  type HeadArrays,
  type HeadConfig,
} from '../../electron/model/head.ts';
import type { FeatureMap } from '../../electron/model/types.ts';

let backendReady: Promise<string> | undefined;

/**
 * Picks the fastest tfjs backend available: tfjs-node's native kernels when that optional package
 * happens to be installed, else the WebAssembly backend (XNNPACK; ~50x the pure-JS CPU backend's
 * matMul speed measured here, which is what makes training the head in seconds possible), else
 * the CPU backend. DERMAFUSE_HEAD_BACKEND forces one ('cpu', 'wasm', 'tensorflow').
 */
export function ensureHeadBackend(): Promise<string> {
  backendReady ??= (async () => {
    const forced = process.env.DERMAFUSE_HEAD_BACKEND;
    const candidates: [string, string][] = [
      ['tensorflow', '@tensorflow/tfjs-node'],
      ['wasm', '@tensorflow/tfjs-backend-wasm'],
    ];
    for (const [backend, pkg] of candidates) {
      if (forced && forced !== backend) continue;
      try {
        await import(/* @vite-ignore */ pkg);
        if (await tf.setBackend(backend)) break;
      } catch {
        // Optional package missing or unable to start here: try the next one.
      }
    }
    if (forced === 'cpu' || !['tensorflow', 'wasm'].includes(tf.getBackend())) await tf.setBackend('cpu');
    await tf.ready();
    return tf.getBackend();
  })();
  return backendReady;
}

/** Which tfjs backend trains the head ('cpu', 'tensorflow' with tfjs-node, 'wasm'). */
export const headBackend = (): string => tf.getBackend();

/**
 * x @ w with a hand-written gradient that transposes explicitly: tfjs-wasm runs matMul with
 * transposeA/transposeB (what the built-in gradient uses) ~50x slower than a plain matMul of a
 * transposed copy, which made training impractically slow.
 */
const matMulFastGrad = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, w, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: tf.matMul(x, w),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sw] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(sw)), tf.matMul(tf.transpose(sx), dy as tf.Tensor2D)];
    },
  };
}) as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;

interface DenseLayer {
  kernel: tf.Variable;
  bias: tf.Variable;
}

export class TfjsHead {
  readonly config: HeadConfig;
  /** Standardisation statistics of the pooled input, from the training set. */
  readonly mean: tf.Variable;
  readonly std: tf.Variable;
  readonly layers: DenseLayer[];
  /** Final dense layer to the two classes [benign, malignant]. */
  readonly output: DenseLayer;

  private constructor(config: HeadConfig, weights: Map<string, tf.Tensor>) {
    this.config = frozenConfig(config);
    const take = (name: string, trainable: boolean): tf.Variable => {
      const t = weights.get(name);
      if (!t) throw new HeadError(`head weights lack ${name}`);
      return tf.variable(t, trainable, `${name}_${nextId++}`);
    };
    this.mean = take('norm/mean', false);
    this.std = take('norm/std', false);
    this.layers = config.hidden.map((_, i) => ({ kernel: take(`dense${i}/kernel`, true), bias: take(`dense${i}/bias`, true) }));
    this.output = { kernel: take('out/kernel', true), bias: take('out/bias', true) };
    for (const t of weights.values()) t.dispose();
  }

  /** Random initialisation (Glorot uniform kernels, zero biases, identity standardisation). */
  static create(config: HeadConfig, seed = 1): TfjsHead {
    validateConfig(config);
    const width = pooledWidth(config);
    const weights = new Map<string, tf.Tensor>();
    weights.set('norm/mean', tf.zeros([width]));
    weights.set('norm/std', tf.ones([width]));
    let fanIn = width;
    const widths = [...config.hidden, 2];
    widths.forEach((fanOut, i) => {
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      const prefix = i < config.hidden.length ? `dense${i}` : 'out';
      weights.set(`${prefix}/kernel`, tf.randomUniform([fanIn, fanOut], -limit, limit, 'float32', seed + 7919 * i));
      weights.set(`${prefix}/bias`, tf.zeros([fanOut]));
      fanIn = fanOut;
    });
    return new TfjsHead(config, weights);
  }

  /**
   * A head from named weights (the names `namedWeights` returns); takes ownership of the tensors.
   * Used to assemble heads whose weights were computed elsewhere (late fusion of trained members).
   */
  static fromWeights(config: HeadConfig, named: Record<string, tf.Tensor>): TfjsHead {
    validateConfig(config);
    const width = pooledWidth(config);
    if (named['norm/mean']?.shape[0] !== width) throw new HeadError(`normalisation must have ${width} entries`);
    return new TfjsHead(config, new Map(Object.entries(named)));
  }

  /** Reads a saved head with the app's own reader (so both read the same bytes the same way). */
  static async load(dir: string): Promise<TfjsHead> {
    const { config, weights } = await readHeadFile(dir);
    headArrays(config, weights); // every weight present with the shape the config needs
    return new TfjsHead(config, new Map([...weights].map(([name, w]) => [name, tf.tensor(w.data, [...w.shape], 'float32')])));
  }

  /** Writes head.json + head.weights.bin with the app's own encoder (electron/model/head.ts). */
  async save(dir: string): Promise<void> {
    await writeHeadFiles(dir, this.config, this.weightArrays());
  }

  /** Every weight by its stable name (the names used in the saved file). */
  namedWeights(): Record<string, tf.Tensor> {
    const named: Record<string, tf.Tensor> = { 'norm/mean': this.mean, 'norm/std': this.std };
    this.layers.forEach((layer, i) => {
      named[`dense${i}/kernel`] = layer.kernel;
      named[`dense${i}/bias`] = layer.bias;
    });
    named['out/kernel'] = this.output.kernel;
    named['out/bias'] = this.output.bias;
    return named;
  }

  /** A copy of the current weights as typed arrays (later training does not change it). */
  weightArrays(): HeadArrays {
    const copy = (t: tf.Tensor): Float32Array => Float32Array.from(t.dataSync() as Float32Array);
    const dense = (l: DenseLayer): DenseArrays => ({ kernel: copy(l.kernel), bias: copy(l.bias), fanIn: l.kernel.shape[0]!, fanOut: l.kernel.shape[1]! });
    return { mean: copy(this.mean), std: copy(this.std), layers: this.layers.map(dense), output: dense(this.output) };
  }

  /** The app's head with a snapshot of the current weights (what the classifier runs). */
  toRuntime(): FusionHead {
    return FusionHead.fromArrays(this.config, this.weightArrays());
  }

  /** The variables an optimiser updates. */
  trainableVariables(): tf.Variable[] {
    return [...this.layers.flatMap((l) => [l.kernel, l.bias]), this.output.kernel, this.output.bias];
  }

  /** Set the standardisation statistics (computed on the training set's pooled vectors). */
  setNormalisation(mean: Float32Array, std: Float32Array): void {
    const width = pooledWidth(this.config);
    if (mean.length !== width || std.length !== width) throw new HeadError(`normalisation must have ${width} entries`);
    this.mean.assign(tf.tensor1d(mean));
    this.std.assign(tf.tensor1d(std));
  }

  /**
   * Two-class logits [n, 2] (benign, malignant) from pooled inputs [n, pooledWidth]. With
   * `dropoutSeed` set, dropout is applied (training mode).
   */
  forwardPooled(pooled: tf.Tensor2D, dropoutSeed?: number): tf.Tensor2D {
    return tf.tidy(() => {
      let x: tf.Tensor2D = tf.div(tf.sub(pooled, this.mean), this.std);
      this.layers.forEach((layer, i) => {
        x = tf.relu(tf.add(matMulFastGrad(x, layer.kernel as tf.Tensor2D), layer.bias)) as tf.Tensor2D;
        if (dropoutSeed !== undefined && this.config.dropout > 0) {
          x = tf.dropout(x, this.config.dropout, undefined, dropoutSeed * 131 + i) as tf.Tensor2D;
        }
      });
      return tf.add(matMulFastGrad(x, this.output.kernel as tf.Tensor2D), this.output.bias) as tf.Tensor2D;
    });
  }

  /** z_malignant - z_benign [n] from pooled inputs; a matMul, not gather, so every backend can differentiate it. */
  logitPooled(pooled: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => tf.matMul(this.forwardPooled(pooled), tf.tensor2d([[-1], [1]])).reshape([-1]) as tf.Tensor1D);
  }

  /** Pool the feature maps exactly as the cached training vectors were pooled. */
  pool(inception: tf.Tensor4D | null, mobilenet: tf.Tensor4D | null): tf.Tensor2D {
    return tf.tidy(() => {
      const parts: tf.Tensor2D[] = [];
      for (const branch of this.config.branches) {
        const map = branch === 'inception' ? inception : mobilenet;
        if (!map) throw new HeadError(`head needs the ${branch} feature map`);
        const channels = branch === 'inception' ? this.config.inceptionChannels : this.config.mobilenetChannels;
        if (map.shape[3] !== channels) throw new HeadError(`${branch} map has ${map.shape[3]} channels, head expects ${channels}`);
        parts.push(tf.mean(map, [1, 2]) as tf.Tensor2D);
        if (this.config.pooling === 'avg+max') parts.push(tf.max(map, [1, 2]) as tf.Tensor2D);
      }
      return parts.length === 1 ? parts[0]! : tf.concat(parts, 1);
    });
  }

  /** Pre-softmax malignant score z_mal - z_ben per item, from feature maps. */
  logits(inception: FeatureMap, mobilenet: FeatureMap): Float32Array {
    const out = tf.tidy(() => this.logitPooled(this.pool(this.mapTensor('inception', inception), this.mapTensor('mobilenet', mobilenet))));
    const values = out.dataSync() as Float32Array;
    out.dispose();
    return Float32Array.from(values);
  }

  /** The logit of ONE item and its gradient w.r.t. each branch feature map (same shapes), by tfjs autodiff. */
  logitWithGradients(inception: FeatureMap, mobilenet: FeatureMap): { logit: number; inception: FeatureMap; mobilenet: FeatureMap } {
    if (inception.shape[0] !== 1 || mobilenet.shape[0] !== 1) throw new HeadError('logitWithGradients takes one item');
    const uses = (b: Branch): boolean => this.config.branches.includes(b);
    const incT = tf.tensor4d(inception.data, [...inception.shape]);
    const mobT = tf.tensor4d(mobilenet.data, [...mobilenet.shape]);
    try {
      const used: tf.Tensor4D[] = [];
      if (uses('inception')) used.push(incT);
      if (uses('mobilenet')) used.push(mobT);
      const f = (...maps: tf.Tensor[]): tf.Scalar => {
        const inc = uses('inception') ? (maps[0] as tf.Tensor4D) : null;
        const mob = uses('mobilenet') ? (maps[uses('inception') ? 1 : 0] as tf.Tensor4D) : null;
        return this.logitPooled(this.pool(inc, mob)).sum() as tf.Scalar;
      };
      const { value, grads } = tf.valueAndGrads(f)(used);
      const logit = value.dataSync()[0]!;
      const gradOf = (b: Branch, fm: FeatureMap): FeatureMap => {
        if (!uses(b)) return { data: new Float32Array(fm.data.length), shape: fm.shape };
        const g = grads[b === 'inception' || !uses('inception') ? 0 : 1]!;
        return { data: Float32Array.from(g.dataSync() as Float32Array), shape: fm.shape };
      };
      const result = { logit, inception: gradOf('inception', inception), mobilenet: gradOf('mobilenet', mobilenet) };
      value.dispose();
      grads.forEach((g) => g.dispose());
      return result;
    } finally {
      incT.dispose();
      mobT.dispose();
    }
  }

  dispose(): void {
    for (const t of Object.values(this.namedWeights())) t.dispose();
  }

  private mapTensor(branch: Branch, map: FeatureMap): tf.Tensor4D | null {
    if (!this.config.branches.includes(branch)) return null;
    return tf.tensor4d(map.data, [...map.shape]);
  }
}

let nextId = 0;
