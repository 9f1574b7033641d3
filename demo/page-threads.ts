// How many kernel threads the demo asks for: the cores, up to four (its work is small). They run
// where the page is cross-origin isolated (npm run demo sends COOP/COEP); elsewhere the runtime
// falls back to one thread and its features say why.
export const PAGE_THREADS = Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
