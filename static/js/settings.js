// The conversation settings panel: system prompt and request parameters, checked by the
// server (chatsite/chat/parameters.py), whose error is shown in the panel.

import { postJSON } from './net.js';
import { gettext } from './i18n.js';

const NUMBERS = ['temperature', 'top_p', 'max_tokens', 'seed', 'presence_penalty', 'frequency_penalty', 'top_logprobs'];

function parseJSON(text, what) {
  if (!text.trim()) return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(gettext('%(field)s: not valid JSON.', { field: what }));
  }
}

// Form fields → the parameters object the server expects (empty fields are left out).
function readForm(form) {
  const f = form.elements;
  const parameters = {};
  for (const name of NUMBERS) {
    const value = f[name].value.trim();
    if (value !== '') parameters[name] = Number(value);
  }
  const stop = f.stop.value.split('\n').filter((line) => line !== '');
  if (stop.length) parameters.stop = stop;
  if (f.reasoning_effort.value) parameters.reasoning_effort = f.reasoning_effort.value;
  // A control disabled for this model sends nothing (top_logprobs needs logprobs).
  if (f.logprobs.disabled) delete parameters.top_logprobs;
  else if (f.logprobs.checked) parameters.logprobs = true;
  if (f.web_search.checked && !f.web_search.disabled) {
    // A location set elsewhere (a preset, the admin) is kept: the panel has no fields for it.
    const kept = form.webSearchOptions || {};
    const options = kept.user_location ? { user_location: kept.user_location } : {};
    if (f.search_context_size.value) options.search_context_size = f.search_context_size.value;
    parameters.web_search_options = options;
  }
  const format = f.response_format.value;
  if (format === 'json_object') parameters.response_format = { type: 'json_object' };
  if (format === 'json_schema') {
    const schema = parseJSON(f.schema.value, gettext('Schema'));
    if (!schema) throw new Error(gettext('Schema: give the JSON Schema the answer must follow.'));
    const spec = { name: f.schema_name.value.trim() || 'answer', schema };
    if (f.schema_strict.checked) spec.strict = true;
    parameters.response_format = { type: 'json_schema', json_schema: spec };
  }
  const extra = parseJSON(f.extra_body.value, gettext('Extra request fields'));
  if (extra !== null) parameters.extra_body = extra;
  const tools = [...form.querySelectorAll('.tool-switch:checked')].map((box) => box.value);
  return { system_prompt: f.system_prompt.value, parameters, tools };
}

function fillForm(form, conversation) {
  form.elements.preset.value = '';
  form.dataset.model = '';
  const f = form.elements;
  const p = conversation.parameters || {};
  f.system_prompt.value = conversation.system_prompt || '';
  for (const name of NUMBERS) f[name].value = p[name] ?? '';
  f.stop.value = p.stop ? [].concat(p.stop).join('\n') : '';
  f.reasoning_effort.value = p.reasoning_effort || '';
  f.logprobs.checked = Boolean(p.logprobs);
  form.webSearchOptions = p.web_search_options || null;
  f.web_search.checked = Boolean(p.web_search_options);
  f.search_context_size.value = p.web_search_options?.search_context_size || '';
  const format = p.response_format?.type;
  f.response_format.value = format === 'json_object' || format === 'json_schema' ? format : '';
  const spec = p.response_format?.json_schema;
  f.schema_name.value = spec?.name || '';
  f.schema.value = spec ? JSON.stringify(spec.schema, null, 2) : '';
  f.schema_strict.checked = Boolean(spec?.strict);
  f.extra_body.value = p.extra_body ? JSON.stringify(p.extra_body, null, 2) : '';
  // A preset carries no tools: picking one leaves the switches as they are.
  if (conversation.tools) {
    for (const box of form.querySelectorAll('.tool-switch')) box.checked = conversation.tools.includes(box.value);
  }
}

// One switch per tool; the model's abilities say whether it can call tools at all.
function buildToolSwitches(fieldset, tools) {
  const list = fieldset.querySelector('.tool-list');
  for (const tool of tools) {
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.className = 'tool-switch';
    box.value = tool.name;
    const label = document.createElement('label');
    label.className = 'check';
    label.title = tool.description;
    const hint = document.createElement('span');
    hint.className = 'tool-description';
    hint.textContent = tool.description;
    label.append(box, ` ${tool.label} `, hint);
    list.append(label);
  }
  fieldset.hidden = !tools.length;
}

