// The studio's page. It knows nothing of Twilio: the server runs each call through the project's
// phone (ivr/testers/phone.py) and answers with what the caller heard; this page shows it, speaks
// it with the browser's own voices, and asks again for the tree and the problems every few seconds.
// It speaks French, Dutch or English (the browser's language first, then the tester's choice), and
// draws the map itself: nothing is fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const KEYS = "0123456789*#";
const REFRESH_MS = 1500;
const CLOCK_FORM = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}$/;  // 24-hour, whatever the locale
let callId = null;
let waiting = null;
let busy = false;  // one action at a time, as a caller's phone

// ---- the page's own language ----------------------------------------------------------------
const TEXTS = {
  en: {
    title: "The line's studio", intro: "Only on this computer. Calls run the real line on your file",
    "intro-end": "; nothing is dialled.", "ui-language": "Language of this page",
    check: "Check", "check-ok": "No problems: the line takes these files.",
    "no-line": "The line cannot start with these files: fix the errors below, and it starts by itself.",
    phone: "Phone", call: "Call", hangup: "Hang up", silence: "Stay silent", speak: "Speak aloud",
    keypad: "Keypad (or type the keys)", outcomes: "How the transfer ends", dialing: "The line is dialling",
    "how-ends": "How does it end?", answered: "answered", busy: "busy", "no-answer": "no-answer", failed: "failed",
    transcript: "Transcript", clock: "Line's clock (Brussels, 24-hour)", "clock-format": "YYYY-MM-DD HH:MM",
    "set-clock": "Set clock", "clock-now": "Real time", now: "now",
    "bad-clock": "Write the time as YYYY-MM-DD HH:MM, 24-hour: 2026-12-24 23:00",
    tree: "Tree", "tree-hint": "Seconds: speech from the start of the call until the helpline's number, against the budget.",
    "no-tree": "No tree yet: the files have had errors since the studio started.",
    map: "Map", "map-label": "Map of the phone tree", "language-choice": "Language choice",
    key: "key", "to-reach": "{s} s to reach (budget {b} s)", "over-budget": ", over budget",
    "open-now": "open now", "closed-now": "closed now", "hours-unknown": "hours not confirmed",
    transfer: "transfer {n}", "transfer-key": "transfer {n} (key {k})", "no-transfer": "no transfer",
    "no-number": "no number", "first-topic": "First topic offered after {s} s (budget {b} s)",
    presses: "caller presses {k}", "is-silent": "caller is silent", "hangs-up": "caller hangs up",
    dials: "line dials {n}", "transfer-ends": "transfer to {n}: {o}", "call-ended": "call ended",
    "no-line-call": "The line cannot start with these files: fix the problems above first",
    seconds: "{s} s", "said-in": "about {s} s",
    weekdays: ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
  },
  fr: {
    title: "Le studio de la ligne", intro: "Sur cet ordinateur seulement. Les appels passent par la vraie ligne, avec votre fichier",
    "intro-end": " ; rien n'est composé.", "ui-language": "Langue de cette page",
    check: "Vérification", "check-ok": "Aucun problème : la ligne accepte ces fichiers.",
    "no-line": "La ligne ne peut pas démarrer avec ces fichiers : corrigez les erreurs ci-dessous, elle démarrera d'elle-même.",
    phone: "Téléphone", call: "Appeler", hangup: "Raccrocher", silence: "Rester silencieux", speak: "Lire à voix haute",
    keypad: "Clavier (ou tapez les touches)", outcomes: "Comment finit la mise en relation", dialing: "La ligne compose le",
    "how-ends": "Comment cela finit-il ?", answered: "répond", busy: "occupé", "no-answer": "pas de réponse", failed: "échec",
    transcript: "Transcription", clock: "Horloge de la ligne (Bruxelles, 24 heures)", "clock-format": "AAAA-MM-JJ HH:MM",
    "set-clock": "Régler l'horloge", "clock-now": "Heure réelle", now: "maintenant",
    "bad-clock": "Écrivez l'heure sous la forme AAAA-MM-JJ HH:MM, sur 24 heures : 2026-12-24 23:00",
    tree: "Arbre", "tree-hint": "Secondes : parole depuis le début de l'appel jusqu'au numéro de la ligne d'aide, face au budget.",
    "no-tree": "Pas encore d'arbre : les fichiers ont des erreurs depuis le démarrage du studio.",
    map: "Carte", "map-label": "Carte de l'arbre téléphonique", "language-choice": "Choix de la langue",
    key: "touche", "to-reach": "{s} s pour l'atteindre (budget {b} s)", "over-budget": ", au-delà du budget",
    "open-now": "ouvert maintenant", "closed-now": "fermé maintenant", "hours-unknown": "horaires non confirmés",
    transfer: "mise en relation {n}", "transfer-key": "mise en relation {n} (touche {k})", "no-transfer": "pas de mise en relation",
    "no-number": "pas de numéro", "first-topic": "Premier sujet proposé après {s} s (budget {b} s)",
    presses: "l'appelant appuie sur {k}", "is-silent": "l'appelant se tait", "hangs-up": "l'appelant raccroche",
    dials: "la ligne compose le {n}", "transfer-ends": "mise en relation avec le {n} : {o}", "call-ended": "appel terminé",
    "no-line-call": "La ligne ne peut pas démarrer avec ces fichiers : corrigez d'abord les problèmes ci-dessus",
    seconds: "{s} s", "said-in": "environ {s} s",
    weekdays: ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
  },
  nl: {
    title: "De studio van de lijn", intro: "Alleen op deze computer. Oproepen gaan door de echte lijn, met uw bestand",
    "intro-end": "; er wordt niets gebeld.", "ui-language": "Taal van deze pagina",
    check: "Controle", "check-ok": "Geen problemen: de lijn aanvaardt deze bestanden.",
    "no-line": "De lijn kan met deze bestanden niet starten: verbeter de fouten hieronder, dan start ze vanzelf.",
    phone: "Telefoon", call: "Bellen", hangup: "Ophangen", silence: "Stil blijven", speak: "Hardop voorlezen",
    keypad: "Toetsenbord (of typ de toetsen)", outcomes: "Hoe het doorverbinden afloopt", dialing: "De lijn belt",
    "how-ends": "Hoe loopt het af?", answered: "opgenomen", busy: "bezet", "no-answer": "geen antwoord", failed: "mislukt",
    transcript: "Verslag", clock: "Klok van de lijn (Brussel, 24 uur)", "clock-format": "JJJJ-MM-DD UU:MM",
    "set-clock": "Klok instellen", "clock-now": "Echte tijd", now: "nu",
    "bad-clock": "Schrijf de tijd als JJJJ-MM-DD UU:MM, in 24 uur: 2026-12-24 23:00",
    tree: "Boom", "tree-hint": "Seconden: spraak van het begin van de oproep tot het nummer van de hulplijn, tegenover het budget.",
    "no-tree": "Nog geen boom: de bestanden hebben fouten sinds de studio startte.",
    map: "Kaart", "map-label": "Kaart van de telefoonboom", "language-choice": "Taalkeuze",
    key: "toets", "to-reach": "{s} s om te bereiken (budget {b} s)", "over-budget": ", over het budget",
    "open-now": "nu open", "closed-now": "nu gesloten", "hours-unknown": "uren niet bevestigd",
    transfer: "doorverbinden {n}", "transfer-key": "doorverbinden {n} (toets {k})", "no-transfer": "niet doorverbinden",
    "no-number": "geen nummer", "first-topic": "Eerste onderwerp na {s} s (budget {b} s)",
    presses: "beller drukt {k}", "is-silent": "beller zwijgt", "hangs-up": "beller hangt op",
    dials: "lijn belt {n}", "transfer-ends": "doorverbinden met {n}: {o}", "call-ended": "oproep beëindigd",
    "no-line-call": "De lijn kan met deze bestanden niet starten: verbeter eerst de problemen hierboven",
    seconds: "{s} s", "said-in": "ongeveer {s} s",
    weekdays: ["maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"],
  },
};
const STORED = "ivr-studio-language";
let ui = chooseLanguage();

