// Talking to the API. A photo's image_id is the SHA-256 of its bytes, the same the server
// computes. The page never sends the same photo twice to one deployment (sent.js remembers,
// across reloads, the last photos it sent):
// - a file this browser has never sent is uploaded at once: the first result is waited for,
//   and hashing first would put tens of milliseconds and a round trip before the upload.
//   Its hash is computed meanwhile; when it is ready before the upload has its answer, the
//   page asks by hash too, and if the server has the photo already (another browser,
//   another replica with REDIS_URL), it takes that answer and aborts the upload;
// - a file sent before (same name, size and date), or a pasted image (whose name and date
//   say nothing), is hashed first; a hash sent before is asked for by hash, and uploaded
//   only on a 410 image_expired (the server forgot it); a new one is uploaded at once.
// Later requests ask by image_id, and a 410 uploads the photo again; several requests that
// meet the same 410 share one upload.
// A 502, 503 or 504, or a dropped connection, is tried once more, after Retry-After
// where given: meanwhile the page says "Retrying…", not an error. The app's own
// 503 busy (no memory free for the photo right now) is tried up to BUSY_RETRIES times,
// saying "Server busy, retrying…".

import { sha256Hex } from "./sha256.js";
import { fileIdentity, knowsFile, knowsHash, remember } from "./sent.js";

const RETRY_STATUSES = new Set([0, 502, 503, 504]);
const RETRY_TEXT = "Retrying…";
const BUSY_RETRIES = 6;
const BUSY_TEXT = "Server busy, retrying…";
const RETRY_AFTER_DEFAULT_S = 1;
const RETRY_AFTER_MAX_S = 30;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfter = null; // seconds, when the server said
  }
}

const FRIENDLY = {
  0: "Could not reach the server. Check that it is running and try again.",
  413: "This photo is too large for the server.",
  500: "Something went wrong on the server. Please try again.",
  502: "The server did not answer. Please try again.",
  503: "The server is busy. Please try again in a moment.",
  504: "The server took too long to answer. Please try again.",
};

async function readError(response) {
  let code = "http_" + response.status;
  let message = "";
  try {
    const body = await response.json();
    code = body.error?.code || code;
    message = body.error?.message || "";
  } catch {
    // Not JSON (a proxy page, say): fall back to words of our own.
  }
  const error = new ApiError(response.status, code, forPeople(message) || FRIENDLY[response.status] || FRIENDLY[500]);
  const after = Number.parseFloat(response.headers.get("Retry-After") || "");
  if (Number.isFinite(after) && after >= 0) error.retryAfter = after;
  return error;
}

// The API names its fields; the page speaks of what a person sees.
const PAGE_WORDS = [
  [/Add the photo as a file in the 'image' field\./g, "Choose a photo first."],
  [/the 'image' field/g, "the photo"],
  [/\bimage_id\b/g, "photo"],
  [/\bks\b/g, "the values of k"],
  [/\bcolor_space\b/g, "the color space"],
  [/\bdither\b/g, "dithering"],
  [/\bmax_side\b/g, "the size"],
];

export function forPeople(message) {
  return PAGE_WORDS.reduce((text, [pattern, words]) => text.replace(pattern, words), message);
}

/** Wait before the retry, saying so where the page shows progress; the signal cancels the wait. */
function retryWait(seconds, signal, text = RETRY_TEXT) {
  const label = document.querySelector("#progress span:last-child");
  const progress = document.getElementById("progress");
  const status = document.getElementById("status");
  const before = label?.textContent;
  const wasHidden = progress?.hidden;
  if (label) label.textContent = text;
  if (progress) progress.hidden = false;
  if (status) status.textContent = text;
  document.documentElement.dataset.retrying = "true";
  if (text === BUSY_TEXT) document.documentElement.dataset.serverBusy = "true";
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", aborted);
      if (label && label.textContent === text) label.textContent = before;
      if (progress && wasHidden) progress.hidden = true;
      delete document.documentElement.dataset.retrying;
      delete document.documentElement.dataset.serverBusy;
    };
    const aborted = () => {
      done();
      reject(new DOMException("Aborted", "AbortError"));
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, Math.min(seconds, RETRY_AFTER_MAX_S) * 1000);
    if (signal?.aborted) aborted();
    else signal?.addEventListener("abort", aborted);
  });
}

export class Photo {
  /** file: a File or Blob, or null when only an image_id from a no-JS answer is known. */
  constructor(file, name, imageId = null) {
    this.file = file;
    this.name = name || "photo";
    this.imageId = imageId || null;
    this.hashing = null; // the SHA-256 of file, once asked for
    this.upload = null; // the upload in flight: requests that meet a 410 meanwhile wait for it
    this.uploadCount = 0; // uploads of this photo so far (a new one only after the server forgot it)
    this.byHash = true; // false once the server said it keeps no photos: then every request uploads
    this.identity = file ? fileIdentity(file) : null; // for sent.js: null when name, size and date say nothing
    this.remembered = null; // the image_id sent.js was last told of
  }

