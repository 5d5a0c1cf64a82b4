// How the language server is started, and whether it is recent enough. Pure: no vscode import.

/** Oldest veladev whose `veladev lsp` this client speaks to. */
export const MIN_SERVER_VERSION = "0.1.0";

/** Where users are sent when the server is missing or too old (the README bundled in the .vsix). */
export const INSTALL_DOCS_ANCHOR = "installing-the-language-server";

export interface ServerSettings {
  /** `veladev.server.command`: argv prefix; `lsp` is appended. */
  command?: string[] | string;
  /** `veladev.server.pythonPath`: interpreter with veladev installed. */
  pythonPath?: string;
}

export interface ServerCommand {
  command: string;
  args: string[];
  /** Human-readable origin, used in error messages. */
  origin: string;
}

/**
 * The command that starts `veladev lsp`, from the settings, in this order:
 * `veladev.server.command`, `veladev.server.pythonPath`, a `.venv` in a workspace folder
 * (when `exists` says it is there), then `veladev` on the PATH.
 */
export function resolveServerCommand(
  settings: ServerSettings,
  workspaceFolders: string[] = [],
  exists: (path: string) => boolean = () => false,
): ServerCommand {
  const cmd = typeof settings.command === "string"
    ? settings.command.trim().split(/\s+/).filter(Boolean)
    : (settings.command ?? []).filter((part) => part.trim() !== "");
  if (cmd.length > 0) {
    return { command: cmd[0], args: [...cmd.slice(1), "lsp"], origin: "setting veladev.server.command" };
  }
  const python = (settings.pythonPath ?? "").trim();
  if (python) {
    return { command: python, args: ["-m", "veladev", "lsp"], origin: "setting veladev.server.pythonPath" };
  }
  for (const folder of workspaceFolders) {
    const candidate = `${folder.replace(/\/+$/, "")}/.venv/bin/veladev`;
    if (exists(candidate)) {
      return { command: candidate, args: ["lsp"], origin: "the workspace .venv" };
    }
  }
  return { command: "veladev", args: ["lsp"], origin: "veladev on the PATH" };
}

/** The same command with `--version` instead of `lsp`. */
export function versionCommand(server: ServerCommand): ServerCommand {
  return { ...server, args: [...server.args.slice(0, -1), "--version"] };
}

/** First `X.Y.Z` (or `X.Y`) in the output of `veladev --version`, or undefined. */
export function parseVersion(output: string): string | undefined {
  const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(output);
  if (!match) {
    return undefined;
  }
  return `${match[1]}.${match[2]}.${match[3] ?? "0"}`;
}

/** Negative, zero or positive, like a sort comparator, on dotted numeric versions. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map((p) => parseInt(p, 10) || 0);
  const pb = b.split(".").map((p) => parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) {
      return d;
    }
  }
  return 0;
}

export type VersionVerdict =
  | { ok: true; version: string }
  | { ok: false; reason: "missing" | "too-old" | "unreadable"; message: string };

/** Judges the outcome of running `<server> --version`. `error` is the spawn error, if any. */
export function judgeVersion(
  server: ServerCommand,
  output: string,
  error?: { code?: string | number; message?: string },
): VersionVerdict {
  const where = `${[server.command, ...server.args.slice(0, -1)].join(" ")} (from ${server.origin})`;
  if (error && (error.code === "ENOENT" || error.code === "EACCES")) {
    return { ok: false, reason: "missing", message: `The veladev language server was not found: ${where}.` };
  }
  const version = parseVersion(output);
  if (!version) {
    const detail = error?.message ? `: ${error.message.split("\n")[0]}` : "";
    return {
      ok: false,
      reason: error ? "missing" : "unreadable",
      message: `Could not run ${where} --version${detail}. Is veladev installed there?`,
    };
  }
  if (compareVersions(version, MIN_SERVER_VERSION) < 0) {
    return {
      ok: false,
      reason: "too-old",
      message: `veladev ${version} is too old for this extension (needs ${MIN_SERVER_VERSION} or newer): ${where}.`,
    };
  }
  return { ok: true, version };
}