function chooseLanguage() {
  let chosen = null;
  try { chosen = localStorage.getItem(STORED); } catch (e) { /* storage off: the browser's language */ }
  if (chosen && TEXTS[chosen]) return chosen;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const code = String(tag).toLowerCase().split(/[-_]/)[0];
    if (TEXTS[code]) return code;
  }
  return "en";
}

function t(key, values) {
  const text = (TEXTS[ui][key] !== undefined ? TEXTS[ui][key] : TEXTS.en[key]);
  if (typeof text !== "string") return text;
  return text.replace(/\{(\w)\}/g, (_, name) => (values && values[name] !== undefined ? values[name] : ""));
}

function translatePage() {
  document.documentElement.lang = ui;
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-aria]")) node.setAttribute("aria-label", t(node.dataset.i18nAria));
  $("ui-language").value = ui;
}

$("ui-language").addEventListener("change", () => {
  ui = $("ui-language").value;
  try { localStorage.setItem(STORED, ui); } catch (e) { /* kept for this page only */ }
  translatePage();
  redrawTranscript();
  if (lastClock) showClock(lastClock);
  shownTree = "";
  refreshTree();
});

async function api(method, path, body) {
  // Every POST is JSON: the studio refuses anything else, so that no other web page can drive it.
  const posting = method !== "GET";
  const response = await fetch(path, {
    method, headers: posting ? { "Content-Type": "application/json" } : {},
    body: posting ? JSON.stringify(body || {}) : undefined,
  });
  const data = await response.json().catch(() => ({ error: `the studio answered ${response.status}` }));
  if (!response.ok && !data.error) data.error = `the studio answered ${response.status}`;
  return data;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---- the phone ----------------------------------------------------------------------------
const shownEntries = [];  // kept to say them again in another language

function showState(state) {
  if (state.error) {
    addLine({ kind: "action", text: state.code === "no-line" ? t("no-line-call") : state.error }, "error");
    if (!callId) $("call").disabled = false;
    return;
  }
  const starting = callId === null;
  callId = state.id;
  waiting = state.waiting;
  for (const entry of state.entries) addLine(entry);
  speak(state.entries);
  $("call").disabled = !state.ended;
  $("hangup").disabled = state.ended;
  $("silence").disabled = waiting !== "keys";
  for (const button of document.querySelectorAll(".keypad button")) button.disabled = waiting !== "keys";
  $("outcomes").hidden = waiting !== "dial";
  $("dialing").textContent = state.dialing || "";
  if (state.ended) callId = null;
  keepFocus(starting, state.ended);
}

// Keyboard focus where a keyboard user expects it: on Hang up once a call starts (the Call button
// they pressed is disabled), on the first outcome while a transfer rings, back on Call at the end.
// A control that still works keeps it.
function keepFocus(starting, ended) {
  const active = document.activeElement;
  const lost = !active || active === document.body || active.disabled || active.closest("[hidden]");
  if (ended) { if (lost || active === $("hangup")) $("call").focus(); return; }
  if (waiting === "dial") { if (!active || !active.closest("#outcomes")) document.querySelector("#outcomes button").focus(); return; }
  if (starting || lost) $("hangup").focus();
}

const ACTIONS = [  // what the server writes for the caller's and the line's actions, in the page's words
  [/^caller presses (.+)$/, (m) => t("presses", { k: m[1] })],
  [/^caller is silent$/, () => t("is-silent")],
  [/^caller hangs up$/, () => t("hangs-up")],
  [/^line dials (.+)$/, (m) => t("dials", { n: m[1] })],
  [/^transfer to (\S+): (.+)$/, (m) => t("transfer-ends", { n: m[1], o: t(m[2] === "completed" ? "answered" : m[2]) })],
  [/^call ended$/, () => t("call-ended")],
];

function inWords(text) {
  for (const [pattern, say] of ACTIONS) {
    const found = pattern.exec(text);
    if (found) return say(found);
  }
  return text;
}

function addLine(entry, extra) {
  shownEntries.push([entry, extra]);
  drawLine(entry, extra);
}

function drawLine(entry, extra) {
  const li = element("li", [entry.kind, extra].filter(Boolean).join(" "));
  if (entry.kind === "say") {
    li.append(element("span", "lang", entry.language || "?"), document.createTextNode(entry.text));
    li.lang = entry.language || "";
    if (entry.seconds !== undefined) {
      const secs = element("span", "secs", t("seconds", { s: entry.seconds }));
      secs.title = t("said-in", { s: entry.seconds });
      li.append(" ", secs);
    }
  } else {
    li.textContent = inWords(entry.text);
  }
  const log = $("transcript");
  log.append(li);
  log.scrollTop = log.scrollHeight;
}

function redrawTranscript() {
  $("transcript").replaceChildren();
  for (const [entry, extra] of shownEntries) drawLine(entry, extra);
}

async function act(action, body) {
  if (busy || !callId) return;
  busy = true;
  stopSpeaking();  // a key pressed while the line speaks interrupts it, as on a phone
  try { showState(await api("POST", `/api/calls/${callId}/${action}`, body)); } finally { busy = false; }
}

function press(key) { if (waiting === "keys") act("press", { key }); }

$("call").addEventListener("click", async () => {
  if (busy || callId) return;
  busy = true;
  $("call").disabled = true;
  shownEntries.length = 0;
  $("transcript").replaceChildren();
  try { showState(await api("POST", "/api/calls")); } finally { busy = false; }
});
$("hangup").addEventListener("click", () => { stopSpeaking(); act("hangup"); });
$("silence").addEventListener("click", () => act("silence"));
for (const button of document.querySelectorAll(".keypad button")) {
  button.disabled = true;
  button.addEventListener("click", () => press(button.dataset.key));
}
for (const button of document.querySelectorAll("#outcomes button")) {
  button.addEventListener("click", () => act("outcome", { outcome: button.dataset.outcome }));
}
document.addEventListener("keydown", (event) => {
  // Typing a key presses it, unless the tester is typing in a field (the clock).
  if (event.target.closest && event.target.closest("input, textarea, select")) return;
  if (event.ctrlKey || event.altKey || event.metaKey || !KEYS.includes(event.key)) return;
  event.preventDefault();
  press(event.key);
});

// ---- speech: the browser's own voices, the line's recordings --------------------------------
const queue = [];
let current = null;

function voiceFor(language) {
  if (!("speechSynthesis" in window) || !language) return null;
  const voices = speechSynthesis.getVoices();
  const norm = (tag) => tag.toLowerCase().replace("_", "-");
  return voices.find((v) => norm(v.lang) === norm(language))
      || voices.find((v) => norm(v.lang).split("-")[0] === norm(language).split("-")[0]) || null;
}

function speak(entries) {
  if (!$("speak").checked) return;
  for (const entry of entries) {
    if (entry.kind === "say" && voiceFor(entry.language)) queue.push(entry);
    if (entry.kind === "play") queue.push(entry);
  }
  if (!current) next();
}

function next() {
  current = queue.shift() || null;
  if (!current) return;
  if (current.kind === "play") {
    const audio = new Audio(current.url);
    current.audio = audio;
    audio.onended = audio.onerror = next;
    audio.play().catch(next);
    return;
  }
  const utterance = new SpeechSynthesisUtterance(current.text);
  utterance.voice = voiceFor(current.language);
  utterance.lang = current.language;
  utterance.onend = utterance.onerror = next;
  speechSynthesis.speak(utterance);
}

function stopSpeaking() {
  queue.length = 0;
  if (current && current.audio) current.audio.pause();
  current = null;
  if ("speechSynthesis" in window) speechSynthesis.cancel();
}
$("speak").addEventListener("change", () => { if (!$("speak").checked) stopSpeaking(); });

// ---- the clock: 24-hour text, the same in every locale ------------------------------------------
let clockEdited = false;  // the tester is choosing a time: the page's refresh leaves the field alone
let clockRefused = false;  // the typed time was refused: the form to use stays said until the next key
let lastClock = null;
$("clock").addEventListener("input", () => { clockEdited = true; clockRefused = false; });
function showClock(clock) {
  lastClock = clock;
  const day = t("weekdays")[clock.weekday - 1] || "";
  $("clock-label").textContent = clockRefused ? t("bad-clock") : `${day} ${clock.at}` + (clock.set ? "" : ` (${t("now")})`);
  if (!clockEdited && document.activeElement !== $("clock")) $("clock").value = clock.at;
}
function refuseClock() {
  clockRefused = true;
  $("clock-label").textContent = t("bad-clock");
}
$("clock-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const typed = $("clock").value.trim();
  if (!CLOCK_FORM.test(typed)) { refuseClock(); return; }
  const answer = await api("POST", "/api/clock", { at: typed });
  if (answer.error) { refuseClock(); return; }
  clockEdited = false;
  clockRefused = false;
  showClock(answer);
  refreshTree();
});
$("clock-now").addEventListener("click", async () => { clockEdited = false; clockRefused = false; showClock(await api("POST", "/api/clock", { at: null })); refreshTree(); });