function syncToolAbility(fieldset, model) {
  const unable = model && model.abilities && model.abilities.tools === false;
  const note = fieldset.querySelector('.tool-unavailable');
  note.hidden = !unable;
  note.textContent = unable ? gettext('%(model)s cannot call tools: the switches are kept but not used with it.', { model: model.label }) : '';
  for (const box of fieldset.querySelectorAll('.tool-switch')) box.disabled = Boolean(unable);
}

// What each ability-dependent control needs, and how to say the model lacks it.
const ABILITY_CONTROLS = [
  { ability: 'web_search', fields: ['web_search', 'search_context_size'], reason: gettext('%(model)s cannot search the web.') },
  { ability: 'logprobs', fields: ['logprobs', 'top_logprobs'], reason: gettext('%(model)s does not report token probabilities.') },
  { ability: 'reasoning', fields: ['reasoning_effort'], reason: gettext('%(model)s takes no reasoning effort.') },
  { ability: 'json', fields: ['response_format'], reason: gettext('%(model)s has no JSON mode.') },
];

// Offer a control only where the model supports it. Abilities may be missing (an older
// page config, a model nobody described): then the control is offered.
function applyAbilities(form, model) {
  const abilities = model?.abilities || {};
  // The largest answer the model gives: larger limits are sent as this.
  const maxTokens = form.elements.max_tokens;
  maxTokens.max = abilities.max_output || '';
  maxTokens.placeholder = abilities.max_output ? gettext('up to %(count)s', { count: abilities.max_output }) : '';
  for (const { ability, fields, reason } of ABILITY_CONTROLS) {
    const unsupported = abilities[ability] === false;
    for (const name of fields) form.elements[name].disabled = unsupported;
    const note = form.querySelector(`.ability-note[data-ability="${ability}"]`);
    note.textContent = unsupported ? reason.replace('%(model)s', model.label) : '';
    note.hidden = !unsupported;
  }
}

// open(): shows the panel for the current conversation (created first when there is none);
// onSaved(conversation) gets the server's answer.
export function settingsPanel({
  dialog, button, optionsUrl, currentConversation, ensureConversation, onSaved, presets, presetUrl, models, currentModel, tools = [],
}) {
  const form = dialog.querySelector('form');
  const toolFields = form.querySelector('.tool-fields');
  buildToolSwitches(toolFields, tools);
  // The model the settings will apply to: a picked preset's, or the conversation's.
  const syncAbilities = () => {
    const id = form.dataset.model || currentModel();
    const model = models.find((m) => m.id === id);
    applyAbilities(form, model);
    syncToolAbility(toolFields, model);
  };
  const presetSelect = form.elements.preset;
  const addPresetOption = (preset) => {
    const option = document.createElement('option');
    option.value = String(preset.id);
    option.textContent = preset.name;
    presetSelect.append(option);
  };
  presets.forEach(addPresetOption);
  // Picking a preset fills the form (and the model it names); Save applies it.
  presetSelect.addEventListener('change', () => {
    const preset = presets.find((p) => String(p.id) === presetSelect.value);
    if (!preset) return;
    fillForm(form, preset);
    presetSelect.value = String(preset.id);
    form.dataset.model = preset.model || '';
    syncSchema();
    syncAbilities();
  });
  dialog.querySelector('.preset-save').addEventListener('click', async () => {
    try {
      const name = form.elements.preset_name.value.trim();
      if (!name) throw new Error(gettext('Give the preset a name.'));
      const preset = await postJSON(presetUrl, { ...readForm(form), name, model: currentConversation().model });
      presets.push(preset);
      addPresetOption(preset);
      presetSelect.value = String(preset.id);
      form.elements.preset_name.value = '';
      showError('');
    } catch (err) {
      showError(err.message);
    }
  });
  const error = dialog.querySelector('.settings-error');
  const schemaFields = dialog.querySelector('.schema-fields');
  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };
  const syncSchema = () => {
    schemaFields.hidden = form.elements.response_format.value !== 'json_schema';
  };
  form.elements.response_format.addEventListener('change', syncSchema);

  button.addEventListener('click', async () => {
    try {
      await ensureConversation();
    } catch (e) {
      return showError(e.message);
    }
    fillForm(form, currentConversation());
    syncSchema();
    syncAbilities();
    showError('');
    dialog.showModal();
  });
  dialog.querySelector('.settings-cancel').addEventListener('click', () => dialog.close());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const save = form.querySelector('.settings-save');
    save.disabled = true;
    try {
      const settings = readForm(form);
      if (form.dataset.model) settings.model = form.dataset.model;
      const answer = await postJSON(optionsUrl(currentConversation().id), settings);
      onSaved(answer);
      dialog.close();
    } catch (err) {
      showError(err.message);
    } finally {
      save.disabled = false;
    }
  });
}
