// What a screen reader hears about answers. The streaming text is not a live region (it would
// be read out token by token); instead a polite live region (#announcer in chat.html, which
// holds the words) says once that an answer ended, with its first sentence, or why it failed.

const FIRST_SENTENCE = /^[\s\S]*?[.!?…](?=\s|$)/;
const MAX_CHARS = 160;

const withoutMarks = (text) => text.replace(/[*_`#>|~]+/g, '').replace(/\s+/g, ' ').trim();

// The answer's opening words as a listener wants them: the first sentence of its prose (its
// code when it is all code), without Markdown marks, cut at MAX_CHARS.
export function firstSentence(text) {
  const plain = withoutMarks(text.replace(/```[\s\S]*?(```|$)/g, ' ')) || withoutMarks(text.replace(/```\S*/g, ' '));
  const sentence = (plain.match(FIRST_SENTENCE) || [plain])[0];
  return sentence.length > MAX_CHARS ? `${sentence.slice(0, MAX_CHARS - 1).trimEnd()}…` : sentence;
}

export class Announcer {
  constructor(region) {
    this.region = region;
    this.statuses = new Map(); // answer id → the status it had at the last look
    this.timer = 0;
  }

  // A text from the region's data attributes, {text} filled in.
  text(key, text = '') {
    return (this.region.dataset[key] || '').replace('{text}', text);
  }

  say(words) {
    // Emptied first and filled a moment later, so the same words twice are still read twice.
    this.region.textContent = '';
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.region.textContent = words;
    }, 100);
  }

  // After each change to the messages: an answer seen streaming that no longer is gets said.
  follow(messages) {
    for (const m of messages.all) {
      if (m.role !== 'assistant') continue;
      const before = this.statuses.get(m.id);
      this.statuses.set(m.id, m.status);
      if (before !== 'streaming' || m.status === 'streaming') continue;
      if (m.status === 'error' || m.status === 'interrupted') this.say(this.text('error', m.data.error || ''));
      else this.say(this.text(m.status === 'stopped' ? 'stopped' : 'complete', firstSentence(m.text || m.refusal)));
    }
  }
}