// ---- the tree and the check's problems ------------------------------------------------------
function helplineItem(h) {
  const li = element("li", "helpline");
  li.dataset.helpline = h.id;
  const number = h.number ? h.number : `${t("no-number")}: ` + (h.how_to_reach || "");
  li.append(element("strong", "", h.name), document.createTextNode(` ${number}`));
  const facts = element("div", "facts");
  if (h.wait) {
    const secs = element("span", h.wait.over ? "over" : "", t("to-reach", { s: h.wait.seconds, b: h.wait.budget }) + (h.wait.over ? t("over-budget") : ""));
    facts.append(secs, document.createTextNode(" · "));
  }
  const state = h.open === null ? ["unknown", t("hours-unknown")] : h.open ? ["open", t("open-now")] : ["closed", t("closed-now")];
  facts.append(element("span", state[0], state[1]));
  if (h.hours) facts.append(document.createTextNode(` (${h.hours})`));
  const transfer = h.transfer ? (h.transfer_key ? t("transfer-key", { n: h.transfer, k: h.transfer_key }) : t("transfer", { n: h.transfer })) : t("no-transfer");
  facts.append(document.createTextNode(" · " + transfer));
  li.append(facts);
  return li;
}

function nodeList(node) {
  const ul = element("ul");
  if (node.kind === "page") {
    for (const h of node.helplines) ul.append(helplineItem(h));
    return ul;
  }
  for (const option of node.options) {
    const li = element("li");
    li.append(element("span", "optkey", option.key), document.createTextNode(`  ${option.say}`));
    if (option.node.kind === "menu") li.append(document.createTextNode(` → ${option.node.intro || option.node.id}`));
    li.append(nodeList(option.node));
    ul.append(li);
  }
  return ul;
}

