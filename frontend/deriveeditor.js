// The code editor of "Derive it": a plain textarea taught what a code cell
// needs. Tab indents (Shift+Tab dedents), Enter keeps the indentation (and
// adds a level after a ':'), Ctrl/Cmd+Enter submits. No editor library:
// the notebook's cells are a few lines long.

const INDENT = '    ';

function lineStart(text, pos) {
  return text.lastIndexOf('\n', pos - 1) + 1;
}

/** Replace the selection [a, b) with `text` and put the caret at `caret`; undo keeps working. */
function replace(ta, a, b, text, caret) {
  ta.focus();
  ta.setSelectionRange(a, b);
  // execCommand keeps the browser's undo history; setRangeText where it is gone
  if (!document.execCommand || !document.execCommand('insertText', false, text)) {
    ta.setRangeText(text, a, b, 'end');
  }
  ta.setSelectionRange(caret, caret);
  ta.dispatchEvent(new Event('input', { bubbles: true }));
}

function indentLines(ta, dedent) {
  const { value, selectionStart: s, selectionEnd: e } = ta;
  const a = lineStart(value, s);
  const block = value.slice(a, e);
  const lines = block.split('\n');
  const changed = lines.map((l) => (dedent ? l.replace(/^ {1,4}/, '') : INDENT + l)).join('\n');
  replace(ta, a, e, changed, a + changed.length);
}

export function wireEditor(ta, { onSubmit }) {
  ta.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      onSubmit();
      return;
    }
    if (ev.key === 'Tab' && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
      ev.preventDefault();
      const { selectionStart: s, selectionEnd: e, value } = ta;
      if (ev.shiftKey || value.slice(s, e).includes('\n')) indentLines(ta, ev.shiftKey);
      else replace(ta, s, e, INDENT, s + INDENT.length);
      return;
    }
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.altKey) {
      ev.preventDefault();
      const { selectionStart: s, selectionEnd: e, value } = ta;
      const line = value.slice(lineStart(value, s), s);
      let pad = line.match(/^ */)[0];
      if (/:\s*$/.test(line)) pad += INDENT;
      replace(ta, s, e, `\n${pad}`, s + 1 + pad.length);
    }
  });
}
