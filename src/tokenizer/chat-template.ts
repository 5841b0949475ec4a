// Chat templates: HF `apply_chat_template` semantics rendered with @huggingface/jinja.

import { Template } from '@huggingface/jinja';
import { RelufyError } from '../errors.js';
import type { ChatMessage } from './types.js';

/** Variables a chat template sees (transformers `apply_chat_template`). */
export interface ChatTemplateContext {
  messages: ChatMessage[];
  bos_token: string;
  eos_token: string;
  add_generation_prompt: boolean;
}

/** A parsed chat template; parse once, render many times. */
export class ChatTemplate {
  private readonly template: Template;

  /**
   * Parses a Jinja chat template (as in tokenizer_config.json `chat_template` or GGUF
   * `tokenizer.chat_template`). Throws RelufyError when the template does not parse.
   */
  constructor(readonly source: string) {
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new RelufyError(`chat template does not parse: ${errorMessage(e)}`);
    }
  }

  /**
   * Renders the conversation. `raise_exception(...)` in the template (e.g. Mistral's "roles must
   * alternate") and runtime errors surface as RelufyError with the template's message.
   */
  render(context: ChatTemplateContext): string {
    try {
      return this.template.render({
        messages: context.messages.map((m) => ({ ...m })),
        bos_token: context.bos_token,
        eos_token: context.eos_token,
        add_generation_prompt: context.add_generation_prompt,
      });
    } catch (e) {
      throw new RelufyError(`chat template: ${errorMessage(e)}`);
    }
  }
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
