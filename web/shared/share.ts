/** Where the manifest's share_target posts, and where the service worker leaves what was shared. */
export const SHARE_PATH = "/share";
export const SHARE_CACHE = "pushdrop-share";
