// The view table: every view of the page, by the id the server's vocabulary gives it (GET /api/meta `views`).
// A view is one module: `id`, `sources` (the names of sources.js it needs: the data layer fetches them, once for
// the explorer and the lesson panel together) and `show(section, got, ctx)`, which draws into its tab panel and
// returns true when done (false: call again next frame). Adding a view: write the module, add it here, and add
// its id to backend/vocabulary.py VIEWS (the test of the page's vocabulary fails until both agree).
import * as arithmetic from "./explain.js";
import * as attention from "./attention.js";
import * as compare from "./compare.js";
import * as embeddings from "./embeddings.js";
import * as lab from "./lab.js";
import * as heads from "./finder.js";
import * as positional from "./positional.js";
import * as poslab from "./poslab.js";
import * as predictions from "./predict.js";
import * as qkv from "./qkv.js";
import * as attribution from "./attribution.js";
import * as effects from "./effects.js";
import * as lens from "./lens.js";
import * as model from "./model.js";

export const VIEWS = Object.fromEntries([attention, arithmetic, qkv, embeddings, positional, poslab, predictions, compare, model, lens, attribution, effects, lab, heads].map((m) => [m.id, m]));
