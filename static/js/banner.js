// The error banner above the messages: says what went wrong, one message at a time, until the
// next success or its × hides it.

export function errorBanner(banner) {
  const text = banner.querySelector('.error-text');
  const hide = () => {
    banner.hidden = true;
  };
  banner.querySelector('.error-close').addEventListener('click', hide);
  return {
    show(message) {
      text.textContent = message;
      banner.hidden = false;
    },
    hide,
  };
}
