// Talking to the API. The photo travels once: later requests send only the
// image_id the server answered with. A server that no longer holds it answers
// 410 image_expired, and the same request is sent again with the file.
// A server without memory free for the photo right now answers 503 busy with
// Retry-After: the page says "busy, retrying…" and sends the request again.

const BUSY_RETRIES = 6;
const BUSY_TEXT = "Server busy, retrying…";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

const FRIENDLY = {
  0: "Could not reach the server. Check that it is running and try again.",
  413: "This photo is too large for the server.",
  503: "The server is busy. Please try again in a moment.",
  500: "Something went wrong on the server. Please try again.",
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
  error.retryAfter = Number(response.headers.get("Retry-After")) || 5;
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

/** Wait out a 503, showing "busy, retrying…" where the page shows progress; the signal cancels it. */
function busyWait(seconds, signal) {
  const label = document.querySelector("#progress span:last-child");
  const status = document.getElementById("status");
  const before = label?.textContent;
  if (label) label.textContent = BUSY_TEXT;
  if (status) status.textContent = BUSY_TEXT;
  document.documentElement.dataset.serverBusy = "true";
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", aborted);
      if (label && label.textContent === BUSY_TEXT) label.textContent = before;
      delete document.documentElement.dataset.serverBusy;
    };
    const aborted = () => {
      done();
      reject(new DOMException("Aborted", "AbortError"));
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, Math.min(Math.max(seconds, 1), 30) * 1000);
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
        if (!(error instanceof ApiError) || error.status !== 503 || attempt >= BUSY_RETRIES) throw error;
        await busyWait(error.retryAfter, options.signal);
      }
    }
  }

  async postOnce(path, fields, { signal, accept = "application/json" } = {}) {
    if (this.imageId) {
      const response = await send(path, { ...fields, image_id: this.imageId }, null, accept, signal);
      if (response.status !== 410) return this.finish(response, accept);
      this.imageId = null;
    }
    if (!this.file) {
      throw new ApiError(410, "image_expired", "The server no longer has this photo. Choose it again to continue.");
    }
    return this.finish(await send(path, fields, this.file, accept, signal, this.name), accept);
  }

  async finish(response, accept) {
    if (!response.ok) throw await readError(response);
    if (accept === "application/json") {
      const body = await response.json();
      if (body.image_id) this.imageId = body.image_id;
      return body;
    }
    const id = response.headers.get("X-Image-Id");
    if (id) this.imageId = id;
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
