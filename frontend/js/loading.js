// While the server loads a model (SmolLM2 converts its weights on a first load), the plots' place says so:
// "loading smollm2-135m … 40%", updated each time api.js asks again, gone once the answers have come. The
// requests themselves wait in api.js (it asks again while the server answers 503 with `loading`).
import { onLoading } from "./api.js";

const waiting = new Map(); // request number -> {model, progress}: the requests waiting for a model

/** The line shown for a loading model: "loading NAME … 40%" (no percentage when the server cannot tell). */
export function loadingText(model, progress) {
  return typeof progress === "number" ? `loading ${model} … ${Math.round(progress * 100)}%` : `loading ${model} …`;
}

/** Note what api.js says (a request waits for a model, or is over) and show it. */
export function update(info) {
  if (info.done) waiting.delete(info.request);
  else waiting.set(info.request, { model: info.model, progress: info.progress });
  show();
}

/**
 * The model the page's requests wait for now, {model, progress} (`model`: that one, else the one asked for last), or
 * null when none waits.
 */
export function loadingNow(model = null) {
  const last = [...waiting.values()].filter((w) => model === null || w.model === model).at(-1);
  if (!last) return null;
  // the furthest any request has heard for this model (answers may arrive out of order)
  const heard = [...waiting.values()].filter((w) => w.model === last.model && typeof w.progress === "number");
  return { model: last.model, progress: heard.length ? Math.max(...heard.map((w) => w.progress)) : null };
}

function show() {
  if (typeof document === "undefined") return; // (imported outside a page: the unit tests)
  const main = document.getElementById("views");
  const box = document.getElementById("loading");
  if (!main || !box) return;
  const last = loadingNow();
  if (!last) {
    box.hidden = true;
    delete main.dataset.loading;
    return;
  }
  const { progress } = last;
  box.querySelector(".loading-text").textContent = loadingText(last.model, progress);
  const bar = box.querySelector("progress");
  if (progress === null) bar.removeAttribute("value"); // an indeterminate bar
  else bar.value = progress;
  box.hidden = false;
  main.dataset.loading = last.model;
}

onLoading(update);