let shownTree = "";
let treeAsked = 0;  // the newest request: an older answer arriving after it (the clock was set again) is dropped
async function refreshTree() {
  const asked = ++treeAsked;
  const tree = await api("GET", "/api/tree");
  if (tree.error || asked !== treeAsked) return;
  showClock(tree.clock);
  const key = JSON.stringify(tree);
  if (key === shownTree) return;  // unchanged: keep the reader's place
  shownTree = key;
  if (!tree.languages.length) {
    $("tree").replaceChildren(element("p", "hint", t("no-tree")));
    $("map").replaceChildren();
    return;
  }
  const parts = tree.languages.map((language) => {
    const section = element("section");
    section.lang = language.code;
    section.dataset.language = language.code;
    section.append(element("h3", "", `${language.code} (${t("key")} ${language.key}, ${language.speech})`));
    if (language.first_topic) {
      const f = language.first_topic;
      section.append(element("p", f.over ? "over" : "facts", t("first-topic", { s: f.seconds, b: f.budget })));
    }
    section.append(nodeList(language.menu));
    return section;
  });
  $("tree").replaceChildren(...parts);
  $("map").replaceChildren(drawMap(tree.languages));
}

// ---- the map: the tree drawn as a picture (SVG), from the same data ---------------------------
const SVG = "http://www.w3.org/2000/svg";
const COLUMN = 330, BOX = 300, LINE = 17, GAP = 12, LABEL = 44;  // LABEL: characters a box line holds

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function shortened(text, room = LABEL) { return text.length > room ? text.slice(0, room - 1) + "…" : text; }

