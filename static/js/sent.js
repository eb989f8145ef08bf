// The photos this browser has sent to this deployment, so that it never sends one twice:
// a photo whose file or hash is remembered here is asked for by hash first, and uploaded
// only if the server answers 410. localStorage belongs to one origin, and one origin is one
// deployment (the API is at /api/ on it), so the memory is per deployment by construction.
// It holds the last MAX_ENTRIES photos, each as its SHA-256 and, for a file with a stable
// identity, a digest of its name, size and date (not the name itself: nothing more about
// the user's files than needed stays in their browser). Without localStorage (disabled,
// full) it lasts as long as the page.

import { sha256Bytes } from "./sha256.js";

const STORAGE_KEY = "kmeans-filter.sent.v1";
export const MAX_ENTRIES = 50;
// A File made moments ago (pasted, dragged out of a web page) carries the time it was made,
// not the file's: its name, size and date say nothing about its bytes.
const FRESH_MS = 10_000;
const HEX = /^[0-9a-f]{64}$/;

let kept = null; // when localStorage is out of reach

function load() {
  if (kept) return kept;
  try {
    const entries = JSON.parse(localStorage.getItem(STORAGE_KEY) || "[]");
    if (Array.isArray(entries)) {
      return entries.filter((entry) => HEX.test(entry?.hash) && (entry.file === null || HEX.test(entry.file)));
    }
  } catch {
    // Unreadable or unavailable: start afresh.
  }
  return [];
}

function save(entries) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(entries));
    kept = null;
  } catch {
    kept = entries;
  }
}

/** A digest of a file's name, size and date, or null when they do not identify its bytes. */
export function fileIdentity(file, now = Date.now()) {
  if (!(file instanceof File) || !(file.lastModified < now - FRESH_MS)) return null;
  const text = `${file.name}\u0000${file.size}\u0000${file.lastModified}`;
  const digest = sha256Bytes(new TextEncoder().encode(text));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** True when a file with this identity was sent before (its bytes may have changed since: hash them). */
export function knowsFile(identity) {
  return identity !== null && load().some((entry) => entry.file === identity);
}

/** True when a photo with these bytes was sent before. */
export function knowsHash(hash) {
  return Boolean(hash) && load().some((entry) => entry.hash === hash);
}

/** The deployment has this photo now: remember it as the newest entry, forgetting the oldest beyond MAX_ENTRIES. */
export function remember(hash, identity) {
  if (!HEX.test(hash || "")) return;
  const entries = load();
  const file = identity ?? entries.find((entry) => entry.hash === hash)?.file ?? null;
  const others = entries.filter((entry) => entry.hash !== hash && (file === null || entry.file !== file));
  others.push({ hash, file });
  save(others.slice(-MAX_ENTRIES));
}
