export { adamwInit, adamwUpdate, clipGradNorm, type AdamWHyper, type AdamWState } from './adamw.js';
export { cosineLr } from './schedule.js';
