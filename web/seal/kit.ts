import type { Kit } from "../kit";

/**
 * The shell's kit (web/kit.ts) for open-card.ts and save.ts, set by sealedCard each time
 * received-list.ts draws a sealed card (save.ts's functions take jobs, not the kit).
 */
export let K: Kit;
export const setKit = (kit: Kit) => void (K = kit);
