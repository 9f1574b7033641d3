import type { Server } from "node:http";
export function serveDemo(options?: {
  dir?: string;
  port?: number;
  host?: string;
  log?: (line: string) => void;
}): Promise<{ server: Server; url: string }>;
export function portFromEnv(value: string | undefined): number;
