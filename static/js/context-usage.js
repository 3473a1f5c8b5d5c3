// Under the composer: about how many tokens the next request carries, against the model's
// context length, marked when over 80 % of it.

const count = (n) => n.toLocaleString('en-US');

// answer: the last assistant message's record (or none); model: the chosen model, or null.
// About: the last answer's prompt and answer (less its reasoning, which is not sent back),
// before the new question.
export function showContextUsage(el, answer, model) {
  const d = answer?.status === 'streaming' ? null : answer?.data;
  const used = !d ? 0 : d.context_tokens ?? (d.prompt_tokens ?? 0) + (d.completion_tokens ?? 0) - (d.reasoning_tokens ?? 0);
  el.hidden = !used;
  if (!used) return;
  const context = model?.abilities.context_length;
  const about = d.usage_estimated ? '≈ ' : '';
  el.textContent = context ? `${about}${count(used)} / ${count(context)} tokens` : `${about}${count(used)} tokens`;
  el.classList.toggle('context-usage--high', Boolean(context) && used > 0.8 * context);
  el.title = 'Tokens this conversation carries: the prompt and answer tokens of the last request '
    + '(without reasoning, which is not sent back), about what the next request sends before your new message'
    + (context ? `, against the model's context length of ${count(context)} tokens.` : '. The model\'s context length is not known.')
    + (d.usage_estimated ? ' Estimated: the provider sent no counts.' : '');
}
