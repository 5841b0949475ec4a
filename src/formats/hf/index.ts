/** Hugging Face model folders (config.json + safetensors) for Llama / Mistral / Bamboo. */
export { readHfConfig, parseHfConfig, hfConfigJson, HF_ARCHITECTURES } from './config.js';
export { loadHfFolder, SAFETENSORS_FILE } from './load.js';
export { writeHfFolder } from './write.js';
export type { WriteHfOptions } from './write.js';
export { permuteQkHfToGguf, permuteQkGgufToHf } from './permute.js';
