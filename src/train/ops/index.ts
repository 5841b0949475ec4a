/** Forward/backward pairs of every op of the Llama / Mistral block (llm.c style; backward accumulates). */
export { attentionForward, attentionBackward } from './attention.js';
export { crossentropyForward, crossentropyBackward, klForward, klBackward, softmaxForward } from './crossentropy.js';
export { encoderForward, encoderBackward } from './encoder.js';
export { gluForward, gluBackward } from './glu.js';
export { linearForward, linearBackward } from './linear.js';
export { residualForward, residualBackward } from './residual.js';
export { rmsnormForward, rmsnormBackward } from './rmsnorm.js';
export { ropeForward, ropeBackward, ropeTable } from './rope.js';
