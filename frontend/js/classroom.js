// Classroom tools in the title bar: "Download report" (GET /api/report with every selection on screen: the
// sentence, model, layer, head, query token, interventions, temperature, depth, measure, the token explained and
// the one it is compared with, and whether special tokens are hidden) and "Share" (a dialog
// with the address students open and its QR code, made by the backend, GET /api/share, asked through the data
// layer). The QR code is shown as an image (a data: URL), never inserted as markup.
import { reportURL } from "./api.js";
import { data } from "./data.js";
import { loadingNow } from "./loading.js";
import { serialize, state } from "./state.js";
import { formatAblate, unavailable, vocab } from "./vocab.js";

const $ = (id) => document.getElementById(id);

/**
 * The depth to send for the state's `depth` on a model of `info` (its /api/models entry): the embeddings view draws
 * a depth past the model's last as the last, so past n_layers (every model has n_layers + 1 depths or n_layers + 2,
 * its last) none is sent, which the report takes as the last; a depth kept from a model with more depths was sent as
 * it was, and the report refused it (422: a failed download).
 */
function reportDepth(depth, info) {
  if (depth === null || depth === undefined) return undefined;
  return info && Number.isInteger(info.n_layers) && depth > info.n_layers ? undefined : depth;
}

/**
 * The address of the report of what is on screen (`s` the page's state): `query`, the query token the page shows (or
 * null); `model`, the model the views show (a checkpoint NAME@STEP at a training step), else the state's; `info`,
 * that model's /api/models entry. The Why section explains the token chosen (`target`, against `versus`) after the
 * query token, as the lens and attribution do.
 */
export function reportHref(s, { query = null, model = null, info = null } = {}) {
  // a model whose report explains no next token (no lens, no logit attribution: MiniLM) refuses a token to explain
  const explains = !(unavailable(info, "lens") && unavailable(info, "logit_attribution"));
  return reportURL({
    text: s.text, model: model || s.model || undefined, layer: s.layer, head: s.head, query: query ?? undefined,
    positions: s.positions, scale: s.scale ? undefined : "false", ablate: formatAblate(s.ablate) || undefined,
    temperature: s.temp === 1 ? undefined : s.temp, depth: reportDepth(s.depth, info),
    metric: s.metric === "cosine" ? undefined : s.metric, token: explains ? s.target ?? undefined : undefined,
    versus: explains ? s.versus ?? undefined : undefined,
    hide_special: s.hidespecial ? "true" : undefined,
  });
}

/**
 * Why the report of a sentence of `tokens` tokens cannot be made on `model` (its /api/models entry), or "": a report
 * draws every head, so it takes at most the model's `max_report_tokens` (the server answers 422 past it, which a
 * browser's download only shows as failed). Unknown counts or limits: "" (the server decides).
 */
export function reportRefusal({ tokens = null, model = null } = {}) {
  const limit = model && model.max_report_tokens;
  if (!Number.isInteger(tokens) || !Number.isInteger(limit) || tokens <= limit) return "";
  return `This sentence is ${tokens} tokens; a report on ${model.name} takes at most ${limit} (it draws every head): ` +
    "shorten the sentence or choose a smaller model to download one.";
}

/**
 * Why Download report waits, or "": `loading` ({model, progress}, loading.js's loadingNow) is the report's model
 * while the server loads it. The server answers a report asked for meanwhile with a 503, which a browser's download
 * only shows as failed (nothing asks again, as the page's own requests do).
 */
export function reportWaits(loading = null) {
  if (!loading) return "";
  const done = typeof loading.progress === "number" ? ` (${Math.round(loading.progress * 100)}% done)` : "";
  return `${loading.model} is still loading on the server${done}: click Download report again once the views show ` +
    "its numbers.";
}

/**
 * Point Download report at the report of what is on screen (reportHref); `tokens`: the sentence's token count (null
 * until it is analysed); `info`: the shown model's /api/models entry.
 */
export function update({ query = null, model: shown = null, tokens = null, info = null } = {}) {
  const link = $("download-report");
  if (!link) return;
  const model = shown || state.model || undefined;
  const href = reportHref(state, { query, model, info });
  const refusal = reportRefusal({ tokens, model: info });
  if (link.getAttribute("href") === href && (link.dataset.refusal || "") === refusal) return;
  link.href = href;
  link.dataset.model = model || ""; // (none: the default model)
  if (refusal) {
    link.dataset.refusal = refusal;
    link.setAttribute("aria-disabled", "true");
  } else {
    delete link.dataset.refusal;
    link.removeAttribute("aria-disabled");
  }
  link.title = refusal || `one self-contained HTML file (works offline) of this sentence on ${model || "the default model"}, layer ${state.layer}, ` +
    `head ${state.head}${query === null ? "" : `, query token ${query}`}`;
}

