// The studio's page. It knows nothing of Twilio: the server runs each call through the project's
// phone (ivr/testers/phone.py) and answers with what the caller heard; this page shows it, speaks
// it with the browser's own voices, and asks again for the tree and the problems every few seconds.
"use strict";

const $ = (id) => document.getElementById(id);
const KEYS = "0123456789*#";
const REFRESH_MS = 1500;
let callId = null;
let waiting = null;
let busy = false;  // one action at a time, as a caller's phone

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
function showState(state) {
  if (state.error) { addLine({ kind: "action", text: state.error }, "error"); return; }
  callId = state.id;
  waiting = state.waiting;
  for (const entry of state.entries) addLine(entry);
  speak(state.entries);
  $("call").disabled = !state.ended ? true : false;
  $("hangup").disabled = state.ended;
  $("silence").disabled = waiting !== "keys";
  for (const button of document.querySelectorAll(".keypad button")) button.disabled = waiting !== "keys";
  $("outcomes").hidden = waiting !== "dial";
  $("dialing").textContent = state.dialing || "";
  if (state.ended) callId = null;
}

function addLine(entry, extra) {
  const li = element("li", [entry.kind, extra].filter(Boolean).join(" "));
  if (entry.kind === "say") {
    li.append(element("span", "lang", entry.language || "?"), document.createTextNode(entry.text));
    li.lang = entry.language || "";
  } else {
    li.textContent = entry.text;
  }
  const log = $("transcript");
  log.append(li);
  log.scrollTop = log.scrollHeight;
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

// ---- the clock ----------------------------------------------------------------------------
let clockEdited = false;  // the tester is choosing a time: the page's refresh leaves the field alone
$("clock").addEventListener("input", () => { clockEdited = true; });
function showClock(clock) {
  $("clock-label").textContent = clock.label;
  if (!clockEdited && document.activeElement !== $("clock")) $("clock").value = clock.at;
}
$("clock-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = await api("POST", "/api/clock", { at: $("clock").value });
  if (answer.error) { $("clock-label").textContent = answer.error; return; }
  clockEdited = false;
  $("clock").blur();
  showClock(answer);
  refreshTree();
});
$("clock-now").addEventListener("click", async () => { clockEdited = false; showClock(await api("POST", "/api/clock", { at: null })); refreshTree(); });

// ---- the tree and the check's problems ------------------------------------------------------
function helplineItem(h) {
  const li = element("li", "helpline");
  li.dataset.helpline = h.id;
  const number = h.number ? h.number : "no number: " + (h.how_to_reach || "");
  li.append(element("strong", "", h.name), document.createTextNode(` ${number}`));
  const facts = element("div", "facts");
  if (h.wait) {
    const secs = element("span", h.wait.over ? "over" : "", `${h.wait.seconds} s to reach (budget ${h.wait.budget} s)${h.wait.over ? ", over budget" : ""}`);
    facts.append(secs, document.createTextNode(" · "));
  }
  const state = h.open === null ? ["unknown", "hours not confirmed"] : h.open ? ["open", "open now"] : ["closed", "closed now"];
  facts.append(element("span", state[0], state[1]));
  if (h.hours) facts.append(document.createTextNode(` (${h.hours})`));
  facts.append(document.createTextNode(" · " + (h.transfer ? `transfer ${h.transfer}` + (h.transfer_key ? ` (key ${h.transfer_key})` : "") : "no transfer")));
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
async function refreshTree() {
  const tree = await api("GET", "/api/tree");
  if (tree.error) return;
  showClock(tree.clock);
  const key = JSON.stringify(tree);
  if (key === shownTree) return;  // unchanged: keep the reader's place
  shownTree = key;
  const parts = tree.languages.map((language) => {
    const section = element("section");
    section.lang = language.code;
    section.dataset.language = language.code;
    section.append(element("h3", "", `${language.code} (key ${language.key}, ${language.speech})`));
    if (language.first_topic) {
      const f = language.first_topic;
      section.append(element("p", f.over ? "over" : "facts", `First topic offered after ${f.seconds} s (budget ${f.budget} s)`));
    }
    section.append(nodeList(language.menu));
    return section;
  });
  $("tree").replaceChildren(...parts);
}

let shownProblems = null;
async function refreshProblems() {
  const answer = await api("GET", "/api/problems");
  if (answer.error) return;
  $("files").textContent = answer.files;
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
refresh();
