/**
 * A valid model manifest for tests that need a model folder without the shipped one (a randomly
 * initialised head on the real backbones, or manifest-schema tests). Override what a test is about.
 */
import type { ModelManifest } from '../../electron/model/manifest.ts';

export function testManifest(overrides: Partial<Omit<ModelManifest, 'head'>> & { head?: Partial<ModelManifest['head']> } = {}): ModelManifest {
  const { head, ...rest } = overrides;
  return {
    version: 'test-random-head',
    createdAt: '2026-01-01T00:00:00Z',
    backbones: {
      inception_v3: { source: 'nsfwjs@4.4.0', sha256: 'n/a', layers: ['mixed6'], scaling: 'unit' },
      mobilenet_v2: { source: 'coral', sha256: 'n/a' },
    },
    preprocess: { crop: 'centre_square', colorConstancy: 'none' },
    head: { file: 'head.json', pooling: 'avg', branches: ['inception', 'mobilenet'], inceptionLayer: 'mixed6', hidden: [32], dropout: 0, ...head },
    temperature: 1.5,
    threshold: 0.5,
    tiers: { reviewAt: 0.3, highAt: 0.7 },
    tta: ['identity'],
    metrics: {},
    training: {},
    ...rest,
  };
}
