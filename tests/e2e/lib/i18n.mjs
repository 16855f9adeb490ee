// Checks that a page of web_player/ speaks one language: the visible text, the placeholders,
// aria-labels and titles, the options of menus and the document's title, with the user's own
// data (titles, names, file names) taken out first.
//
// Vietnamese: no word that only the English file uses ("Upload", "Loading", "Auto", ...).
// English: no letter with a Vietnamese diacritic.

import fs from 'node:fs';
import path from 'node:path';

import { REPO_ROOT } from './tools.mjs';

const WEB_ROOT = path.join(REPO_ROOT, 'web_player');

export function readStrings(lang) {
  return JSON.parse(fs.readFileSync(path.join(WEB_ROOT, `strings.${lang}.json`), 'utf8'));
}

// Words (3+ ASCII letters) of the English file's messages that no Vietnamese message uses
// (technical names such as SRT, OBS, URL, Stream ID are in both, and are allowed).
function englishOnlyWords() {
  const words = (strings) => new Set(Object.values(strings)
    .map((m) => m.replace(/\{[^}]*\}/g, ' '))
    .flatMap((m) => m.match(/[A-Za-z]{3,}/g) || []).map((w) => w.toLowerCase()));
  const vi = words(readStrings('vi'));
  return [...words(readStrings('en'))].filter((w) => !vi.has(w)).sort();
}

const VIETNAMESE_LETTER = /[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]/i;

// What a reader of `page` sees: text of rendered elements, and the words assistive technology
// reads out. The language switch's own buttons (VI, EN, "Tiếng Việt", "English") are left out,
// and so is what a page marks translate="no" (a signed-in person's name in the header: the
// user's own words, on every page).
async function visibleTexts(page) {
  return page.evaluate(() => {
    const out = [document.title];
    const shown = (e) => e.checkVisibility({ checkOpacity: false, checkVisibilityCSS: true });
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const e = n.parentElement;
      if (!n.textContent.trim() || e.closest('[data-lang], [translate="no"], script, style')) continue;
      // <option>s are not "visible" as boxes, but their select is.
      const box = e.closest('option') ? e.closest('select') : e;
      if (box && shown(box)) out.push(n.textContent.trim());
    }
    for (const e of document.body.querySelectorAll('[placeholder], [aria-label], [title]')) {
      if (e.closest('[data-lang], [translate="no"]') || !shown(e)) continue;
      for (const a of ['placeholder', 'aria-label', 'title']) if (e.getAttribute(a)) out.push(e.getAttribute(a));
    }
    return out;
  });
}

// The texts of `page` that are not in `lang` ('vi' or 'en'), after removing the substrings in
// `userData` (what users typed: titles, names). Empty when the page is all in `lang`.
export async function untranslated(page, lang, userData = []) {
  const english = lang === 'vi' ? englishOnlyWords() : [];
  const found = [];
  for (let text of await visibleTexts(page)) {
    for (const u of userData) if (u) text = text.split(u).join(' ');
    if (lang === 'vi') {
      const words = (text.match(/[A-Za-z]{3,}/g) || []).filter((w) => english.includes(w.toLowerCase()));
      if (words.length) found.push(`${text} (${words.join(', ')})`);
    } else if (VIETNAMESE_LETTER.test(text)) {
      found.push(text);
    }
  }
  return found;
}