let shareAsked = 0; // the latest Share request: an older answer arriving later is dropped
let shareLink = ""; // what Copy copies: the link the code opens (this view, or the start address), once it is made

async function loadShare() {
  const dialog = $("share-dialog");
  const withView = $("share-view").checked;
  // the whole view, in a lesson its step too, without presenter mode (each student's screen is a laptop, not a
  // projector): the students see the numbers the projector shows, on the teacher's sentence, model and head (a code
  // of the step alone opened the lesson's own sentence and head, with other numbers)
  const query = new URLSearchParams(serialize());
  query.delete("present");
  const asked = ++shareAsked;
  dialog.dataset.state = "loading";
  shareLink = "";
  $("share-url").textContent = "…";
  try {
    // a view longer than the API takes (two long sentences of emoji) is sent cut to its lesson step, as the server
    // would cut it for the QR code anyway, with `cut` for the note that says so
    const whole = withView ? query.toString() : "";
    const cut = whole.length > vocab.limits.max_share_view;
    const view = cut ? new URLSearchParams([...query].filter(([k]) => k === "lesson" || k === "step")).toString() : whole;
    const r = await data.request({ api: "share", params: { view, ...(cut ? { cut: true } : {}) } });
    if (asked !== shareAsked) return;
    // the address to type is the short one; the code opens the view itself
    $("share-url").textContent = r.base_url;
    $("share-url").href = r.url;
    shareLink = r.url;
    // a view too long for a QR code is cut to its lesson step (the server's note says why): the code then opens the
    // step on the lesson's own sentence, not this view
    const kept = new URL(r.url).searchParams;
    const all = [...query].every(([k, v]) => v === "" || kept.has(k)); // (an empty value is left out of the address)
    $("share-detail").textContent = r.url === r.base_url ? ""
      : all ? `The code opens this view${state.lesson ? `, at step ${state.step} of this lesson` : ""}: ${r.url}`
        : `The code opens step ${kept.get("step")} of this lesson, on the lesson’s own sentence: ${r.url}`;
    // made only when shown (the page has no image otherwise): the SVG as an image, never as markup
    const img = $("share-qr") || Object.assign(document.createElement("img"), { id: "share-qr", className: "share-qr", width: 320, height: 320 });
    img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(r.qr_svg)}`;
    img.alt = `QR code of ${r.url}`;
    $("share-qr-box").replaceChildren(img);
    $("share-note").textContent = r.note || "";
    $("share-note").hidden = !r.note;
    $("share-note").classList.toggle("bad", !r.reachable);
    dialog.dataset.state = "ready";
  } catch (err) {
    if (err.name === "AbortError" || asked !== shareAsked) return;
    $("share-url").textContent = "";
    $("share-note").textContent = `The address could not be made: ${err.message}`;
    $("share-note").hidden = false;
    dialog.dataset.state = "ready";
  }
}

export function wire() {
  const report = $("download-report");
  if (report) {
    // a report the server would refuse, or one of a model still loading: say why here rather than start a download
    // that fails
    report.addEventListener("click", (e) => {
      const said = report.dataset.refusal || reportWaits(loadingNow(report.dataset.model || null));
      if (!said) return;
      e.preventDefault();
      $("status").textContent = said;
    });
  }
  const share = $("share");
  const dialog = $("share-dialog");
  if (share && dialog) {
    share.addEventListener("click", () => {
      dialog.showModal();
      loadShare();
    });
    $("share-view").addEventListener("change", loadShare);
    $("share-close").addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => $("share-qr-box").replaceChildren());
    dialog.addEventListener("click", (ev) => {
      if (ev.target === dialog) dialog.close(); // a click on the backdrop
    });
    // the link the dialog offers, the one the code opens (this view, at its lesson step), not the short address shown
    // for typing: pasted in a chat, that opened the page at its start
    $("share-copy").addEventListener("click", async () => {
      if (!shareLink) return;
      try {
        await navigator.clipboard.writeText(shareLink);
        $("share-copy").textContent = "Copied";
      } catch {
        $("share-copy").textContent = "Select it and copy";
      }
      setTimeout(() => { $("share-copy").textContent = "Copy link"; }, 2000);
    });
  }
  update();
}
