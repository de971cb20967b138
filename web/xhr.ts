import type { PutFn } from "../client";

/**
 * The upload's PUT through XMLHttpRequest: fetch reports nothing while a body goes out, XHR's
 * upload.onprogress does, so progress bars move with the bytes instead of jumping per part.
 */
export const xhrPut: PutFn = (url, body, headers, { signal, onProgress }) =>
  new Promise<Response>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const abort = () => xhr.abort();
    const done = () => signal?.removeEventListener("abort", abort);
    xhr.open("PUT", url);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress?.(e.loaded);
    xhr.onload = () => {
      done();
      resolve(new Response(xhr.status === 204 ? null : xhr.responseText, { status: xhr.status, headers: parseHeaders(xhr.getAllResponseHeaders()) }));
    };
    xhr.onerror = () => {
      done();
      reject(new TypeError("the connection broke off"));
    };
    xhr.ontimeout = xhr.onerror;
    xhr.onabort = () => {
      done();
      reject(signal?.reason ?? new DOMException("Stopped", "AbortError"));
    };
    if (signal?.aborted) return reject(signal.reason);
    signal?.addEventListener("abort", abort, { once: true });
    xhr.send(body);
  });

function parseHeaders(all: string): Headers {
  const headers = new Headers();
  for (const line of all.trim().split(/[\r\n]+/)) {
    const i = line.indexOf(":");
    if (i > 0) {
      try {
        headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
      } catch {
        // a header the Headers class refuses: not one the client reads
      }
    }
  }
  return headers;
}
