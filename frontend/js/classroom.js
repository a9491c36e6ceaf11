// Classroom tools in the title bar: "Download report" (GET /api/report for the sentence, model, layer, head
// and interventions on screen) and "Share" (a dialog with the address students open and its QR code, made
// by the backend, GET /api/share). The QR code is shown as an image (a data: URL), never inserted as markup.
import * as api from "./api.js";
import { serialize, state, subscribe } from "./state.js";

const $ = (id) => document.getElementById(id);

function reportHref() {
  const link = $("download-report");
  if (!link) return;
  const model = state.model || undefined;
  link.href = api.reportURL({ text: state.text, model, layer: state.layer, head: state.head, positions: state.positions,
    scale: state.scale ? undefined : "false", ablate: state.ablate });
  link.title = `one self-contained HTML file (works offline) of this sentence on ${model || "the default model"}, layer ${state.layer}, head ${state.head}`;
}

let shareCtrl = null;

async function loadShare() {
  const dialog = $("share-dialog");
  const withView = $("share-view").checked;
  // in a lesson: its step (a short address, a QR code easy to scan; the step sets the rest);
  // else the whole view, without presenter mode (each student's screen is a laptop, not a projector)
  const query = state.lesson ? new URLSearchParams({ lesson: state.lesson, step: String(state.step) }) : new URLSearchParams(serialize());
  query.delete("present");
  if (shareCtrl) shareCtrl.abort();
  shareCtrl = new AbortController();
  dialog.dataset.state = "loading";
  $("share-url").textContent = "…";
  try {
    const r = await api.share({ view: withView ? query.toString() : "" }, shareCtrl.signal);
    // the address to type is the short one; the code opens the view itself
    $("share-url").textContent = r.base_url;
    $("share-url").href = r.url;
    $("share-detail").textContent = r.url === r.base_url ? "" : `The code opens ${state.lesson ? `step ${state.step} of this lesson` : "this view"}: ${r.url}`;
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
    if (err.name === "AbortError") return;
    $("share-url").textContent = "";
    $("share-note").textContent = `The address could not be made: ${err.message}`;
    $("share-note").hidden = false;
    dialog.dataset.state = "ready";
  }
}

function wire() {
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
    $("share-copy").addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText($("share-url").textContent);
        $("share-copy").textContent = "Copied";
      } catch {
        $("share-copy").textContent = "Select it and copy";
      }
      setTimeout(() => { $("share-copy").textContent = "Copy"; }, 2000);
    });
  }
  reportHref();
  subscribe(reportHref);
}

wire();
