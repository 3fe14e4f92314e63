/**
 * Converts both backbones into the ONNX cache (what the app otherwise does on first use), so a
 * setup step or CI can pay the conversion once. Usage:
 *   npx tsx scripts/convert-backbones.ts [--layers mixed5,mixed6,mixed7] [--scaling unit|symmetric] [--mobilenet-blocks expanded_conv_13] [--check]
 * --check also starts an onnxruntime session on each graph and runs one image through it.
 */
import { Command } from 'commander';
import { Backbones, INCEPTION_LAYER_NAMES, inceptionGraph, mobilenetGraph } from '../electron/model/backbones.ts';
import { MOBILENET_BLOCK_NAMES, mobilenetBlocksGraph } from '../training/studies/generalisation/mobilenet-blocks.ts';
import { WeightsError } from '../electron/model/weights.ts';

const program = new Command()
  .name('convert-backbones')
  .description('Convert the pinned InceptionV3 and MobileNetV2 weights to ONNX in the cache')
  .option('--layers <list>', `InceptionV3 output layers, comma-separated (${INCEPTION_LAYER_NAMES.join(', ')})`, 'mixed6')
  .option('--scaling <kind>', "InceptionV3 input scaling: 'unit' (x/255) or 'symmetric' (x/127.5-1)", 'unit')
  .option('--mobilenet-blocks <list>', `MobileNetV2 block outputs to add, comma-separated (${MOBILENET_BLOCK_NAMES[0]} … ${MOBILENET_BLOCK_NAMES.at(-1)})`, '')
  .option('--check', 'start a session on each graph and run one image', false)
  .parse();

const opts = program.opts<{ layers: string; scaling: string; mobilenetBlocks: string; check: boolean }>();

async function main(): Promise<void> {
  const layers = opts.layers.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = layers.filter((l) => !INCEPTION_LAYER_NAMES.includes(l));
  if (unknown.length) throw new Error(`unknown layer(s) ${unknown.join(', ')}; choose from ${INCEPTION_LAYER_NAMES.join(', ')}`);
  if (opts.scaling !== 'unit' && opts.scaling !== 'symmetric') throw new Error(`--scaling must be 'unit' or 'symmetric'`);
  const scaling = opts.scaling;
  const blocks = opts.mobilenetBlocks.split(',').map((s) => s.trim()).filter(Boolean);
  const badBlocks = blocks.filter((b) => !MOBILENET_BLOCK_NAMES.includes(b));
  if (badBlocks.length) throw new Error(`unknown MobileNetV2 block(s) ${badBlocks.join(', ')}`);
  const t0 = performance.now();
  const files = { inception: await inceptionGraph(layers, scaling), mobilenet: await (blocks.length ? mobilenetBlocksGraph(blocks) : mobilenetGraph()) };
  for (const [name, g] of Object.entries(files)) {
    const what = g.converted ? `converted in ${g.info.conversionMs} ms` : 'already cached';
    console.log(`${name}: ${g.path} (${what}; ${(g.info.macsPerImage / 1e9).toFixed(2)} GMAC/image; outputs ${g.info.outputs.map((o) => `${o.name}[${o.shape.join(',')}]`).join(' ')})`);
  }
  console.log(`total ${Math.round(performance.now() - t0)} ms`);
  if (opts.check) {
    const b = await Backbones.load({ inceptionLayers: layers, inceptionScaling: scaling });
    const out = await b.run(new Float32Array(299 * 299 * 3).fill(128), new Float32Array(224 * 224 * 3).fill(128), 1);
    console.log(`check on ${b.executionProvider}: inception ${Object.entries(out.inception).map(([k, v]) => `${k}[${v.shape.join(',')}]`).join(' ')}, mobilenet [${out.mobilenet.shape.join(',')}]`);
    await b.dispose();
  }
}

main().catch((e: unknown) => {
  // Users get the message (it says what to do), not a stack trace.
  console.error(e instanceof WeightsError ? e.message : `convert-backbones: ${(e as Error).message}`);
  process.exitCode = 1;
});
