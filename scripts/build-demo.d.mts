export const DEMO_DIST: string;
export function buildDemo(options?: { outDir?: string; quiet?: boolean }): Promise<string>;
