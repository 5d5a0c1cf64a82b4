// Dev-mode state as the server reports it (veladev/devState), and what the UI makes of it.
// Pure: no vscode import, unit-tested.
import type { ServerCommand } from "./serverCommand";

export interface SyncState {
  state?: string;
  pending?: number;
  lastSync?: string;
  error?: string;
}

export interface DevStateParams {
  uri: string;
  component: string;
  namespace?: string;
  state: "off" | "starting" | "on" | "ending" | "error";
  sync?: SyncState;
  forwards?: string[];
  run?: "stopped" | "running" | "debugging";
  message?: string;
}

const ICONS: Record<string, string> = {
  idle: "$(check)", syncing: "$(cloud-upload)", error: "$(error)", stopped: "$(debug-disconnect)",
};

/** Status bar text: "$(check) frontend: dev on · sync idle · 127.0.0.1:8080->80", or undefined when off. */
export function statusBarText(s: DevStateParams): string | undefined {
  if (s.state === "off") {
    return undefined;
  }
  if (s.state !== "on") {
    return `$(sync~spin) ${s.component}: dev ${s.state}`;
  }
  const sync = s.sync?.state ?? "idle";
  const pending = s.sync?.pending ? ` (${s.sync.pending} pending)` : "";
  const parts = [`${s.component}: dev on`, `sync ${sync}${pending}`];
  if (s.run && s.run !== "stopped") {
    parts.push(s.run);
  }
  parts.push(...(s.forwards ?? []));
  return `${ICONS[sync] ?? "$(sync)"} ${parts.join(" · ")}`;
}

/** Tooltip: the message and the sync error, if any. */
export function statusBarTooltip(s: DevStateParams): string {
  return [s.message, s.sync?.lastSync ? `last sync ${s.sync.lastSync}` : "", s.sync?.error ?? ""]
    .filter(Boolean).join("\n") || `dev mode ${s.state}`;
}

/**
 * The argv of a terminal the server asks for (`veladev dev terminal ...`): its leading
 * `veladev` is the server's own executable, so the terminal uses the same installation.
 */
export function terminalArgv(server: ServerCommand | undefined, argv: readonly string[]): string[] {
  if (argv.length === 0) {
    return [];
  }
  if (argv[0] !== "veladev" || !server) {
    return [...argv];
  }
  // server.args ends with "lsp"; what precedes it (e.g. "-m veladev") is the prefix.
  const prefix = server.args[server.args.length - 1] === "lsp" ? server.args.slice(0, -1) : server.args;
  return [server.command, ...prefix, ...argv.slice(1)];
}

/** Run output for a terminal: newlines as the terminal wants them. */
export function terminalText(text: string): string {
  return text.replace(/\r?\n/g, "\r\n");
}
