// The model picker in the header: the usable models grouped by provider. A conversation's
// model that was hidden or disabled since is shown as unavailable, not swapped for another.
import { h } from './dom.js';
import { gettext } from './i18n.js';

export class ModelPicker {
  constructor(select, models) {
    this.select = select;
    this.models = models; // [{id, label, provider, abilities}] from the page's config
  }

  fill(id) {
    const groups = new Map();
    for (const model of this.models) {
      if (!groups.has(model.provider)) groups.set(model.provider, h('optgroup', { label: model.provider }));
      groups.get(model.provider).append(h('option', { value: model.id, text: model.label }));
    }
    this.select.replaceChildren(...groups.values());
    if (!this.models.length) {
      this.select.append(h('option', { value: '', text: gettext('No models available') }));
      this.select.disabled = true;
    }
    this.choose(id);
  }

  // Show id as the chosen (and saved) model.
  choose(id) {
    if (!id) return;
    if (![...this.select.options].some((o) => o.value === id)) {
      this.select.prepend(h('option', { value: id, disabled: true, text: gettext('%(model)s (unavailable)', { model: id }) }));
    }
    this.select.value = id;
    this.keep(id);
  }

  get value() {
    return this.select.value;
  }

  // The chosen model's {id, label, provider, abilities}, or null.
  get current() {
    return this.models.find((m) => m.id === this.select.value) || null;
  }

  // The server saved id as the conversation's model: a failed change goes back to it.
  keep(id) {
    this.select.dataset.current = id;
  }

  revert() {
    this.select.value = this.select.dataset.current || '';
  }
}
