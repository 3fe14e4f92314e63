/** Suggestions for the body-site field (free text is still allowed). */
export const BODY_SITES = [
  'scalp', 'face', 'ear', 'neck', 'chest', 'abdomen', 'upper back', 'lower back', 'trunk',
  'upper arm', 'forearm', 'hand', 'palm', 'genital', 'buttock', 'thigh', 'lower leg', 'foot', 'sole', 'nail', 'acral',
];
