/** The training loop's PRNG: the project's mulberry32 with its state exposed for checkpoints. */
export { Rng } from '../rng.js';