  /**
   * POST fields to an API path; resolves to parsed JSON, or to a Blob when
   * accept is not JSON. Throws ApiError, or the AbortError of the signal.
   */
  async post(path, fields, options = {}) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.postOnce(path, fields, options);
      } catch (error) {
        if (!(error instanceof ApiError) || !RETRY_STATUSES.has(error.status)) throw error;
        const busy = error.status === 503 && error.code === "busy";
        if (attempt >= (busy ? BUSY_RETRIES : 1)) throw error;
        const wait = error.retryAfter ?? (busy ? 5 : RETRY_AFTER_DEFAULT_S);
        await retryWait(Math.max(wait, busy ? 1 : 0), options.signal, busy ? BUSY_TEXT : RETRY_TEXT);
      }
    }
  }

  /** The photo's image_id: the server's, or the hash of its file (computed once). */
  async id() {
    if (this.imageId || !this.file || !this.byHash) return this.imageId;
    this.hashing ||= sha256Hex(this.file).catch(() => null);
    const hash = await this.hashing;
    if (!this.imageId && this.byHash) this.imageId = hash;
    return this.imageId;
  }

  async postOnce(path, fields, { signal, accept = "application/json" } = {}) {
    if (this.file && !this.imageId && this.byHash && !this.hashing && !this.upload) {
      if (this.identity !== null && !knowsFile(this.identity)) return this.firstUpload(path, fields, signal, accept);
      const hash = await this.id(); // a file sent before, or one without a stable identity: hash first
      // A hash this browser never sent: upload at once, without asking by it too (that ask would race the upload).
      if (!this.upload && this.imageId === hash && !knowsHash(hash)) return this.firstUpload(path, fields, signal, accept, false);
    }
    if (this.upload) await this.upload.catch(() => {}); // the photo is on its way: ask by its id once there
    const imageId = await this.id();
    if (imageId) {
      const uploadsBefore = this.uploadCount;
      let response = await send(path, { ...fields, image_id: imageId }, null, accept, signal);
      if (response.status === 410 && this.upload) {
        await this.upload.catch(() => {});
      }
      if (response.status === 410 && this.uploadCount !== uploadsBefore) {
        // Another request uploaded the photo while this one was out: ask again by hash.
        response = await send(path, { ...fields, image_id: imageId }, null, accept, signal);
      }
      if (response.status !== 410) return this.finish(response, accept);
      if (this.imageId === imageId) this.imageId = null;
    }
    if (!this.file) {
      throw new ApiError(410, "image_expired", "The server no longer has this photo. Choose it again to continue.");
    }
    const upload = send(path, fields, this.file, accept, signal, this.name).then((response) => {
      if (response.ok) this.uploadCount++;
      return response;
    });
    this.upload = upload;
    try {
      return await this.finish(await upload, accept, true);
    } finally {
      if (this.upload === upload) this.upload = null;
    }
  }

  /**
   * The first request for a photo just chosen: the upload leaves at once. The hash, computed
   * meanwhile, asks too if the upload has no answer yet; a server that already has the photo
   * answers that ask, and the upload is aborted.
   */
  async firstUpload(path, fields, signal, accept, askByHash = true) {
    const uploading = new AbortController();
    const abortUpload = () => uploading.abort();
    signal?.addEventListener("abort", abortUpload);
    let answered = false;
    const upload = send(path, fields, this.file, accept, uploading.signal, this.name).then((response) => {
      answered = true;
      if (response.ok) this.uploadCount++;
      return response;
    });
    this.upload = upload;
    this.hashing ||= sha256Hex(this.file).catch(() => null);
    const byHash = this.hashing.then(async (hash) => {
      if (!hash || answered || !askByHash) return null;
      const response = await send(path, { ...fields, image_id: hash }, null, accept, signal);
      return response.ok ? response : null; // 410: not there yet, the upload brings it
    }).catch(() => null);
    try {
      const first = await Promise.race([upload.then((response) => ({ response, uploaded: true })),
        byHash.then((response) => (response ? { response, uploaded: false } : upload.then((r) => ({ response: r, uploaded: true }))))]);
      if (!first.uploaded) abortUpload();
      return await this.finish(first.response, accept, first.uploaded);
    } finally {
      signal?.removeEventListener("abort", abortUpload);
      if (this.upload === upload) this.upload = null;
      upload.catch(() => {}); // aborted once the server answered by hash
    }
  }

  async finish(response, accept, uploaded = false) {
    if (!response.ok) throw await readError(response);
    const keep = (id) => {
      if (id) this.imageId = id;
      else if (uploaded) this.byHash = false; // the server kept nothing: asking by hash would only cost a 410
      if (id && this.file && id !== this.remembered) {
        this.remembered = id;
        remember(id, this.identity);
      }
    };
    if (accept === "application/json") {
      const body = await response.json();
      keep(body.image_id);
      return body;
    }
    keep(response.headers.get("X-Image-Id"));
    return response.blob();
  }
}

async function send(path, fields, file, accept, signal, name) {
  let body;
  if (file) {
    body = new FormData();
    body.append("image", file, name);
    for (const [key, value] of Object.entries(fields)) body.append(key, String(value));
  } else {
    body = new URLSearchParams();
    for (const [key, value] of Object.entries(fields)) body.append(key, String(value));
  }
  try {
    return await fetch(path, { method: "POST", body, signal, headers: { Accept: accept } });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network", FRIENDLY[0]);
  }
}

/** Bytes of a data: URL, without fetch (the CSP's connect-src does not allow data:). */
export function dataUrlToBlob(url) {
  const comma = url.indexOf(",");
  const mime = url.slice(5, url.indexOf(";"));
  const binary = atob(url.slice(comma + 1));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Blob([bytes], { type: mime });
}

/** Save a Blob under a name, through a temporary link. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
