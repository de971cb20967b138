export * from "./common";
export * from "./terminals";
export * from "./transfers";
export * from "./messages";
