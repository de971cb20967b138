/**
 * The wire contract (shared/api.md, docs/api.md) as zod schemas and types: the one source of
 * truth imported by the worker, the API client, the web app, the CLI and the tests. It imports
 * nothing but zod (compiled on its own with `types: []`, see tsconfig.json here).
 */
export * from "./ids";
export * from "./limits";
export * from "./errors";
export * from "./common";
export * from "./names";
export * from "./terminals";
export * from "./transfers";
export * from "./messages";
export * from "./package";
export * from "./seal";
