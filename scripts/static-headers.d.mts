// Types of scripts/static-headers.mjs, for the tests that import it.
/** The headers (lower-case names) public/_headers gives `urlPath`, as Workers Static Assets applies them. */
export declare function staticHeaders(urlPath: string): Record<string, string>;
