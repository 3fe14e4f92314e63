/**
 * Zod compiles fast parsers with `new Function` when it may; the renderer's CSP forbids eval, and
 * the probe alone is reported as a CSP violation. Imported first by main.ts, before any schema.
 */
import { z } from 'zod';

z.config({ jitless: true });
