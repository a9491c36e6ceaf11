// The server's vocabulary for the JavaScript unit tests: the file ATTNLAB_META names (tests/frontend/test_js.py
// writes it from backend/vocabulary.py), else what `python -m backend.vocabulary` prints. Never a copy.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

export function serverMeta() {
  if (process.env.ATTNLAB_META) return JSON.parse(readFileSync(process.env.ATTNLAB_META, "utf8"));
  const python = process.env.PYTHON || "python3";
  return JSON.parse(execFileSync(python, ["-m", "backend.vocabulary"], { cwd: ROOT, encoding: "utf8" }));
}
