// Types of scripts/i18n.mjs (the build's catalog tools), for the tests that import it.
export type Catalog = Record<string, string>;
import type { CompiledMessage } from "@lingui/message-utils/compileMessage";
export type CompiledCatalog = Record<string, CompiledMessage>;
export declare const I18N_DIR: string;
export declare const SOURCE: "en";
export declare const PSEUDO: "en-XA";
export declare function readCatalogs(dir?: string): Record<string, Catalog>;
export declare function placeholders(message: string): string[];
export declare function checkCatalogs(catalogs: Record<string, Catalog>): string[];
export declare function compiledCatalog(catalogs: Record<string, Catalog>, tag: string): CompiledCatalog;
export declare function pseudoMessage(message: string): string;
export declare function pseudoCatalog(en: Catalog): Catalog;
export declare function print(tokens: unknown[], inPlural?: boolean, text?: (s: string) => string): string;
export declare function sampleValues(message: string, n?: number): Record<string, string | number>;
type LocalizedText = string | { value: string; dir: "rtl" };
export declare function manifestLocalized(
  catalogs: Record<string, Catalog>,
  dirOf?: (tag: string) => "ltr" | "rtl",
): { name_localized: Record<string, LocalizedText>; short_name_localized: Record<string, LocalizedText>; description_localized: Record<string, LocalizedText> };
export declare function directionOf(tag: string): "ltr" | "rtl";
