// Under the composer: about how many tokens the next request carries, against the model's
// context length, marked when over 80 % of it.
import { gettext, formatNumber } from './i18n.js';

const count = (n) => formatNumber(n);

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
  el.textContent = about + (context
    ? gettext('%(used)s / %(context)s tokens', { used: count(used), context: count(context) })
    : gettext('%(used)s tokens', { used: count(used) }));
  el.classList.toggle('context-usage--high', Boolean(context) && used > 0.8 * context);
  el.title = (context
    ? gettext("Tokens this conversation carries: the prompt and answer tokens of the last request (without reasoning, which is not sent back), about what the next request sends before your new message, against the model's context length of %(context)s tokens.", { context: count(context) })
    : gettext("Tokens this conversation carries: the prompt and answer tokens of the last request (without reasoning, which is not sent back), about what the next request sends before your new message. The model's context length is not known."))
    + (d.usage_estimated ? ' ' + gettext('Estimated: the provider sent no counts.') : '');
}