// A helpline's line in the map: its number always whole (what the caller needs), its name shortened.
function helplineLine(h) {
  const number = (h.number || t("no-number")) + (h.transfer ? " ☎" : "");
  return { full: `${h.name}: ${number}`, shown: `${shortened(h.name, LABEL - number.length - 2)}: ${number}` };
}

function drawMap(languages) {
  // Left to right: the language choice, each language's main menu, its options; a page is one
  // box listing its helplines. Leaves take rows from the top; a parent sits level with its children.
  const boxes = [], edges = [];
  let y = GAP;
  function place(lines, kind, depth, children) {
    const placed = children.map(([key, child]) => [key, child()]);
    const height = lines.length * LINE + 8;
    let top;
    if (placed.length) {
      const first = placed[0][1], last = placed[placed.length - 1][1];
      top = (first.top + first.height / 2 + last.top + last.height / 2) / 2 - height / 2;
    } else {
      top = y;
      y += height + GAP;
    }
    const box = { lines, kind, depth, top, height };
    boxes.push(box);
    for (const [key, child] of placed) edges.push([box, child, key]);
    return box;
  }
  function visit(node, label, depth) {
    if (node.kind === "page") {
      return place(node.helplines.map(helplineLine), "page", depth, []);
    }
    return place([label || node.id], "menu", depth, node.options.map((o) => [o.key, () => visit(o.node, o.node.id, depth + 1)]));
  }
  place([t("language-choice")], "root", 0, languages.map((l) => [`${l.key}: ${l.code}`, () => visit(l.menu, `${l.code}: ${l.menu.id}`, 1)]));
  const depth = Math.max(...boxes.map((b) => b.depth));
  const picture = svg("svg", { role: "img", "aria-label": t("map-label"), width: (depth + 1) * COLUMN, height: y,
                               viewBox: `0 0 ${(depth + 1) * COLUMN} ${y}` });
  picture.append(svg("title", {}, t("map-label")));
  for (const [from, to, key] of edges) {
    const x1 = from.depth * COLUMN + BOX, y1 = from.top + from.height / 2;
    const x2 = to.depth * COLUMN, y2 = to.top + to.height / 2;
    const bend = (x1 + x2) / 2;
    picture.append(svg("path", { d: `M${x1},${y1} C${bend},${y1} ${bend},${y2} ${x2},${y2}`, class: "edge" }));
    picture.append(svg("text", { x: x2 - 4, y: y2 - 4, class: "edge-key", "text-anchor": "end" }, key));
  }
  for (const box of boxes) {
    const group = svg("g", { class: `box ${box.kind}` });
    group.append(svg("rect", { x: box.depth * COLUMN, y: box.top, width: BOX, height: box.height, rx: 5 }));
    box.lines.forEach((text, i) => {
      const { full, shown } = typeof text === "string" ? { full: text, shown: shortened(text) } : text;
      const line = svg("text", { x: box.depth * COLUMN + 6, y: box.top + 4 + LINE * (i + 1) - 4 }, shown);
      if (shown !== full) line.append(svg("title", {}, full));  // the whole text, on hover and for screen readers
      group.append(line);
    });
    picture.append(group);
  }
  return picture;
}

let shownProblems = null;
async function refreshProblems() {
  const answer = await api("GET", "/api/problems");
  if (answer.error) return;
  $("files").textContent = answer.files;
  $("no-line").hidden = answer.line !== false;
  const key = JSON.stringify(answer.problems);
  if (key === shownProblems) return;  // unchanged: the alert is not announced again
  shownProblems = key;
  $("problems").replaceChildren(...answer.problems.map((p) => element("li", / error: /.test(p) ? "error" : "warning", p)));
  $("check-ok").hidden = answer.problems.length > 0;
}

async function refresh() {
  try { await Promise.all([refreshProblems(), refreshTree()]); } catch (e) { /* the studio stopped: try again */ }
  setTimeout(refresh, REFRESH_MS);
}
translatePage();
refresh();
